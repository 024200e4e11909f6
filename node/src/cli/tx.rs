//! `parlend tx ...`: build, simulate (for the access set), sign, send.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use parlend_contracts::Instruction;
use parlend_ledger::{Address, Amount, AssetId};
use parlend_rpc::Client;
use parlend_rpc::types::{OutcomeView, TxState, TxStatusView};

use super::{RpcArgs, load_key};

/// `parlend tx` arguments.
#[derive(Debug, Args)]
pub struct TxArgs {
    /// The transaction.
    #[command(subcommand)]
    pub kind: TxKind,
    /// The signer: a key file, or dev:N for the N-th dev account.
    #[arg(long, global = true)]
    pub key: Option<String>,
    /// Wait for the block and print the receipt.
    #[arg(long, global = true)]
    pub wait: bool,
    /// RPC options.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// Transactions.
#[derive(Debug, Subcommand)]
pub enum TxKind {
    /// Send wallet tokens to another account.
    Transfer {
        /// The recipient: an address, or dev:N.
        #[arg(long, value_parser = super::keys::parse_address)]
        to: Address,
        /// The asset (USDC, WETH, WBTC, TBILL...).
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens, as a decimal (1.5).
        #[arg(long)]
        amount: String,
    },
}

/// Base units of `amount` whole tokens of `asset`, using the node's decimals.
pub(crate) async fn base_units(
    client: &Client,
    signer: Address,
    asset: AssetId,
    amount: &str,
) -> anyhow::Result<Amount> {
    let balances = client.balances(signer).await?;
    let Some(balance) = balances.balances.iter().find(|balance| balance.asset == asset) else {
        bail!("unknown asset {asset}");
    };
    Amount::from_decimal_str(amount, balance.decimals).with_context(|| format!("invalid amount {amount:?}"))
}

/// `parlend tx`.
pub async fn run(args: TxArgs) -> anyhow::Result<()> {
    let key_spec = args.key.as_deref().context("--key is required (a key file, or dev:N)")?;
    let key = load_key(key_spec)?;
    let client = Client::new(&args.rpc.rpc)?;
    let instruction = match &args.kind {
        TxKind::Transfer { to, asset, amount } => {
            let amount = base_units(&client, key.address(), *asset, amount).await?;
            Instruction::Transfer { to: *to, asset: *asset, amount }
        }
    };
    let status = client.submit(&key, vec![instruction], args.wait).await?;
    if args.rpc.json {
        return super::print_json(&status);
    }
    print_status(&status);
    Ok(())
}

/// Prints a transaction status for people.
pub(crate) fn print_status(status: &TxStatusView) {
    println!("transaction {}", status.hash);
    match (&status.status, &status.receipt) {
        (TxState::Pending, _) => println!("status: pending (use --wait to wait for the block)"),
        (TxState::Unknown, _) => println!("status: unknown"),
        (_, Some(receipt)) => {
            println!("block:  {} ({}), index {}", receipt.block_height, receipt.block_hash, receipt.index);
            match &receipt.outcome {
                OutcomeView::Success => println!("status: success"),
                OutcomeView::Failed { reason, code, instruction } => {
                    println!(
                        "status: failed: {reason} (code {code}) at instruction {instruction}; nothing changed but the nonce"
                    )
                }
                OutcomeView::AccessViolation { key } => {
                    println!("status: failed: access violation on {key}; nothing changed but the nonce")
                }
            }
        }
        (state, None) => println!("status: {state:?}"),
    }
}
