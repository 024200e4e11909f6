//! `parlend query ...`.

use anyhow::bail;
use clap::{Args, Subcommand};
use parlend_ledger::{Address, AssetId, Hash};
use parlend_rpc::Client;
use parlend_rpc::types::{
    AccountView, BalancesView, BlockParams, BlockView, CommittedTransactionView, EVENTS_LIMIT_MAX, EventView,
    EventsParams, LiquidatableParams, LiquidatableView, MarketView, PositionView, PriceEntryView, TxStatusView,
};

use super::describe::Units;
use super::{RpcArgs, format};

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
    /// A lending position: deposits, debts with interest, health factor, liquidation prices.
    Position {
        /// An address, or dev:N.
        #[arg(value_parser = super::keys::parse_address)]
        address: Address,
    },
    /// One market: totals, utilization, rates, parameters, treasury, deficit, price.
    Market {
        /// The asset.
        asset: AssetId,
    },
    /// Every market, one line each.
    Markets,
    /// One oracle price.
    Price {
        /// The asset.
        asset: AssetId,
    },
    /// Every oracle price.
    Prices,
    /// Events of a range of blocks (default: the last 1000), by account and kind, in whole tokens.
    Events {
        /// Only events concerning this account (an address, or dev:N).
        #[arg(long, value_parser = super::keys::parse_address)]
        address: Option<Address>,
        /// Only events of this kind (Liquidation, Deposit, ...).
        #[arg(long)]
        kind: Option<String>,
        /// The first block (default: 999 below the last).
        #[arg(long)]
        from: Option<u64>,
        /// The last block (default: the head).
        #[arg(long)]
        to: Option<u64>,
        /// Most events to print (pages are fetched as needed).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A state key's value (or absence) and its proof against a header: prints the answer's JSON.
    Proof {
        /// The key, JSON as in access sets ('{"position": {"owner": "…"}}') or `config`.
        #[arg(value_parser = super::proof::parse_key)]
        key: parlend_ledger::StateKey,
        /// The height (default: the head).
        #[arg(long)]
        height: Option<u64>,
        /// Also save the answer here, for `parlend verify-proof`.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Positions that can be liquidated now, and those at risk.
    Liquidatable {
        /// Upper bound of the at-risk band, a health factor (1.05).
        #[arg(long)]
        at_risk_below: Option<String>,
        /// Most positions per list.
        #[arg(long)]
        limit: Option<u32>,
    },
}

/// `parlend query`.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = super::client(&args.rpc)?;
    let json = args.rpc.json;
    match args.what {
        QueryKind::Account { address } => {
            let account = client.account(address).await?;
            let balances = client.balances(address).await?;
            if json {
                return super::print_json(&serde_json::json!({ "account": account, "balances": balances.balances }));
            }
            print_account(&account, &balances);
        }
        QueryKind::Block { id, full } => {
            let Some(block) = client.block(&block_params(&id, full)?).await? else { bail!("no block {id}") };
            show(json, &block, print_block)?;
        }
        QueryKind::Tx { hash } => {
            let Some(transaction) = client.transaction(hash).await? else { bail!("no transaction {hash}") };
            let units = if json { Units::default() } else { Units::fetch(&client).await? };
            show(json, &transaction, |transaction| print_transaction(transaction, &units))?;
        }
        QueryKind::Position { address } => show(json, &client.position(address).await?, print_position)?,
        QueryKind::Market { asset } => show(json, &client.market(asset).await?, print_market)?,
        QueryKind::Markets => show(json, &client.markets().await?, |markets| print_markets(markets))?,
        QueryKind::Price { asset } => show(json, &client.price(asset).await?, print_price)?,
        QueryKind::Proof { key, height, out } => super::proof::query(&client, key, height, out.as_deref()).await?,
        QueryKind::Prices => show(json, &client.prices().await?, |prices| prices.iter().for_each(print_price))?,
        QueryKind::Events { address, kind, from, to, limit } => {
            let to = match to {
                Some(to) => to,
                None => client.head().await?.height,
            };
            let from = from.unwrap_or(to.saturating_sub(999));
            let params = EventsParams { address, kind, from_height: from, to_height: to, limit: None, cursor: None };
            let events = fetch_events(&client, params, limit).await?;
            let units = if json { Units::default() } else { Units::fetch(&client).await? };
            show(json, &events, |events| print_events(events, &units))?;
        }
        QueryKind::Liquidatable { at_risk_below, limit } => {
            let at_risk_below = at_risk_below.map(|text| parlend_contracts::units::wad(&text)).transpose()?;
            let view = client.liquidatable(&LiquidatableParams { at_risk_below, limit }).await?;
            show(json, &view, print_liquidatable)?;
        }
    }
    Ok(())
}

/// Up to `limit` events of `params`, page after page.
async fn fetch_events(client: &Client, mut params: EventsParams, limit: usize) -> anyhow::Result<Vec<EventView>> {
    let mut events = Vec::new();
    while events.len() < limit {
        let wanted = u32::try_from(limit - events.len()).unwrap_or(u32::MAX).min(EVENTS_LIMIT_MAX);
        params.limit = Some(wanted);
        let page = client.events(&params).await?;
        events.extend(page.events);
        match page.next {
            Some(next) => params.cursor = Some(next),
            None => break,
        }
    }
    events.truncate(limit);
    Ok(events)
}

fn print_events(events: &[EventView], units: &Units) {
    if events.is_empty() {
        println!("no events");
    }
    for found in events {
        let position = &found.position;
        let line = super::describe::event(&found.event, units);
        println!(
            "{:>7}.{}.{}  {line}  (tx {})",
            position.height, position.tx_index, position.event_index, found.tx_hash
        );
    }
}

/// Prints `value` as JSON, or for people with `print`.
fn show<T: serde::Serialize>(json: bool, value: &T, print: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        return super::print_json(value);
    }
    print(value);
    Ok(())
}

/// `latest`, a height or a block hash.
fn block_params(id: &str, full: bool) -> anyhow::Result<BlockParams> {
    let mut params = BlockParams { full, ..BlockParams::default() };
    if id != "latest" {
        match id.parse::<u64>() {
            Ok(height) => params.height = Some(height),
            Err(_) => params.hash = Some(id.parse()?),
        }
    }
    Ok(params)
}

fn print_account(account: &AccountView, balances: &BalancesView) {
    println!("address:       {}", account.address);
    println!("nonce:         {} ({} with pending transactions)", account.nonce, account.pending_nonce);
    println!("balances:");
    for balance in &balances.balances {
        println!("  {:>6}  {}", balance.asset, balance.formatted);
    }
}

fn print_block(block: &BlockView) {
    let header = &block.header;
    println!("block {} {}", header.height, block.hash);
    println!("  parent:        {}", header.parent_hash);
    println!("  timestamp:     {}", format::timestamp(header.timestamp));
    println!("  state root:    {}", header.state_root);
    println!("  tx root:       {}", header.transactions_root);
    println!("  receipts root: {}", header.receipts_root);
    println!("  transactions:  {}", block.transactions.len());
    for hash in &block.transactions {
        println!("    {hash}");
    }
}

fn print_transaction(transaction: &CommittedTransactionView, units: &Units) {
    let inner = &transaction.transaction;
    println!("signer: {}  nonce {}", inner.signer, inner.nonce);
    for (index, instruction) in inner.instructions.iter().enumerate() {
        let text = serde_json::to_string(instruction).unwrap_or_else(|error| format!("({error})"));
        println!("  [{index}] {text}");
    }
    let status = TxStatusView {
        hash: inner.hash,
        status: transaction.status,
        receipt: transaction.receipt.clone(),
        error: None,
    };
    super::describe::print_status(&status, units);
}

fn print_markets(markets: &[MarketView]) {
    println!(
        "{:>6}  {:>20}  {:>20}  {:>7}  {:>8}  {:>8}  {:>12}",
        "asset", "supplied", "borrowed", "util", "supply", "borrow", "price"
    );
    for market in markets {
        println!(
            "{:>6}  {:>20}  {:>20}  {:>7}  {:>8}  {:>8}  {:>12}",
            market.asset.to_string(),
            format::rounded(&format::tokens(market.total_supply, market.decimals), 4),
            format::rounded(&format::tokens(market.total_debt, market.decimals), 4),
            format::percent(market.utilization),
            format::percent(market.supply_apy),
            format::percent(market.borrow_apy),
            market.price.map_or_else(|| "none".to_string(), |price| format::usd(price.price)),
        );
    }
}

fn print_liquidatable(view: &LiquidatableView) {
    println!(
        "{} examined at {}",
        super::describe::plural(usize::try_from(view.scanned).unwrap_or(usize::MAX), "position with debt"),
        format::timestamp(view.timestamp)
    );
    for (title, list) in [("liquidatable now", &view.liquidatable), ("at risk", &view.at_risk)] {
        println!("{title}: {}", list.len());
        for entry in list {
            println!(
                "  {}  HF {}  collateral {}  debt {}{}",
                entry.owner,
                format::health_factor(entry.health_factor),
                format::usd(entry.collateral_value),
                format::usd(entry.debt_value),
                if entry.prices_fresh { "" } else { "  (stale price: cannot be liquidated yet)" }
            );
        }
    }
}

fn print_position(position: &PositionView) {
    println!("position of {} at {}", position.owner, format::timestamp(position.timestamp));
    if position.assets.is_empty() {
        println!("  no deposits and no debt");
        return;
    }
    for entry in &position.assets {
        let mut line = format!("  {:>6}", entry.asset.to_string());
        if entry.deposit.0 > 0 {
            line += &format!("  deposit {}", format::tokens(entry.deposit, entry.decimals));
            if entry.collateral {
                line += " (collateral)";
            }
        }
        if entry.debt.0 > 0 {
            line += &format!("  debt {}", format::tokens(entry.debt, entry.decimals));
        }
        if let Some(price) = entry.liquidation_price {
            line += &format!("  liquidation price {}", format::usd(price));
        }
        println!("{line}");
    }
    match &position.health {
        Some(health) => {
            println!("  collateral value:  {}", format::usd(health.collateral_value));
            println!("  debt value:        {}", format::usd(health.debt_value));
            println!("  borrowing power:   {}", format::usd(health.borrowing_power));
            if let Some(available) = position.available_to_borrow {
                println!("  available:         {}", format::usd(available));
            }
            println!("  health factor:     {}", format::health_factor(health.health_factor));
        }
        None => println!("  health factor:     unknown (a price is missing)"),
    }
    if position.emode_category != 0 {
        println!("  e-mode category:   {}", position.emode_category);
    }
    if let Some(isolation) = &position.isolation {
        println!(
            "  isolation mode:    {} ({} of its {} ceiling used, {} by this position)",
            isolation.collateral,
            format::cents(isolation.isolation_debt_cents),
            format::cents(isolation.debt_ceiling_cents),
            format::cents(isolation.position_debt_cents)
        );
    }
    if !position.prices_fresh {
        println!("  a price is stale: borrows, withdrawals and liquidations wait for the oracle");
    }
}

fn print_market(market: &MarketView) {
    let amount = |value| format::tokens(value, market.decimals);
    let params = &market.params;
    println!("market {} ({} decimals)", market.asset, market.decimals);
    println!("  supplied:     {}", amount(market.total_supply));
    println!("  borrowed:     {}", amount(market.total_debt));
    println!("  cash:         {}", amount(market.cash));
    println!("  treasury:     {}", amount(market.treasury));
    println!("  deficit:      {}", amount(market.deficit));
    println!("  utilization:  {}", format::percent(market.utilization));
    println!("  supply APY:   {}  (APR {})", format::percent(market.supply_apy), format::percent(market.supply_apr));
    println!("  borrow APY:   {}  (APR {})", format::percent(market.borrow_apy), format::percent(market.borrow_apr));
    match &market.price {
        Some(price) => println!(
            "  price:        {}  ({} old{})",
            format::usd(price.price),
            format::duration(price.age_seconds),
            if price.stale { ", STALE" } else { "" }
        ),
        None => println!("  price:        none"),
    }
    println!(
        "  LTV {} bps, liquidation threshold {} bps, bonus {} bps, protocol fee {} bps, reserve factor {} bps",
        params.ltv.0,
        params.liquidation_threshold.0,
        params.liquidation_bonus.0,
        params.liquidation_protocol_fee.0,
        params.reserve_factor.0
    );
    println!(
        "  rate curve: base {}, slope1 {}, slope2 {}, optimal utilization {}",
        format::percent(params.base_rate),
        format::percent(params.slope1),
        format::percent(params.slope2),
        format::percent(params.optimal_utilization)
    );
    println!(
        "  caps: supply {}, borrow {} (0: none); flash-loan fee {} bps; price staleness {}",
        amount(params.supply_cap),
        amount(params.borrow_cap),
        params.flash_loan_fee.0,
        format::duration(params.price_staleness_seconds)
    );
    println!(
        "  borrowing {}, flash loans {}, paused {}, frozen {}",
        params.borrowing_enabled, params.flash_loan_enabled, params.paused, params.frozen
    );
    if params.debt_ceiling_cents > 0 {
        println!(
            "  isolated: debt {} of a {} ceiling",
            format::cents(market.isolation_debt_cents),
            format::cents(params.debt_ceiling_cents)
        );
    }
    println!("  borrowable in isolation {}", params.borrowable_in_isolation);
    if let Some(category) = &market.emode {
        println!(
            "  e-mode category {}: LTV {} bps, liquidation threshold {} bps, bonus {} bps",
            category.id, category.ltv.0, category.liquidation_threshold.0, category.liquidation_bonus.0
        );
    }
}

fn print_price(entry: &PriceEntryView) {
    match &entry.price {
        Some(price) => println!(
            "{:>6}  {:>14}  at {} ({} old{})",
            entry.asset.to_string(),
            format::usd(price.price),
            format::timestamp(price.timestamp),
            format::duration(price.age_seconds),
            if price.stale { ", STALE" } else { "" }
        ),
        None => println!("{:>6}  no price", entry.asset.to_string()),
    }
}
