//! Receipts for people: events and failures in whole tokens and dollars.

use std::collections::BTreeMap;

use parlend_contracts::event::LiquidationEvent;
use parlend_contracts::{Event, Failure};
use parlend_ledger::{Address, Amount, AssetId};
use parlend_rpc::Client;
use parlend_rpc::types::{OutcomeView, SimulationView, TxState, TxStatusView};

use super::format;

/// The decimals of every registered asset, to show amounts in whole tokens.
#[derive(Debug, Clone, Default)]
pub struct Units(BTreeMap<AssetId, u8>);

impl Units {
    /// The node's assets.
    pub async fn fetch(client: &Client) -> anyhow::Result<Units> {
        // Every registered asset appears in any account's balances.
        let balances = client.balances(Address([0; 32])).await?;
        Ok(Units(balances.balances.iter().map(|balance| (balance.asset, balance.decimals)).collect()))
    }

    /// `amount` of `asset` in whole tokens with its symbol; base units when
    /// the asset is unknown.
    pub fn tokens(&self, asset: AssetId, amount: Amount) -> String {
        match self.0.get(&asset) {
            Some(decimals) => format!("{} {asset}", format::tokens(amount, *decimals)),
            None => format!("{amount} {asset} base units"),
        }
    }
}

fn short(address: &Address) -> String {
    let text = address.to_string();
    format!("{}…", &text[..text.len().min(10)])
}

/// One event, one line.
pub fn event(event: &Event, units: &Units) -> String {
    let tokens = |asset: &AssetId, amount: &Amount| units.tokens(*asset, *amount);
    match event {
        Event::Transfer { from, to, asset, amount } => {
            format!("Transfer {} from {} to {}", tokens(asset, amount), short(from), short(to))
        }
        Event::Mint { to, asset, amount, .. } => format!("Mint {} to {}", tokens(asset, amount), short(to)),
        Event::Deposit { account, asset, amount, scaled_deposit, collateral, .. } => format!(
            "Deposit {} by {} (scaled deposit now {scaled_deposit}{})",
            tokens(asset, amount),
            short(account),
            if *collateral { ", collateral" } else { "" }
        ),
        Event::Withdraw { account, asset, amount, scaled_deposit, .. } => {
            format!("Withdraw {} by {} (scaled deposit now {scaled_deposit})", tokens(asset, amount), short(account))
        }
        Event::Borrow { account, asset, amount, scaled_debt, .. } => {
            format!("Borrow {} by {} (scaled debt now {scaled_debt})", tokens(asset, amount), short(account))
        }
        Event::Repay { payer, borrower, asset, amount, scaled_debt, .. } => format!(
            "Repay {} by {} for {} (scaled debt now {scaled_debt})",
            tokens(asset, amount),
            short(payer),
            short(borrower)
        ),
        Event::CollateralSet { account, asset, enabled } => {
            format!("Collateral {asset} {} for {}", if *enabled { "on" } else { "off" }, short(account))
        }
        Event::Liquidation(liquidation) => liquidation_line(liquidation, units),
        Event::FlashBorrow { account, asset, amount } => {
            format!("FlashBorrow {} by {}", tokens(asset, amount), short(account))
        }
        Event::FlashLoan { account, asset, amount, fee } => {
            format!("FlashLoan {} by {}, fee {}", tokens(asset, amount), short(account), tokens(asset, fee))
        }
        Event::PriceSet { asset, price, timestamp } => {
            format!("PriceSet {asset} = {} (observed {})", format::usd(*price), format::timestamp(*timestamp))
        }
        Event::MarketCreated { asset, .. } => format!("MarketCreated {asset}"),
        Event::MarketUpdated { asset, .. } => format!("MarketUpdated {asset}"),
        Event::OracleSet { oracle } => format!("OracleSet {oracle}"),
        Event::AdminSet { admin } => format!("AdminSet {admin}"),
        Event::MinterSet { minter } => {
            format!("MinterSet {}", minter.map_or_else(|| "none".to_string(), |minter| minter.to_string()))
        }
        Event::LiquidationConfigSet { .. } => "LiquidationConfigSet".to_string(),
        Event::EModeCategorySet { category } => format!("EModeCategorySet {}", category.id),
        Event::EModeSet { account, category } => format!("EModeSet {category} for {}", short(account)),
        Event::DeficitCovered { payer, asset, amount, from_treasury } => format!(
            "DeficitCovered {} by {}{}",
            tokens(asset, amount),
            short(payer),
            if *from_treasury { " from the treasury" } else { "" }
        ),
    }
}

fn liquidation_line(liquidation: &LiquidationEvent, units: &Units) -> String {
    let debt = |amount: &Amount| units.tokens(liquidation.debt_asset, *amount);
    let collateral = |amount: &Amount| units.tokens(liquidation.collateral_asset, *amount);
    let mut line = format!(
        "Liquidation of {} by {}: debt repaid {}, collateral seized {} (bonus {}, protocol fee {}), liquidator received {}{}",
        short(&liquidation.borrower),
        short(&liquidation.liquidator),
        debt(&liquidation.debt_repaid),
        collateral(&liquidation.collateral_seized),
        collateral(&liquidation.bonus),
        collateral(&liquidation.protocol_fee),
        collateral(&liquidation.liquidator_collateral),
        if liquidation.received_as_deposit { " as a deposit" } else { "" },
    );
    for deficit in &liquidation.deficit {
        line.push_str(&format!(", deficit created {}", units.tokens(deficit.asset, deficit.amount)));
    }
    line
}

/// A failure with its values in whole tokens, dollars and durations.
pub fn failure(failure: &Failure, units: &Units) -> String {
    match failure {
        Failure::InsufficientBalance { asset, amount } => {
            format!("InsufficientBalance: the wallet holds less than {}", units.tokens(*asset, *amount))
        }
        Failure::InsufficientLiquidity { asset, amount } => {
            format!("InsufficientLiquidity: the market's cash is less than {}", units.tokens(*asset, *amount))
        }
        Failure::SupplyCapExceeded { cap, amount } | Failure::BorrowCapExceeded { cap, amount } => {
            format!("{}: the amount ({amount} base units) would pass the cap ({cap} base units)", failure.name())
        }
        Failure::PriceMissing { asset } => format!("PriceMissing: {asset} has no price"),
        Failure::PriceStale { asset, age, limit } => format!(
            "PriceStale: the {asset} price is {} old, the market accepts {} (post a price, or on a dev node keep prices fresh)",
            format::duration(*age),
            format::duration(*limit)
        ),
        Failure::InsufficientCollateral { available, needed } => format!(
            "InsufficientCollateral: the debt would be worth {}, the borrowing power is {}",
            format::usd(*needed),
            format::usd(*available)
        ),
        Failure::HealthFactorTooLow { health_factor } => {
            format!("HealthFactorTooLow: the health factor would be {}", format::health_factor(*health_factor))
        }
        Failure::DebtCeilingExceeded { collateral, ceiling_cents, amount_cents } => format!(
            "DebtCeilingExceeded: borrowing {} more against {collateral} would pass its debt ceiling of {}",
            format::cents(u64::try_from(*amount_cents).unwrap_or(u64::MAX)),
            format::cents(*ceiling_cents)
        ),
        other => other.name().to_string(),
    }
}

/// An outcome for people: `success`, or why it failed with its values.
pub fn outcome(outcome: &OutcomeView, units: &Units) -> String {
    match outcome {
        OutcomeView::Success => "success".to_string(),
        OutcomeView::Failed { reason, code, instruction, detail } => {
            let why = detail.as_ref().map_or_else(|| reason.clone(), |detail| failure(detail, units));
            format!("failed at instruction {instruction}: {why} (code {code}); nothing changed but the nonce")
        }
        OutcomeView::AccessViolation { key } => {
            format!("failed: access violation on {key}; nothing changed but the nonce")
        }
    }
}

/// A simulated failure: why, with its values.
pub fn simulated(outcome: &OutcomeView, units: &Units) -> String {
    match outcome {
        OutcomeView::Success => "success".to_string(),
        OutcomeView::Failed { reason, code, instruction, detail } => {
            let why = detail.as_ref().map_or_else(|| reason.clone(), |detail| failure(detail, units));
            format!("instruction {instruction} fails with {why} (code {code})")
        }
        OutcomeView::AccessViolation { key } => format!("access violation on {key}"),
    }
}

/// Prints a `--dry-run`: the outcome, the events, the access set.
pub fn print_simulation(simulation: &SimulationView, units: &Units) {
    println!("dry run: nothing sent");
    println!("outcome: {}", simulated(&simulation.outcome, units));
    println!("nonce:   {}", simulation.nonce);
    if !simulation.events.is_empty() {
        println!("events:");
        for (index, line) in simulation.events.iter().map(|item| event(item, units)).enumerate() {
            println!("  [{index}] {line}");
        }
    }
    println!("access set ({}):", plural(simulation.access.entries().len(), "key"));
    for access in simulation.access.entries() {
        println!("  {:<6} {}", format!("{:?}", access.mode).to_lowercase(), access.key);
    }
}

/// `n thing` or `n things`.
pub fn plural(count: usize, thing: &str) -> String {
    if count == 1 { format!("1 {thing}") } else { format!("{count} {thing}s") }
}

/// Prints a transaction status for people, with its events.
pub fn print_status(status: &TxStatusView, units: &Units) {
    println!("transaction {}", status.hash);
    match (&status.status, &status.receipt) {
        (TxState::Pending, _) => println!("status: pending"),
        (TxState::Unknown, _) => println!("status: unknown"),
        (TxState::Dropped, _) => match &status.error {
            Some(error) => println!("status: dropped: {} (code {})", error.message, error.code),
            None => println!("status: dropped"),
        },
        (_, Some(receipt)) => {
            println!("block:  {} ({}), index {}", receipt.block_height, receipt.block_hash, receipt.index);
            println!("status: {}", outcome(&receipt.outcome, units));
            if !receipt.events.is_empty() {
                println!("events:");
                for (index, line) in receipt.events.iter().map(|item| event(item, units)).enumerate() {
                    println!("  [{index}] {line}");
                }
            }
        }
        (state, None) => println!("status: {state:?}"),
    }
}

#[cfg(test)]
mod tests {
    use parlend_contracts::event::DeficitCreated;
    use parlend_ledger::Wad;

    use super::*;

    fn units() -> Units {
        Units([(AssetId::new("USDC").unwrap(), 6), (AssetId::new("WETH").unwrap(), 18)].into_iter().collect())
    }

    #[test]
    fn a_liquidation_reads_in_whole_tokens() {
        let (usdc, weth) = (AssetId::new("USDC").unwrap(), AssetId::new("WETH").unwrap());
        let line = event(
            &Event::Liquidation(LiquidationEvent {
                liquidator: Address([3; 32]),
                borrower: Address([2; 32]),
                debt_asset: usdc,
                collateral_asset: weth,
                debt_repaid: Amount(12_000_000_000),
                collateral_seized: Amount(4_421_052_631_578_947_368),
                bonus: Amount(210_526_315_789_473_684),
                protocol_fee: Amount(21_052_631_578_947_369),
                liquidator_collateral: Amount(4_399_999_999_999_999_999),
                received_as_deposit: false,
                borrower_scaled_debt: Amount(1),
                borrower_scaled_deposit: Amount(1),
                deficit: vec![DeficitCreated { asset: usdc, amount: Amount(5_000_000) }],
            }),
            &units(),
        );
        assert!(line.contains("debt repaid 12000 USDC"), "{line}");
        assert!(line.contains("collateral seized 4.421052631578947368 WETH"), "{line}");
        assert!(line.contains("protocol fee 0.021052631578947369 WETH"), "{line}");
        assert!(line.contains("deficit created 5 USDC"), "{line}");
    }

    #[test]
    fn failures_name_their_numbers() {
        let text =
            failure(&Failure::InsufficientCollateral { available: Wad(0), needed: Wad(Wad::SCALE * 5) }, &units());
        assert_eq!(text, "InsufficientCollateral: the debt would be worth $5.00, the borrowing power is $0.00");
        let stale = failure(
            &Failure::PriceStale { asset: AssetId::new("WETH").unwrap(), age: 172_800, limit: 86_400 },
            &units(),
        );
        assert!(stale.starts_with("PriceStale: the WETH price is 2days old, the market accepts 1day"), "{stale}");
    }
}
