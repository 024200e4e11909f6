//! `parlend tx ...`: build, simulate (for the access set), sign, send.
//!
//! Amounts are whole tokens as decimals (`1.5`), converted with the node's
//! decimals for the asset; `all` where an instruction allows it. Prices are
//! US dollars per whole token. Every instruction of the state machine has a
//! subcommand; `parlend tx raw` sends any list of instructions as JSON (a
//! flash loan with actions between borrow and repay, several instructions
//! in one atomic transaction).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use parlend_contracts::dev::dev_params;
use parlend_contracts::state::LiquidationConfig;
use parlend_contracts::units::{self, LiquidationChanges, MarketChanges};
use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::Hash;
use parlend_ledger::exec::Plan;
use parlend_ledger::{Address, Amount, AssetId};
use parlend_rpc::Client;
use parlend_rpc::types::{SimulateParams, SimulationView, TxState, TxStatusView};

use super::describe::Units;
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
    /// Send and return at once, without waiting for the block (the default waits and prints the receipt).
    #[arg(long, global = true)]
    pub no_wait: bool,
    /// Wait for the block and print the receipt (the default; kept for scripts that say it).
    #[arg(long, global = true, conflicts_with = "no_wait")]
    pub wait: bool,
    /// Simulate and print what the transaction would do (outcome, events, access set); send nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Send even when the simulation says the transaction would fail (it is then included as failed
    /// and uses up a nonce).
    #[arg(long, global = true, conflicts_with = "dry_run")]
    pub force: bool,
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
    /// enabled as collateral when its LTV is positive, unless the asset or
    /// the position is isolated: enable those with `tx collateral`).
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
        /// US dollars both legs must be worth for the partial close factor to apply (2000).
        #[arg(long)]
        min_close_factor_base: String,
        /// US dollars a partial liquidation must leave in debt and collateral (1000).
        #[arg(long)]
        min_leftover_base: String,
        /// Share of the debt a partial liquidation may cover (50%).
        #[arg(long)]
        close_factor: String,
    },
    /// Enter an e-mode category (every debt must be in it), or leave e-mode with 0.
    Emode {
        /// The category id (the dev chain's stablecoins are 1); 0 leaves e-mode.
        #[arg(long)]
        category: u8,
    },
    /// Create or replace an e-mode category (the admin key only).
    EmodeCategory {
        /// The category id, 1 to 255.
        #[arg(long)]
        id: u8,
        /// Loan to value of the category's collateral (93%).
        #[arg(long)]
        ltv: String,
        /// Liquidation threshold of the category's collateral (95%).
        #[arg(long)]
        liquidation_threshold: String,
        /// Liquidation bonus, of the debt repaid (101% = a 1% bonus).
        #[arg(long)]
        liquidation_bonus: String,
    },
    /// Pay off a market's deficit (bad debt) from the wallet, or from the
    /// market's treasury (the admin key only).
    CoverDeficit {
        /// The market.
        #[arg(long)]
        asset: AssetId,
        /// Whole tokens (at most the deficit is covered), or `all`.
        #[arg(long, default_value = "all")]
        amount: String,
        /// Pay from the market's treasury instead of the wallet.
        #[arg(long)]
        from_treasury: bool,
    },
    /// Send any instructions, as a JSON array (a file, or `-` for stdin), in
    /// one atomic transaction: `[{"type": "flashBorrow", ...}, ...]`.
    Raw {
        /// The JSON file.
        file: PathBuf,
    },
}

/// `parlend tx market` arguments: parameters not given keep the market's
/// current value (update) or the starting point's (create). Units as in
/// scenario files (`parlend_contracts::units`): percentages `80%`, `0.05%`
/// or `8000bps` (a bare number is percent), durations `90s`, `1h`, `1d12h`.
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
    /// Start from a dev market's parameters (USDC, WETH, WBTC, TBILL).
    #[arg(long, conflicts_with = "params")]
    pub like: Option<String>,
    /// Loan to value (80%).
    #[arg(long)]
    pub ltv: Option<String>,
    /// Liquidation threshold (83%).
    #[arg(long)]
    pub liquidation_threshold: Option<String>,
    /// Liquidation bonus, of the debt repaid (105% = a 5% bonus).
    #[arg(long)]
    pub liquidation_bonus: Option<String>,
    /// Protocol share of the liquidation bonus (10%).
    #[arg(long)]
    pub liquidation_protocol_fee: Option<String>,
    /// Reserve factor (10%).
    #[arg(long)]
    pub reserve_factor: Option<String>,
    /// Borrow rate at zero utilization, per year (1%).
    #[arg(long)]
    pub base_rate: Option<String>,
    /// Rate slope below the kink, per year (4%).
    #[arg(long)]
    pub slope1: Option<String>,
    /// Rate slope above the kink, per year (60%).
    #[arg(long)]
    pub slope2: Option<String>,
    /// The kink (80%).
    #[arg(long)]
    pub optimal_utilization: Option<String>,
    /// Supply cap, whole tokens (0: none).
    #[arg(long)]
    pub supply_cap: Option<String>,
    /// Borrow cap, whole tokens (0: none).
    #[arg(long)]
    pub borrow_cap: Option<String>,
    /// Flash-loan fee (0.05%).
    #[arg(long)]
    pub flash_loan_fee: Option<String>,
    /// Price staleness limit, a duration (1h, 1d).
    #[arg(long)]
    pub price_staleness: Option<String>,
    /// Whether the asset may be borrowed.
    #[arg(long)]
    pub borrowing_enabled: Option<bool>,
    /// Pause (nothing moves) or unpause.
    #[arg(long)]
    pub paused: Option<bool>,
    /// Freeze (no new deposits or borrows, no borrowing power) or unfreeze.
    #[arg(long)]
    pub frozen: Option<bool>,
    /// Isolation mode's debt ceiling, US dollars (0: not isolated).
    #[arg(long)]
    pub debt_ceiling: Option<String>,
    /// Whether positions in isolation mode may borrow the asset.
    #[arg(long)]
    pub borrowable_in_isolation: Option<bool>,
    /// Whether the asset may be flash-borrowed.
    #[arg(long)]
    pub flash_loan_enabled: Option<bool>,
    /// The e-mode category the asset is in (0: none).
    #[arg(long)]
    pub emode_category: Option<u8>,
}

impl MarketArgs {
    /// The parameters named, in the units every front end shares.
    pub fn changes(&self) -> MarketChanges {
        MarketChanges {
            ltv: self.ltv.clone(),
            liquidation_threshold: self.liquidation_threshold.clone(),
            liquidation_bonus: self.liquidation_bonus.clone(),
            liquidation_protocol_fee: self.liquidation_protocol_fee.clone(),
            reserve_factor: self.reserve_factor.clone(),
            base_rate: self.base_rate.clone(),
            slope1: self.slope1.clone(),
            slope2: self.slope2.clone(),
            optimal_utilization: self.optimal_utilization.clone(),
            supply_cap: self.supply_cap.clone(),
            borrow_cap: self.borrow_cap.clone(),
            flash_loan_fee: self.flash_loan_fee.clone(),
            price_staleness: self.price_staleness.clone(),
            borrowing_enabled: self.borrowing_enabled,
            paused: self.paused,
            frozen: self.frozen,
            debt_ceiling: self.debt_ceiling.clone(),
            borrowable_in_isolation: self.borrowable_in_isolation,
            flash_loan_enabled: self.flash_loan_enabled,
            emode_category: self.emode_category,
        }
    }
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
    Ok(units::amount(amount, decimals(client, asset).await?)?)
}

async fn amount_or_all(client: &Client, asset: AssetId, amount: &str) -> anyhow::Result<AmountOrAll> {
    Ok(units::amount_or_all(amount, decimals(client, asset).await?)?)
}

/// `parlend tx`: simulate; refuse what would fail (unless `--force`);
/// sign with the simulation's access set and nonce; send; wait for the
/// receipt unless `--no-wait`.
pub async fn run(args: TxArgs) -> anyhow::Result<()> {
    let key_spec = args.key.as_deref().context("--key is required (a key file, or dev:N)")?;
    let key = load_key(key_spec)?;
    let client = super::client(&args.rpc)?;
    let instructions = instructions(&client, &args.kind).await?;
    let params = SimulateParams { signer: key.address(), nonce: None, instructions };
    let simulation = client.simulate(&params).await?;
    let units = if args.rpc.json { Units::default() } else { Units::fetch(&client).await? };
    if args.dry_run {
        return dry_run(&simulation, &units, args.rpc.json);
    }
    if !simulation.outcome.is_success() && !args.force {
        bail!(
            "not sent: the simulation says it would fail: {}; nothing was sent and the nonce is unchanged \
             (--force sends it anyway, to be included as failed)",
            super::describe::simulated(&simulation.outcome, &units)
        );
    }
    let plan = Plan { chain_id: simulation.chain_id, nonce: simulation.nonce, access: simulation.access };
    let signed = plan.sign(&key, params.instructions);
    let mut status = client.send(&signed, false).await?;
    if !args.no_wait {
        status = wait_for_receipt(&client, status.hash).await?;
    }
    if args.rpc.json {
        super::print_json(&status)?;
    } else {
        super::describe::print_status(&status, &units);
    }
    // A failed transaction is included (its nonce is used), but the command
    // did not do what was asked: exit non-zero, as scripts expect.
    if status.status == TxState::Failed {
        bail!("the transaction failed");
    }
    Ok(())
}

/// `--dry-run`: the simulation, for people or as JSON. Exits non-zero when
/// the transaction would fail, as sending it would.
fn dry_run(simulation: &SimulationView, units: &Units, json: bool) -> anyhow::Result<()> {
    if json {
        super::print_json(simulation)?;
    } else {
        super::describe::print_simulation(simulation, units);
    }
    if !simulation.outcome.is_success() {
        bail!("the transaction would fail (dry run: nothing was sent)");
    }
    Ok(())
}

/// How long `parlend tx` waits for its block.
const WAIT_MAX: Duration = Duration::from_secs(60);

/// After this long without a new block, the wait says why it may never come.
const WAIT_HINT_AFTER: Duration = Duration::from_secs(3);

/// Waits until `hash` is committed (or failed), polling its status; says so
/// on stderr when no block comes (a node that mines only on `dev mine`).
async fn wait_for_receipt(client: &Client, hash: Hash) -> anyhow::Result<TxStatusView> {
    let started = Instant::now();
    let start_height = client.head().await?.height;
    let mut hinted = false;
    loop {
        let status = client.transaction_status(hash).await?;
        if matches!(status.status, TxState::Committed | TxState::Failed) {
            return Ok(status);
        }
        if status.status == TxState::Unknown {
            bail!("transaction {hash} is neither pending nor committed (the node dropped it: a revert?)");
        }
        if status.status == TxState::Dropped {
            let reason =
                status.error.map_or_else(String::new, |error| format!(": {} (code {})", error.message, error.code));
            bail!("transaction {hash} was dropped from the mempool without being committed{reason}");
        }
        let waited = started.elapsed();
        if !hinted && waited >= WAIT_HINT_AFTER && client.head().await?.height == start_height {
            eprintln!(
                "waiting for a block: none for {}s. If the node mines only on demand (--manual-mining), \
                 run `parlend dev mine`",
                waited.as_secs()
            );
            hinted = true;
        }
        if waited >= WAIT_MAX {
            bail!(
                "transaction {hash} is still pending after {}s (sent; `parlend query tx {hash}` shows it later; \
                 on a manual-mining node, run `parlend dev mine`)",
                WAIT_MAX.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
            Instruction::SetPrice { asset: *asset, price: units::price(price)?, timestamp }
        }
        TxKind::Market(market) => market_instruction(client, market).await?,
        TxKind::Emode { .. } | TxKind::EmodeCategory { .. } | TxKind::CoverDeficit { .. } => {
            risk_instruction(client, kind).await?
        }
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
            close_factor,
        } => {
            // Every field is given, so nothing of the default survives.
            let changes = LiquidationChanges {
                close_factor_hf_threshold: Some(close_factor_hf_threshold.clone()),
                min_close_factor_base: Some(min_close_factor_base.clone()),
                min_leftover_base: Some(min_leftover_base.clone()),
                close_factor: Some(close_factor.clone()),
            };
            Instruction::SetLiquidationConfig { config: changes.apply(LiquidationConfig::default())? }
        }
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

/// E-mode and deficit instructions.
async fn risk_instruction(client: &Client, kind: &TxKind) -> anyhow::Result<Instruction> {
    Ok(match kind {
        TxKind::Emode { category } => Instruction::SetEMode { category: *category },
        TxKind::EmodeCategory { id, ltv, liquidation_threshold, liquidation_bonus } => {
            let category = units::emode_category(*id, ltv, liquidation_threshold, liquidation_bonus)?;
            Instruction::SetEModeCategory { category }
        }
        TxKind::CoverDeficit { asset, amount, from_treasury } => Instruction::CoverDeficit {
            asset: *asset,
            amount: amount_or_all(client, *asset, amount).await?,
            from_treasury: *from_treasury,
        },
        other => bail!("not an e-mode or deficit instruction: {other:?}"),
    })
}

async fn market_instruction(client: &Client, args: &MarketArgs) -> anyhow::Result<Instruction> {
    let asset = args.asset;
    let params = match (&args.params, &args.like, args.create) {
        (Some(path), _, _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not market parameters", path.display()))?
        }
        (None, Some(like), _) => dev_params(like)?,
        (None, None, true) => parlend_contracts::dev::dev_market_params("template"),
        (None, None, false) => client.market(asset).await?.params,
    };
    let params = args.changes().apply(params, decimals(client, asset).await?)?;
    Ok(if args.create {
        Instruction::CreateMarket { asset, params }
    } else {
        Instruction::UpdateMarket { asset, params }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use parlend_ledger::{Bps, Ray};
    use parlend_sim::scenario::format::MarketSpec;

    use super::*;
    use crate::cli::{Cli, Command};

    /// The same strings through the CLI's flags and a scenario's
    /// `update_market` table: both accept them and give the same parameters.
    #[test]
    fn the_cli_and_scenarios_accept_the_same_unit_spellings() {
        let spellings = [
            // (ltv, slope1, flash-loan fee, staleness, supply cap, debt ceiling)
            ("80%", "4%", "0.05%", "1d12h", "1000.5", "1500.25"),
            ("80", "4", "0.05", "129600", "1000.5", "$1500.25"),
            ("8000bps", "400bps", "5bps", "36h", "1000.500000", "1500.25"),
        ];
        let mut results = Vec::new();
        for (ltv, slope1, fee, staleness, cap, ceiling) in spellings {
            let args = [
                "parlend",
                "tx",
                "market",
                "--asset",
                "USDC",
                "--ltv",
                ltv,
                "--slope1",
                slope1,
                "--flash-loan-fee",
                fee,
                "--price-staleness",
                staleness,
                "--supply-cap",
                cap,
                "--debt-ceiling",
                ceiling,
                "--flash-loan-enabled",
                "false",
            ];
            let Command::Tx(TxArgs { kind: TxKind::Market(market), .. }) = Cli::try_parse_from(args).unwrap().command
            else {
                panic!("not a market command");
            };
            let toml = format!(
                "asset = \"USDC\"\nltv = \"{ltv}\"\nslope1 = \"{slope1}\"\nflash_loan_fee = \"{fee}\"\n\
                 price_staleness = \"{staleness}\"\nsupply_cap = \"{cap}\"\ndebt_ceiling = \"{ceiling}\"\n\
                 flash_loan_enabled = false"
            );
            let spec: MarketSpec = toml::from_str(&toml).unwrap();
            let base = parlend_contracts::dev::dev_market_params("USDC");
            let from_cli = market.changes().apply(base, 6).unwrap();
            let from_scenario = spec.changes.apply(base, 6).unwrap();
            assert_eq!(from_cli, from_scenario, "{ltv} {slope1} {fee} {staleness} {cap}");
            results.push(from_cli);
        }
        for params in &results {
            assert_eq!(params.ltv, Bps(8_000));
            assert_eq!(params.slope1, Ray(4 * 10u128.pow(25)));
            assert_eq!(params.flash_loan_fee, Bps(5));
            assert_eq!(params.price_staleness_seconds, 129_600);
            assert_eq!(params.supply_cap, Amount(1_000_500_000));
            assert_eq!((params.debt_ceiling_cents, params.flash_loan_enabled), (150_025, false));
        }
    }

    #[test]
    fn both_front_ends_refuse_the_same_bad_spellings() {
        for bad in ["80%%", "8000", "-1%", "0.001%"] {
            let flag = format!("--ltv={bad}");
            let cli = Cli::try_parse_from(["parlend", "tx", "market", "--asset", "USDC", &flag]).unwrap();
            let Command::Tx(TxArgs { kind: TxKind::Market(market), .. }) = cli.command else { panic!() };
            let spec: MarketSpec = toml::from_str(&format!("asset = \"USDC\"\nltv = \"{bad}\"")).unwrap();
            let base = parlend_contracts::dev::dev_market_params("USDC");
            let (cli_error, scenario_error) =
                (market.changes().apply(base, 6).unwrap_err(), spec.changes.apply(base, 6).unwrap_err());
            assert_eq!(cli_error, scenario_error, "{bad}");
        }
    }
}
