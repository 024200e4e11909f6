//! `parlend watch heads|txs|liquidatable|markets`: a node's subscriptions,
//! one line per notification (or one JSON object per line with `--json`).

use anyhow::bail;
use clap::{Args, Subcommand};
use parlend_ledger::Address;
use parlend_rpc::client::{SUBSCRIPTION_BUFFER, Subscription, SubscriptionCloseReason, WsClient};
use parlend_rpc::types::{
    LiquidatableFilter, LiquidatableNoticeView, MarketsNoticeView, NewHeadView, OutcomeView, RiskState,
    TransactionNoticeView, TransactionsFilter,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{RpcArgs, format};

/// `parlend watch` arguments.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// What to watch.
    #[command(subcommand)]
    pub what: WatchKind,
    /// RPC options.
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Stop after this many notifications.
    #[arg(long, global = true)]
    pub count: Option<u64>,
}

/// Subscriptions.
#[derive(Debug, Subcommand)]
pub enum WatchKind {
    /// Every committed block: height, transactions, how it was executed.
    Heads,
    /// Committed transactions with their outcome.
    Txs {
        /// Only those this account signed or that name it (an address, or dev:N).
        #[arg(long, value_parser = super::keys::parse_address)]
        address: Option<Address>,
    },
    /// Positions entering and leaving the at-risk and liquidatable sets.
    Liquidatable {
        /// Upper bound of the at-risk band, a health factor (1.05; at most 1.25).
        #[arg(long)]
        at_risk_below: Option<String>,
    },
    /// Markets and prices after every block.
    Markets,
}

/// `parlend watch`.
pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let client = WsClient::connect(&args.rpc.rpc).await?;
    let (json, count) = (args.rpc.json, args.count);
    match args.what {
        WatchKind::Heads => follow(client.new_heads().await?, json, count, print_head).await,
        WatchKind::Txs { address } => {
            let subscription = client.transactions(&TransactionsFilter { address }).await?;
            follow(subscription, json, count, print_transaction).await
        }
        WatchKind::Liquidatable { at_risk_below } => {
            let at_risk_below = at_risk_below.map(|text| parlend_contracts::units::wad(&text)).transpose()?;
            let subscription = client.liquidatable(&LiquidatableFilter { at_risk_below }).await?;
            follow(subscription, json, count, print_liquidatable).await
        }
        WatchKind::Markets => follow(client.markets().await?, json, count, print_markets).await,
    }
}

/// Prints notifications until `count` of them, or the subscription ends.
async fn follow<T: DeserializeOwned + Serialize>(
    mut subscription: Subscription<T>,
    json: bool,
    count: Option<u64>,
    print: fn(&T),
) -> anyhow::Result<()> {
    // On stderr, so that `--json` output stays one object per line.
    eprintln!("subscribed; waiting for notifications");
    let mut seen = 0u64;
    while count.is_none_or(|count| seen < count) {
        match subscription.next().await {
            Some(Ok(notice)) => {
                if json {
                    println!("{}", serde_json::to_string(&notice)?);
                } else {
                    print(&notice);
                }
                seen += 1;
            }
            Some(Err(error)) => bail!("a notification was not understood: {error}"),
            None => match subscription.close_reason() {
                Some(SubscriptionCloseReason::Lagged) => bail!(
                    "this client fell behind: {SUBSCRIPTION_BUFFER} notifications waited to be printed, so the subscription was closed"
                ),
                _ => bail!("the subscription ended (the node dropped it or the connection closed)"),
            },
        }
    }
    Ok(())
}

fn print_head(head: &NewHeadView) {
    let execution = head.execution.map_or_else(String::new, |execution| {
        format!(
            "  {} depth {} re-executed {}  schedule {} µs  execute {} µs  root {} µs  commit {} µs",
            if execution.parallel { "parallel" } else { "serial" },
            execution.depth,
            execution.reexecutions,
            execution.schedule_micros,
            execution.execute_micros,
            execution.root_micros,
            execution.commit_micros
        )
    });
    println!(
        "block {}  {}  {} transactions ({} failed, {} liquidations){execution}",
        head.header.height, head.hash, head.transactions, head.failed, head.liquidations
    );
}

fn print_transaction(notice: &TransactionNoticeView) {
    let outcome = match &notice.receipt.outcome {
        OutcomeView::Success => "ok".to_string(),
        OutcomeView::Failed { reason, .. } => format!("failed: {reason}"),
        OutcomeView::AccessViolation { key } => format!("access violation: {key:?}"),
    };
    let kinds: Vec<String> = notice
        .instructions
        .iter()
        .map(|instruction| {
            serde_json::to_value(instruction)
                .ok()
                .and_then(|value| value["type"].as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    println!(
        "block {} #{}  {}  {}  [{}]  {outcome}",
        notice.receipt.block_height,
        notice.receipt.index,
        notice.receipt.tx_hash,
        notice.signer,
        kinds.join(", ")
    );
}

fn state_name(state: RiskState) -> &'static str {
    match state {
        RiskState::None => "no debt",
        RiskState::Safe => "safe",
        RiskState::AtRisk => "at risk",
        RiskState::Liquidatable => "liquidatable",
    }
}

fn print_liquidatable(notice: &LiquidatableNoticeView) {
    let when = if notice.snapshot { "now" } else { "block" };
    println!("{when} {}: {} changes", notice.height, notice.changes.len());
    for change in &notice.changes {
        let health = change.health.map_or_else(String::new, |health| {
            format!(
                "  HF {}  collateral {}  debt {}",
                format::health_factor(health.health_factor),
                format::usd(health.collateral_value),
                format::usd(health.debt_value)
            )
        });
        println!("  {}  {} -> {}{health}", change.owner, state_name(change.from), state_name(change.to));
    }
}

fn print_markets(notice: &MarketsNoticeView) {
    let markets: Vec<String> = notice
        .markets
        .iter()
        .map(|market| {
            format!(
                "{} util {} borrow {}",
                market.asset,
                format::percent(market.utilization),
                format::percent(market.borrow_apy)
            )
        })
        .collect();
    println!("block {}: {}", notice.height, markets.join("  |  "));
}
