//! `parlend tx ...`: build, simulate (for the access set), sign, send.
//!
//! Amounts are whole tokens as decimals (`1.5`), converted with the node's
//! decimals for the asset; `all` where an instruction allows it. Prices are
//! US dollars per whole token. Every instruction of the state machine has a
//! subcommand; `parlend tx raw` sends any list of instructions as JSON (a
//! flash loan with actions between borrow and repay, several instructions
//! in one atomic transaction).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use parlend_contracts::market::MarketParams;
use parlend_contracts::state::LiquidationConfig;
use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::{Address, Amount, AssetId, Bps, Wad};
use parlend_rpc::Client;
use parlend_rpc::types::{OutcomeView, TxState, TxStatusView};

use super::format::{parse_decimal, parse_rate, parse_usd};
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
    /// Supply wallet tokens to a market (the first deposit of an asset is
    /// enabled as collateral when its LTV is positive).
    Deposit {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens.
        #[arg(long)]
        amount: String,
    },
    /// Take a deposit back to the wallet.
    Withdraw {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens, or `all`.
        #[arg(long)]
        amount: String,
    },
    /// Borrow against collateral.
    Borrow {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens.
        #[arg(long)]
        amount: String,
    },
    /// Repay debt from the wallet.
    Repay {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens (at most the debt is taken), or `all`.
        #[arg(long)]
        amount: String,
        /// Repay another account's debt.
        #[arg(long, value_parser = super::keys::parse_address)]
        on_behalf_of: Option<Address>,
    },
    /// Turn a deposit's use as collateral on (default) or off.
    Collateral {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Turn it off.
        #[arg(long)]
        off: bool,
    },
    /// Repay an unhealthy borrower's debt and seize its collateral with a bonus.
    Liquidate {
        /// The borrower: an address, or dev:N.
        #[arg(long, value_parser = super::keys::parse_address)]
        borrower: Address,
        /// The debt asset to repay.
        #[arg(long)]
        debt_asset: AssetId,
        /// The collateral asset to seize.
        #[arg(long)]
        collateral_asset: AssetId,
        /// Most debt to repay, whole tokens of the debt asset, or `all` (as much as allowed).
        #[arg(long, default_value = "all")]
        debt_to_cover: String,
        /// Receive the collateral as a deposit instead of wallet tokens.
        #[arg(long)]
        receive_deposit: bool,
    },
    /// Post an oracle price (the oracle key only).
    Price {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// US dollars per whole token (2500.5).
        #[arg(long)]
        price: String,
        /// When it was observed, seconds (default: the node's clock).
        #[arg(long)]
        timestamp: Option<u64>,
    },
    /// Create a market, or update one's parameters (the admin key only).
    Market(Box<MarketArgs>),
    /// Mint tokens (the admin or the minter only; on dev chains see `parlend dev faucet`).
    Mint {
        /// The recipient: an address, or dev:N.
        #[arg(long, value_parser = super::keys::parse_address)]
        to: Address,
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens.
        #[arg(long)]
        amount: String,
    },
    /// Flash loan: borrow and repay (with the fee, from the wallet) in one
    /// transaction. Use `tx raw` to put instructions between the two.
    Flash {
        /// The asset.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens.
        #[arg(long)]
        amount: String,
    },
    /// Replace the oracle key (the admin key only).
    SetOracle {
        /// The new oracle: an address, or dev:N.
        #[arg(value_parser = super::keys::parse_address)]
        oracle: Address,
    },
    /// Hand the admin role to another key (the admin key only).
    SetAdmin {
        /// The new admin: an address, or dev:N.
        #[arg(value_parser = super::keys::parse_address)]
        admin: Address,
    },
    /// Replace or remove the minter key (the admin key only).
    SetMinter {
        /// The new minter (address or dev:N), or `none`.
        minter: String,
    },
    /// Replace the global liquidation parameters (the admin key only).
    LiquidationConfig {
        /// Health factor at or below which a whole position may be liquidated (0.95).
        #[arg(long)]
        close_factor_hf_threshold: String,
        /// USD both legs must be worth for the partial close factor to apply (2000).
        #[arg(long)]
        min_close_factor_base: String,
        /// USD a partial liquidation must leave in debt and collateral (1000).
        #[arg(long)]
        min_leftover_base: String,
        /// Share of the debt a partial liquidation may cover, basis points (5000).
        #[arg(long)]
        close_factor_bps: u16,
    },
    /// Send any instructions, as a JSON array (a file, or `-` for stdin), in
    /// one atomic transaction: `[{"type": "flashBorrow", ...}, ...]`.
    Raw {
        /// The JSON file.
        file: PathBuf,
    },
}

/// `parlend tx market` arguments: parameters not given keep the market's
/// current value (update) or the template's (create).
#[derive(Debug, Args)]
pub struct MarketArgs {
    /// The asset (registered in the genesis).
    #[arg(long)]
    pub asset: AssetId,
    /// Create the market instead of updating it.
    #[arg(long)]
    pub create: bool,
    /// Start from these parameters (JSON, `getMarket`'s `params`) instead of
    /// the current ones (update) or a conservative template (create).
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// Loan to value, basis points (8000 = 80%).
    #[arg(long)]
    pub ltv: Option<u16>,
    /// Liquidation threshold, basis points.
    #[arg(long)]
    pub liquidation_threshold: Option<u16>,
    /// Liquidation bonus, basis points (10500 = 5% bonus).
    #[arg(long)]
    pub liquidation_bonus: Option<u16>,
    /// Protocol share of the liquidation bonus, basis points.
    #[arg(long)]
    pub liquidation_protocol_fee: Option<u16>,
    /// Reserve factor, basis points.
    #[arg(long)]
    pub reserve_factor: Option<u16>,
    /// Borrow rate at zero utilization, a fraction per year (0.01).
    #[arg(long)]
    pub base_rate: Option<String>,
    /// Rate slope below the kink, a fraction (0.04).
    #[arg(long)]
    pub slope1: Option<String>,
    /// Rate slope above the kink, a fraction (0.6).
    #[arg(long)]
    pub slope2: Option<String>,
    /// The kink, a fraction (0.8).
    #[arg(long)]
    pub optimal_utilization: Option<String>,
    /// Supply cap, whole tokens (0: none).
    #[arg(long)]
    pub supply_cap: Option<String>,
    /// Borrow cap, whole tokens (0: none).
    #[arg(long)]
    pub borrow_cap: Option<String>,
    /// Flash-loan fee, basis points.
    #[arg(long)]
    pub flash_loan_fee: Option<u16>,
    /// Price staleness limit, seconds.
    #[arg(long)]
    pub price_staleness_seconds: Option<u64>,
    /// Whether the asset may be borrowed.
    #[arg(long)]
    pub borrowing_enabled: Option<bool>,
    /// Pause (nothing moves) or unpause.
    #[arg(long)]
    pub paused: Option<bool>,
    /// Freeze (no new deposits or borrows) or unfreeze.
    #[arg(long)]
    pub frozen: Option<bool>,
}

/// The decimals of `asset` on the node.
pub(crate) async fn decimals(client: &Client, asset: AssetId) -> anyhow::Result<u8> {
    // Every registered asset appears in any account's balances.
    let balances = client.balances(Address([0; 32])).await?;
    match balances.balances.iter().find(|balance| balance.asset == asset) {
        Some(balance) => Ok(balance.decimals),
        None => bail!("unknown asset {asset}"),
    }
}

/// Base units of `amount` whole tokens of `asset`, using the node's decimals.
pub(crate) async fn base_units(client: &Client, asset: AssetId, amount: &str) -> anyhow::Result<Amount> {
    let decimals = decimals(client, asset).await?;
    Amount::from_decimal_str(amount, decimals).with_context(|| format!("invalid amount {amount:?}"))
}

async fn amount_or_all(client: &Client, asset: AssetId, amount: &str) -> anyhow::Result<AmountOrAll> {
    if amount == "all" {
        return Ok(AmountOrAll::All);
    }
    base_units(client, asset, amount).await.map(AmountOrAll::Amount)
}

/// `parlend tx`.
pub async fn run(args: TxArgs) -> anyhow::Result<()> {
    let key_spec = args.key.as_deref().context("--key is required (a key file, or dev:N)")?;
    let key = load_key(key_spec)?;
    let client = Client::new(&args.rpc.rpc)?;
    let instructions = instructions(&client, &args.kind).await?;
    let status = client.submit(&key, instructions, args.wait).await?;
    if args.rpc.json {
        super::print_json(&status)?;
    } else {
        print_status(&status);
    }
    // A failed transaction is included (its nonce is used), but the command
    // did not do what was asked: exit non-zero, as scripts expect.
    if status.status == TxState::Failed {
        bail!("the transaction failed");
    }
    Ok(())
}

async fn instructions(client: &Client, kind: &TxKind) -> anyhow::Result<Vec<Instruction>> {
    let instruction = match kind {
        TxKind::Transfer { to, asset, amount } => {
            Instruction::Transfer { to: *to, asset: *asset, amount: base_units(client, *asset, amount).await? }
        }
        TxKind::Deposit { asset, amount } => {
            Instruction::Deposit { asset: *asset, amount: base_units(client, *asset, amount).await? }
        }
        TxKind::Withdraw { asset, amount } => {
            Instruction::Withdraw { asset: *asset, amount: amount_or_all(client, *asset, amount).await? }
        }
        TxKind::Borrow { asset, amount } => {
            Instruction::Borrow { asset: *asset, amount: base_units(client, *asset, amount).await? }
        }
        TxKind::Repay { asset, amount, on_behalf_of } => Instruction::Repay {
            asset: *asset,
            amount: amount_or_all(client, *asset, amount).await?,
            on_behalf_of: *on_behalf_of,
        },
        TxKind::Collateral { asset, off } => Instruction::SetCollateral { asset: *asset, enabled: !off },
        TxKind::Liquidate { borrower, debt_asset, collateral_asset, debt_to_cover, receive_deposit } => {
            Instruction::Liquidate {
                borrower: *borrower,
                debt_asset: *debt_asset,
                collateral_asset: *collateral_asset,
                debt_to_cover: amount_or_all(client, *debt_asset, debt_to_cover).await?,
                receive_deposit: *receive_deposit,
            }
        }
        TxKind::Price { asset, price, timestamp } => {
            let timestamp = match timestamp {
                Some(timestamp) => *timestamp,
                None => client.head().await?.clock,
            };
            Instruction::SetPrice { asset: *asset, price: parse_usd(price)?, timestamp }
        }
        TxKind::Market(market) => market_instruction(client, market).await?,
        TxKind::Mint { to, asset, amount } => {
            Instruction::Mint { to: *to, asset: *asset, amount: base_units(client, *asset, amount).await? }
        }
        TxKind::Flash { asset, amount } => {
            let amount = base_units(client, *asset, amount).await?;
            return Ok(vec![
                Instruction::FlashBorrow { asset: *asset, amount },
                Instruction::FlashRepay { asset: *asset },
            ]);
        }
        TxKind::SetOracle { oracle } => Instruction::SetOracle { oracle: *oracle },
        TxKind::SetAdmin { admin } => Instruction::SetAdmin { admin: *admin },
        TxKind::SetMinter { minter } => {
            let minter = match minter.as_str() {
                "none" => None,
                text => Some(super::keys::parse_address(text).map_err(anyhow::Error::msg)?),
            };
            Instruction::SetMinter { minter }
        }
        TxKind::LiquidationConfig {
            close_factor_hf_threshold,
            min_close_factor_base,
            min_leftover_base,
            close_factor_bps,
        } => Instruction::SetLiquidationConfig {
            config: LiquidationConfig {
                close_factor_hf_threshold: Wad(parse_decimal(close_factor_hf_threshold, 18)?),
                min_close_factor_base: Wad(parse_decimal(min_close_factor_base, 18)?),
                min_leftover_base: Wad(parse_decimal(min_leftover_base, 18)?),
                close_factor: Bps(*close_factor_bps),
            },
        },
        TxKind::Raw { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
            };
            return serde_json::from_str(&text).context("expected a JSON array of instructions");
        }
    };
    Ok(vec![instruction])
}

async fn market_instruction(client: &Client, args: &MarketArgs) -> anyhow::Result<Instruction> {
    let asset = args.asset;
    let mut params = match (&args.params, args.create) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not market parameters", path.display()))?
        }
        (None, true) => parlend_contracts::dev::dev_market_params("template"),
        (None, false) => client.market(asset).await?.params,
    };
    apply_overrides(client, args, &mut params).await?;
    Ok(if args.create {
        Instruction::CreateMarket { asset, params }
    } else {
        Instruction::UpdateMarket { asset, params }
    })
}

async fn apply_overrides(client: &Client, args: &MarketArgs, params: &mut MarketParams) -> anyhow::Result<()> {
    let bps = [
        (args.ltv, &mut params.ltv),
        (args.liquidation_threshold, &mut params.liquidation_threshold),
        (args.liquidation_bonus, &mut params.liquidation_bonus),
        (args.liquidation_protocol_fee, &mut params.liquidation_protocol_fee),
        (args.reserve_factor, &mut params.reserve_factor),
        (args.flash_loan_fee, &mut params.flash_loan_fee),
    ];
    for (value, field) in bps {
        if let Some(value) = value {
            *field = Bps(value);
        }
    }
    let rates = [
        (&args.base_rate, &mut params.base_rate),
        (&args.slope1, &mut params.slope1),
        (&args.slope2, &mut params.slope2),
        (&args.optimal_utilization, &mut params.optimal_utilization),
    ];
    for (value, field) in rates {
        if let Some(value) = value {
            *field = parse_rate(value)?;
        }
    }
    for (value, field) in [(&args.supply_cap, &mut params.supply_cap), (&args.borrow_cap, &mut params.borrow_cap)] {
        if let Some(value) = value {
            *field = base_units(client, args.asset, value).await?;
        }
    }
    if let Some(seconds) = args.price_staleness_seconds {
        params.price_staleness_seconds = seconds;
    }
    for (value, field) in [
        (args.borrowing_enabled, &mut params.borrowing_enabled),
        (args.paused, &mut params.paused),
        (args.frozen, &mut params.frozen),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
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
