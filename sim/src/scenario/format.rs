//! The scenario file format (TOML or JSON), as written by people.
//! docs/scenarios.md is the reference; these types are its schema.
//!
//! Amounts are whole tokens as decimal strings (`"1500.25"`), exact to the
//! asset's decimals; USD values and health factors are decimals; risk
//! parameters and rates are percentages (`"80%"`); durations are `"30d"`,
//! `"12h"`, `"1y"`, `"90s"` or combinations (`"1d12h"`).

use std::collections::BTreeMap;

use parlend_contracts::units::{LiquidationChanges, MarketChanges};
use serde::Deserialize;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A short name (`borrow-repay-interest`); log files are named after it.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Named accounts: `"dev:N"` (a dev key, funded at genesis) or `"new"`
    /// (a key derived from the scenario and account names, unfunded).
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
    /// Extra assets registered at genesis without a market (for `create_market`).
    #[serde(default)]
    pub assets: Vec<ExtraAsset>,
    /// The steps, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<StepSpec>,
}

/// An asset registered at genesis without a market.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraAsset {
    /// Its symbol.
    pub symbol: String,
    /// Its decimals.
    pub decimals: u8,
    /// Whole tokens each dev account holds at genesis.
    #[serde(default)]
    pub fund: Option<String>,
}

/// One step: an optional time warp, optional empty blocks, at most one
/// transaction, and expectations checked after it.
#[derive(Debug, Clone, Deserialize)]
pub struct StepSpec {
    /// Shown in the report (a description is made up when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// The signer of the step's transaction (`oracle` for `prices`, `admin`
    /// for admin instructions when absent).
    #[serde(default)]
    pub by: Option<String>,
    /// Put this step's transaction in the same block as the previous step's.
    #[serde(default)]
    pub same_block: bool,
    /// Move the clock forward first (the next block's timestamp).
    #[serde(default)]
    pub advance: Option<String>,
    /// Produce this many empty blocks (after `advance`, before the transaction).
    #[serde(default)]
    pub mine: Option<u32>,
    /// A price update: asset to USD per whole token, one `SetPrice` each, in one transaction.
    #[serde(default)]
    pub prices: Option<BTreeMap<String, String>>,
    /// Several instructions in one transaction, executed atomically.
    #[serde(default)]
    pub instructions: Option<Vec<InstructionSpec>>,
    /// What must hold after the step.
    #[serde(default)]
    pub expect: ExpectSpec,
    /// One instruction, written as its name (`deposit = { ... }`).
    #[serde(flatten)]
    pub instruction: BTreeMap<String, serde_json::Value>,
}

/// An instruction with named accounts and human units.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InstructionSpec {
    /// Wallet tokens from the signer to `to`.
    Transfer {
        /// Recipient.
        to: String,
        /// Asset.
        asset: String,
        /// Whole tokens.
        amount: String,
    },
    /// New tokens to `to` (admin or minter).
    Mint {
        /// Recipient.
        to: String,
        /// Asset.
        asset: String,
        /// Whole tokens.
        amount: String,
    },
    /// Supply to a market.
    Deposit {
        /// Asset.
        asset: String,
        /// Whole tokens.
        amount: String,
    },
    /// Take a deposit back.
    Withdraw {
        /// Asset.
        asset: String,
        /// Whole tokens or `"all"`.
        amount: String,
    },
    /// Borrow against collateral.
    Borrow {
        /// Asset.
        asset: String,
        /// Whole tokens.
        amount: String,
    },
    /// Repay debt.
    Repay {
        /// Asset.
        asset: String,
        /// Whole tokens or `"all"`.
        amount: String,
        /// Whose debt (the signer's when absent).
        #[serde(default)]
        on_behalf_of: Option<String>,
    },
    /// Use a deposit as collateral, or stop.
    Collateral {
        /// Asset.
        asset: String,
        /// On or off.
        enabled: bool,
    },
    /// Liquidate an unhealthy borrower.
    Liquidate {
        /// The borrower.
        borrower: String,
        /// Debt repaid.
        debt_asset: String,
        /// Collateral seized.
        collateral_asset: String,
        /// Most debt to cover, whole tokens, or `"all"`.
        amount: String,
        /// Take the collateral as a deposit.
        #[serde(default)]
        receive_deposit: bool,
    },
    /// Borrow cash for the rest of the transaction.
    FlashBorrow {
        /// Asset.
        asset: String,
        /// Whole tokens.
        amount: String,
    },
    /// Repay the transaction's flash loan with its fee.
    FlashRepay {
        /// Asset.
        asset: String,
    },
    /// Post a price (oracle only).
    SetPrice {
        /// Asset.
        asset: String,
        /// USD per whole token.
        usd: String,
        /// How long before the block the price was observed (default 0).
        #[serde(default)]
        age: Option<String>,
    },
    /// Replace the oracle key.
    SetOracle {
        /// The new oracle.
        oracle: String,
    },
    /// Hand over the admin role.
    SetAdmin {
        /// The new admin.
        admin: String,
    },
    /// Replace or remove (`"none"`) the minter.
    SetMinter {
        /// The new minter, or `"none"`.
        minter: String,
    },
    /// Change the global liquidation parameters (unnamed ones keep their value).
    SetLiquidationConfig(LiquidationChanges),
    /// Open a market (parameters from `like`, then the ones named).
    CreateMarket(MarketSpec),
    /// Change a market's parameters (unnamed ones keep their value).
    UpdateMarket(MarketSpec),
    /// Enter an e-mode category, or leave e-mode with category 0.
    Emode {
        /// The category id.
        category: u8,
    },
    /// Create or replace an e-mode category (admin only).
    SetEmodeCategory {
        /// The category id (1 to 255).
        id: u8,
        /// Loan to value, a percentage.
        ltv: String,
        /// Liquidation threshold, a percentage.
        liquidation_threshold: String,
        /// Liquidation bonus, a percentage of the debt repaid (`"101%"`).
        liquidation_bonus: String,
    },
    /// Pay off (part of) a market's deficit from the signer's wallet, or
    /// from the market's treasury (admin only).
    CoverDeficit {
        /// The market.
        asset: String,
        /// Whole tokens or `"all"` (at most the deficit is covered).
        amount: String,
        /// Pay from the treasury instead of the wallet.
        #[serde(default)]
        from_treasury: bool,
    },
}

/// The names of [`InstructionSpec`]'s variants, for error messages.
pub const INSTRUCTION_NAMES: [&str; 20] = [
    "transfer",
    "mint",
    "deposit",
    "withdraw",
    "borrow",
    "repay",
    "collateral",
    "liquidate",
    "flash_borrow",
    "flash_repay",
    "set_price",
    "set_oracle",
    "set_admin",
    "set_minter",
    "set_liquidation_config",
    "create_market",
    "update_market",
    "emode",
    "set_emode_category",
    "cover_deficit",
];

/// Market parameters to set; unnamed ones come from `like` (a dev market)
/// or, for an update, keep their value. The parameters are
/// [`MarketChanges`], in the units every front end shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, serde_json::Value>")]
pub struct MarketSpec {
    /// The market's asset.
    pub asset: String,
    /// Start from this dev market's parameters (`USDC`, `WETH`, `WBTC`, `TBILL`).
    pub like: Option<String>,
    /// The parameters named.
    pub changes: MarketChanges,
}

impl TryFrom<BTreeMap<String, serde_json::Value>> for MarketSpec {
    type Error = String;

    fn try_from(mut fields: BTreeMap<String, serde_json::Value>) -> Result<MarketSpec, String> {
        let mut text = |name: &str| match fields.remove(name) {
            None => Ok(None),
            Some(serde_json::Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(format!("`{name}` must be a string, not {other}")),
        };
        let asset = text("asset")?.ok_or("missing field `asset`")?;
        let like = text("like")?;
        let rest = serde_json::Value::Object(fields.into_iter().collect());
        let changes = serde_json::from_value(rest).map_err(|error| error.to_string())?;
        Ok(MarketSpec { asset, like, changes })
    }
}

/// Per account, per asset.
pub type PerAsset<T> = BTreeMap<String, BTreeMap<String, T>>;

/// What must hold after a step. Values are exact (`"5000"`) or inclusive
/// ranges (`"1.2..1.3"`, `"..5"`, `"5.."`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// The transaction fails with this reason (a failure name such as
    /// `InsufficientCollateral`, or `AccessViolation`); without it, the
    /// transaction must succeed.
    #[serde(default)]
    pub fail: Option<String>,
    /// Wallet balances, whole tokens.
    #[serde(default)]
    pub balance: PerAsset<String>,
    /// Deposits with interest to now, whole tokens.
    #[serde(default)]
    pub deposit: PerAsset<String>,
    /// Debts with interest to now, whole tokens.
    #[serde(default)]
    pub debt: PerAsset<String>,
    /// Collateral flags.
    #[serde(default)]
    pub collateral: PerAsset<bool>,
    /// Health factors (`"infinite"` without debt).
    #[serde(default)]
    pub health: BTreeMap<String, String>,
    /// USD value of enabled collateral.
    #[serde(default)]
    pub collateral_value: BTreeMap<String, String>,
    /// USD value of debt.
    #[serde(default)]
    pub debt_value: BTreeMap<String, String>,
    /// USD borrowing power (collateral value × LTV).
    #[serde(default)]
    pub borrowing_power: BTreeMap<String, String>,
    /// Whether the position can be liquidated now.
    #[serde(default)]
    pub liquidatable: BTreeMap<String, bool>,
    /// The e-mode category of a position (0: none).
    #[serde(default)]
    pub emode: BTreeMap<String, u8>,
    /// The isolated collateral of a position in isolation mode (`"none"` when not isolated).
    #[serde(default)]
    pub isolated: BTreeMap<String, String>,
    /// Market figures, per asset.
    #[serde(default)]
    pub market: BTreeMap<String, MarketExpect>,
    /// Next nonces.
    #[serde(default)]
    pub nonce: BTreeMap<String, u64>,
    /// The transaction's events, in order (one per instruction on success).
    #[serde(default)]
    pub events: Option<Vec<EventExpect>>,
}

/// One expected event: its kind, and any of its fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventExpect {
    /// The kind (`"Liquidation"`).
    pub kind: String,
    /// Fields to check, by snake-case name.
    #[serde(flatten)]
    pub fields: BTreeMap<String, FieldExpect>,
}

/// An expected event field.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FieldExpect {
    /// A flag.
    Flag(bool),
    /// An amount (whole tokens), an integer, an account name or a symbol;
    /// numbers exact or ranges.
    Text(String),
    /// Whole tokens per asset (`deficit`).
    PerAsset(BTreeMap<String, String>),
}

/// Market figures to check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketExpect {
    /// Suppliers' claims, whole tokens.
    #[serde(default)]
    pub total_supply: Option<String>,
    /// Borrowers' debt, whole tokens.
    #[serde(default)]
    pub total_debt: Option<String>,
    /// Tokens held by the market.
    #[serde(default)]
    pub cash: Option<String>,
    /// Protocol equity, whole tokens.
    #[serde(default)]
    pub treasury: Option<String>,
    /// Bad debt the treasury could not cover, whole tokens.
    #[serde(default)]
    pub deficit: Option<String>,
    /// Debt borrowed against the asset in isolation mode, US dollars.
    #[serde(default)]
    pub isolation_debt: Option<String>,
    /// Utilization, percent.
    #[serde(default)]
    pub utilization: Option<String>,
    /// Borrow rate per year, percent.
    #[serde(default)]
    pub borrow_apr: Option<String>,
    /// Supply rate per year, percent.
    #[serde(default)]
    pub supply_apr: Option<String>,
    /// Oracle price, USD.
    #[serde(default)]
    pub price: Option<String>,
    /// Paused flag.
    #[serde(default)]
    pub paused: Option<bool>,
    /// Frozen flag.
    #[serde(default)]
    pub frozen: Option<bool>,
}
