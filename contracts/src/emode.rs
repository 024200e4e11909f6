//! E-mode: categories of correlated assets (stablecoins, say) whose
//! positions may borrow more against each other, with Aave 3.2's rules.
//!
//! A category has its own LTV, liquidation threshold and liquidation bonus
//! and lives in the global configuration (`SetEModeCategory`, admin only);
//! a market belongs to at most one category (`MarketParams::emode_category`),
//! both as a collateral and as a borrow. A user opts in with `SetEMode`:
//!
//! - only if every asset it owes is in the category (`NotBorrowableInEMode`),
//!   and only if the position is healthy afterwards (`HealthFactorTooLow`);
//! - while in a category, it may borrow only the category's assets;
//! - its collateral in the category counts with the category's LTV,
//!   threshold and bonus; collateral outside the category keeps its own
//!   (Aave 3.2+). A collateral whose own LTV is zero (or whose market is
//!   frozen) still lends nothing, in a category or not, as in Aave's
//!   `GenericLogic`.
//!
//! Category 0 is "no category": `SetEMode { category: 0 }` leaves e-mode.

use borsh::{BorshDeserialize, BorshSerialize};
use parlend_ledger::exec::TxView;
use parlend_ledger::{Bps, StateKey};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::health::require_healthy;
use crate::limits::EMODE_CATEGORIES_MAX;
use crate::market::{MarketParams, read_market, seizure_fits};
use crate::position::{read_position, write_position};
use crate::state::{GlobalConfig, write};
use crate::vm::Context;

/// An e-mode category's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EModeCategory {
    /// Its id, 1 to 255 (0 means no category).
    pub id: u8,
    /// Loan to value of the category's collateral for positions in it.
    pub ltv: Bps,
    /// Liquidation threshold of the category's collateral for positions in it.
    pub liquidation_threshold: Bps,
    /// Liquidation bonus on the category's collateral for positions in it.
    pub liquidation_bonus: Bps,
}

impl EModeCategory {
    /// Checks the ranges (`InvalidParameters`), as Aave's
    /// `setEModeCategory`: an id above zero; `0 < ltv <= threshold`;
    /// a bonus above 100%; `threshold × bonus <= 100%`, so that a
    /// liquidation's seizure never exceeds the collateral behind the debt.
    pub fn validate(&self) -> Result<(), Failure> {
        let checks = [
            self.id > 0,
            self.ltv > Bps::ZERO,
            self.ltv <= self.liquidation_threshold,
            self.liquidation_bonus > Bps::ONE,
            seizure_fits(self.liquidation_threshold, self.liquidation_bonus),
        ];
        if checks.iter().all(|ok| *ok) { Ok(()) } else { Err(Failure::InvalidParameters) }
    }
}

/// The risk parameters one collateral counts with in one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollateralRisk {
    /// Share of the value that may be borrowed against (zero while frozen).
    pub ltv: Bps,
    /// Share of the value that counts in the health factor.
    pub liquidation_threshold: Bps,
    /// What a liquidator receives per unit of debt repaid, in value.
    pub liquidation_bonus: Bps,
}

/// Whether a market is in the position's category.
pub fn in_category(params: &MarketParams, emode: Option<&EModeCategory>) -> bool {
    emode.is_some_and(|category| category.id == params.emode_category)
}

/// The risk parameters of a market's collateral for a position in `emode`
/// (none: not in e-mode). A frozen market, or one whose own LTV is zero,
/// lends nothing (Aave 3.1 sets a frozen reserve's LTV to zero; Aave's
/// `GenericLogic` counts no LTV for a zero-LTV reserve, e-mode or not).
pub fn collateral_risk(params: &MarketParams, emode: Option<&EModeCategory>) -> CollateralRisk {
    let (ltv, liquidation_threshold, liquidation_bonus) = match emode {
        Some(category) if in_category(params, emode) => {
            (category.ltv, category.liquidation_threshold, category.liquidation_bonus)
        }
        _ => (params.ltv, params.liquidation_threshold, params.liquidation_bonus),
    };
    let lends = params.ltv > Bps::ZERO && !params.frozen;
    CollateralRisk { ltv: if lends { ltv } else { Bps::ZERO }, liquidation_threshold, liquidation_bonus }
}

/// The category a position is in, from the global configuration (a
/// category is never removed, so a missing one is corrupt state).
pub fn position_category(config: &GlobalConfig, id: u8) -> Result<Option<EModeCategory>, Failure> {
    if id == 0 {
        return Ok(None);
    }
    config.emode_category(id).copied().map(Some).ok_or(Failure::CorruptState)
}

/// `SetEMode`: enters category `category` (0 leaves e-mode).
pub fn set_emode(view: &mut TxView<'_>, context: &Context<'_>, category: u8) -> Result<(), Failure> {
    let emode = match category {
        0 => None,
        id => Some(*context.config.emode_category(id).ok_or(Failure::UnknownEModeCategory)?),
    };
    let mut position = read_position(view, context.signer)?;
    if position.emode_category == category {
        return Ok(());
    }
    if emode.is_some() {
        for entry in position.entries.iter().filter(|entry| entry.scaled_debt > 0) {
            let market = read_market(view, entry.asset)?;
            if !in_category(&market.params, emode.as_ref()) {
                return Err(Failure::NotBorrowableInEMode);
            }
        }
    }
    position.emode_category = category;
    require_healthy(view, &position, emode.as_ref(), context.now)?;
    write_position(view, context.signer, position)
}

/// `SetEModeCategory`: creates or replaces a category (admin only).
/// Positions in it use the new parameters at once.
pub fn set_category(view: &mut TxView<'_>, context: &Context<'_>, category: EModeCategory) -> Result<(), Failure> {
    if context.signer != context.config.admin {
        return Err(Failure::Unauthorized);
    }
    category.validate()?;
    let mut config = context.config.clone();
    let categories = &mut config.emode_categories;
    match categories.binary_search_by_key(&category.id, |existing| existing.id) {
        Ok(slot) => categories[slot] = category,
        Err(slot) => {
            if categories.len() >= EMODE_CATEGORIES_MAX {
                return Err(Failure::TooManyEModeCategories);
            }
            categories.insert(slot, category);
        }
    }
    write(view, StateKey::Config, &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable() -> EModeCategory {
        EModeCategory { id: 1, ltv: Bps(9_300), liquidation_threshold: Bps(9_500), liquidation_bonus: Bps(10_100) }
    }

    #[test]
    fn category_validation() {
        assert_eq!(stable().validate(), Ok(()));
        let invalid = [
            EModeCategory { id: 0, ..stable() },
            EModeCategory { ltv: Bps(0), ..stable() },
            EModeCategory { ltv: Bps(9_501), ..stable() },
            EModeCategory { liquidation_bonus: Bps(10_000), ..stable() },
            // 95% × 105.3% > 100%.
            EModeCategory { liquidation_bonus: Bps(10_530), ..stable() },
        ];
        for (case, category) in invalid.iter().enumerate() {
            assert_eq!(category.validate(), Err(Failure::InvalidParameters), "case {case}");
        }
        // 95% × 105.26% = 99.997%: the edge is valid.
        assert_eq!(EModeCategory { liquidation_bonus: Bps(10_526), ..stable() }.validate(), Ok(()));
    }

    #[test]
    fn risk_follows_the_category_and_a_freeze() {
        let usdc = MarketParams { emode_category: 1, ..crate::market::tests::params() };
        let weth = MarketParams { emode_category: 0, ..crate::dev::dev_market_params("WETH") };
        let category = stable();
        let risk = collateral_risk(&usdc, Some(&category));
        assert_eq!(
            (risk.ltv, risk.liquidation_threshold, risk.liquidation_bonus),
            (Bps(9_300), Bps(9_500), Bps(10_100))
        );
        // Outside the category, or outside e-mode: the market's own.
        let own = collateral_risk(&weth, Some(&category));
        assert_eq!((own.ltv, own.liquidation_threshold, own.liquidation_bonus), (Bps(8_000), Bps(8_300), Bps(10_500)));
        assert_eq!(collateral_risk(&usdc, None).ltv, Bps(7_700));
        // Frozen: no LTV, the threshold stays.
        let frozen = collateral_risk(&MarketParams { frozen: true, ..usdc }, Some(&category));
        assert_eq!((frozen.ltv, frozen.liquidation_threshold), (Bps(0), Bps(9_500)));
    }
}
