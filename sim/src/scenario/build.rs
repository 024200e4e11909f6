//! From a scenario's names and human units to accounts, assets and
//! instructions.

use std::collections::BTreeMap;

use parlend_contracts::genesis::Genesis;
use parlend_contracts::market::MarketParams;
use parlend_contracts::query;
use parlend_contracts::state::AssetInfo;
use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::primitives::sha256_tagged;
use parlend_ledger::state::StateReader;
use parlend_ledger::{Address, Amount, AssetId, Keypair};

use super::format::{InstructionSpec, MarketSpec, ScenarioFile};
use parlend_contracts::dev::{DEV_ACCOUNTS, dev_genesis, dev_keypair, dev_minter};
use parlend_contracts::units;

/// The scenario's accounts and assets: every name a step may use.
pub struct Names {
    keys: BTreeMap<String, Keypair>,
    assets: BTreeMap<AssetId, u8>,
}

impl Names {
    /// The named accounts of `file` and the built-in names (`admin` and
    /// `oracle`: dev:0; `minter`: the dev minter; `dev:N`).
    pub fn new(file: &ScenarioFile, genesis: &Genesis) -> Result<Names, String> {
        let mut keys = BTreeMap::new();
        keys.insert("admin".to_string(), dev_keypair(0));
        keys.insert("oracle".to_string(), dev_keypair(0));
        keys.insert("minter".to_string(), dev_minter());
        for index in 0..DEV_ACCOUNTS {
            keys.insert(format!("dev:{index}"), dev_keypair(index));
        }
        for (name, spec) in &file.accounts {
            if keys.contains_key(name) {
                return Err(format!("account name {name:?} is built in; choose another"));
            }
            let key = match spec.as_str() {
                "new" => {
                    let seed = sha256_tagged(b"parlend/scenario-account", &[file.name.as_bytes(), name.as_bytes()]);
                    Keypair::from_seed(&seed.0)
                }
                dev => keys
                    .get(dev)
                    .filter(|_| dev.starts_with("dev:"))
                    .cloned()
                    .ok_or_else(|| format!("account {name} = {dev:?}: use \"dev:0\" to \"dev:9\" or \"new\""))?,
            };
            keys.insert(name.clone(), key);
        }
        let assets = genesis.assets.iter().map(|info| (info.id, info.decimals)).collect();
        Ok(Names { keys, assets })
    }

    /// The key of a named account.
    pub fn key(&self, name: &str) -> Result<&Keypair, String> {
        self.keys.get(name).ok_or_else(|| format!("unknown account {name:?} (declare it under [accounts])"))
    }

    /// The address of a named account, or a hex address.
    pub fn address(&self, name: &str) -> Result<Address, String> {
        match self.keys.get(name) {
            Some(key) => Ok(key.address()),
            None => name.parse().map_err(|_| format!("unknown account {name:?} (declare it under [accounts])")),
        }
    }

    /// An asset id; its decimals (0 for an unregistered asset, so that a
    /// scenario can show `UnknownAsset`).
    pub fn asset(&self, symbol: &str) -> Result<(AssetId, u8), String> {
        let id = AssetId::new(symbol).map_err(|error| format!("asset {symbol:?}: {error}"))?;
        Ok((id, self.assets.get(&id).copied().unwrap_or(0)))
    }

    /// Whole tokens of `symbol` in base units.
    pub fn amount(&self, symbol: &str, text: &str) -> Result<Amount, String> {
        let (_, decimals) = self.asset(symbol)?;
        units::amount(text, decimals).map_err(|error| format!("{text:?} {symbol}: {error}"))
    }

    /// Whole tokens or `"all"`.
    pub fn amount_or_all(&self, symbol: &str, text: &str) -> Result<AmountOrAll, String> {
        if text == "all" { Ok(AmountOrAll::All) } else { self.amount(symbol, text).map(AmountOrAll::Amount) }
    }
}

/// The dev genesis with the scenario's extra assets.
pub fn scenario_genesis(file: &ScenarioFile) -> Result<Genesis, String> {
    let mut genesis = dev_genesis();
    for extra in &file.assets {
        let id = AssetId::new(&extra.symbol).map_err(|error| format!("asset {:?}: {error}", extra.symbol))?;
        genesis.assets.push(AssetInfo { id, decimals: extra.decimals });
        if let Some(fund) = &extra.fund {
            let amount = units::amount(fund, extra.decimals)?;
            for account in &mut genesis.accounts {
                account.balances.insert(id, amount);
            }
        }
    }
    Ok(genesis)
}

/// The signer an instruction has when the step names none.
pub fn default_signer(spec: &InstructionSpec) -> Option<&'static str> {
    match spec {
        InstructionSpec::SetPrice { .. } => Some("oracle"),
        InstructionSpec::Mint { .. }
        | InstructionSpec::SetOracle { .. }
        | InstructionSpec::SetAdmin { .. }
        | InstructionSpec::SetMinter { .. }
        | InstructionSpec::SetLiquidationConfig(_)
        | InstructionSpec::CreateMarket(_)
        | InstructionSpec::UpdateMarket(_)
        | InstructionSpec::SetEmodeCategory { .. } => Some("admin"),
        _ => None,
    }
}

/// The parameters of the dev market `like`.
fn dev_params(like: &str) -> Result<MarketParams, String> {
    parlend_contracts::dev::dev_params(like).map_err(|error| format!("like = {like:?}: {error}"))
}

/// Builds one instruction; `state` and `now` supply current values for
/// updates that name only some parameters.
pub fn instruction(
    spec: &InstructionSpec,
    names: &Names,
    state: &dyn StateReader,
    now: u64,
) -> Result<Instruction, String> {
    Ok(match spec {
        InstructionSpec::Transfer { to, asset, amount } => Instruction::Transfer {
            to: names.address(to)?,
            asset: names.asset(asset)?.0,
            amount: names.amount(asset, amount)?,
        },
        InstructionSpec::Mint { to, asset, amount } => Instruction::Mint {
            to: names.address(to)?,
            asset: names.asset(asset)?.0,
            amount: names.amount(asset, amount)?,
        },
        InstructionSpec::Deposit { asset, amount } => {
            Instruction::Deposit { asset: names.asset(asset)?.0, amount: names.amount(asset, amount)? }
        }
        InstructionSpec::Withdraw { asset, amount } => {
            Instruction::Withdraw { asset: names.asset(asset)?.0, amount: names.amount_or_all(asset, amount)? }
        }
        InstructionSpec::Borrow { asset, amount } => {
            Instruction::Borrow { asset: names.asset(asset)?.0, amount: names.amount(asset, amount)? }
        }
        InstructionSpec::Repay { asset, amount, on_behalf_of } => Instruction::Repay {
            asset: names.asset(asset)?.0,
            amount: names.amount_or_all(asset, amount)?,
            on_behalf_of: on_behalf_of.as_deref().map(|name| names.address(name)).transpose()?,
        },
        InstructionSpec::Collateral { asset, enabled } => {
            Instruction::SetCollateral { asset: names.asset(asset)?.0, enabled: *enabled }
        }
        InstructionSpec::Liquidate { borrower, debt_asset, collateral_asset, amount, receive_deposit } => {
            Instruction::Liquidate {
                borrower: names.address(borrower)?,
                debt_asset: names.asset(debt_asset)?.0,
                collateral_asset: names.asset(collateral_asset)?.0,
                debt_to_cover: names.amount_or_all(debt_asset, amount)?,
                receive_deposit: *receive_deposit,
            }
        }
        InstructionSpec::FlashBorrow { asset, amount } => {
            Instruction::FlashBorrow { asset: names.asset(asset)?.0, amount: names.amount(asset, amount)? }
        }
        InstructionSpec::FlashRepay { asset } => Instruction::FlashRepay { asset: names.asset(asset)?.0 },
        InstructionSpec::SetPrice { asset, usd: price, age } => {
            let age = age.as_deref().map(units::duration).transpose()?.unwrap_or(0);
            Instruction::SetPrice {
                asset: names.asset(asset)?.0,
                price: units::usd(price)?,
                timestamp: now.saturating_sub(age),
            }
        }
        InstructionSpec::SetOracle { oracle } => Instruction::SetOracle { oracle: names.address(oracle)? },
        InstructionSpec::SetAdmin { admin } => Instruction::SetAdmin { admin: names.address(admin)? },
        InstructionSpec::SetMinter { minter } => {
            Instruction::SetMinter { minter: if minter == "none" { None } else { Some(names.address(minter)?) } }
        }
        InstructionSpec::SetLiquidationConfig(spec) => {
            let current = query::config(state).map_err(|error| error.to_string())?.liquidation;
            Instruction::SetLiquidationConfig { config: spec.apply(current)? }
        }
        InstructionSpec::CreateMarket(spec) => {
            let like = spec.like.as_deref().ok_or("create_market needs `like` (a dev market to start from)")?;
            let (asset, _) = names.asset(&spec.asset)?;
            Instruction::CreateMarket { asset, params: market_params(spec, dev_params(like)?, names)? }
        }
        InstructionSpec::UpdateMarket(spec) => {
            let (asset, _) = names.asset(&spec.asset)?;
            let current = match &spec.like {
                Some(like) => dev_params(like)?,
                None => query::market_config(state, asset).map_err(|error| error.to_string())?.params,
            };
            Instruction::UpdateMarket { asset, params: market_params(spec, current, names)? }
        }
        InstructionSpec::Emode { .. }
        | InstructionSpec::SetEmodeCategory { .. }
        | InstructionSpec::CoverDeficit { .. } => risk_instruction(spec, names)?,
    })
}

/// E-mode and deficit instructions.
fn risk_instruction(spec: &InstructionSpec, names: &Names) -> Result<Instruction, String> {
    Ok(match spec {
        InstructionSpec::Emode { category } => Instruction::SetEMode { category: *category },
        InstructionSpec::SetEmodeCategory { id, ltv, liquidation_threshold, liquidation_bonus } => {
            let category = units::emode_category(*id, ltv, liquidation_threshold, liquidation_bonus)?;
            Instruction::SetEModeCategory { category }
        }
        InstructionSpec::CoverDeficit { asset, amount, from_treasury } => Instruction::CoverDeficit {
            asset: names.asset(asset)?.0,
            amount: names.amount_or_all(asset, amount)?,
            from_treasury: *from_treasury,
        },
        other => return Err(format!("not an e-mode or deficit instruction: {other:?}")),
    })
}

fn market_params(spec: &MarketSpec, params: MarketParams, names: &Names) -> Result<MarketParams, String> {
    let (_, decimals) = names.asset(&spec.asset)?;
    Ok(spec.changes.apply(params, decimals)?)
}
