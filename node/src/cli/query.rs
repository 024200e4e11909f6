//! `parlend query ...`.

use anyhow::bail;
use clap::{Args, Subcommand};
use parlend_ledger::{Address, Hash};
use parlend_rpc::Client;
use parlend_rpc::types::BlockParams;

use super::RpcArgs;

/// `parlend query` arguments.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// What to read.
    #[command(subcommand)]
    pub what: QueryKind,
    /// RPC options.
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// Queries.
#[derive(Debug, Subcommand)]
pub enum QueryKind {
    /// An account: nonces and wallet balances.
    Account {
        /// An address, or dev:N.
        #[arg(value_parser = super::keys::parse_address)]
        address: Address,
    },
    /// A block by height or hash (default: the head).
    Block {
        /// A height, a block hash, or `latest`.
        #[arg(default_value = "latest")]
        id: String,
        /// Include whole transactions.
        #[arg(long)]
        full: bool,
    },
    /// A transaction and its receipt.
    Tx {
        /// The transaction id.
        hash: Hash,
    },
}

/// `parlend query`.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.rpc.rpc)?;
    let json = args.rpc.json;
    match args.what {
        QueryKind::Account { address } => {
            let account = client.account(address).await?;
            let balances = client.balances(address).await?;
            if json {
                return super::print_json(&serde_json::json!({ "account": account, "balances": balances.balances }));
            }
            println!("address:       {}", account.address);
            println!("nonce:         {} ({} with pending transactions)", account.nonce, account.pending_nonce);
            println!("balances:");
            for balance in balances.balances {
                println!("  {:>6}  {}", balance.asset, balance.formatted);
            }
        }
        QueryKind::Block { id, full } => {
            let mut params = BlockParams { full, ..BlockParams::default() };
            if id != "latest" {
                match id.parse::<u64>() {
                    Ok(height) => params.height = Some(height),
                    Err(_) => params.hash = Some(id.parse()?),
                }
            }
            let Some(block) = client.block(&params).await? else { bail!("no block {id}") };
            if json {
                return super::print_json(&block);
            }
            let header = &block.header;
            println!("block {} {}", header.height, block.hash);
            println!("  parent:       {}", header.parent_hash);
            println!("  timestamp:    {}", header.timestamp);
            println!("  state root:   {}", header.state_root);
            println!("  tx root:      {}", header.transactions_root);
            println!("  receipts root:{}", header.receipts_root);
            println!("  transactions: {}", block.transactions.len());
            for hash in &block.transactions {
                println!("    {hash}");
            }
        }
        QueryKind::Tx { hash } => {
            let Some(transaction) = client.transaction(hash).await? else { bail!("no transaction {hash}") };
            if json {
                return super::print_json(&transaction);
            }
            let inner = &transaction.transaction;
            println!("signer: {}  nonce {}", inner.signer, inner.nonce);
            for (index, instruction) in inner.instructions.iter().enumerate() {
                println!("  [{index}] {}", serde_json::to_string(instruction)?);
            }
            let status =
                parlend_rpc::types::TxStatusView { hash, status: transaction.status, receipt: transaction.receipt };
            super::tx::print_status(&status);
        }
    }
    Ok(())
}
