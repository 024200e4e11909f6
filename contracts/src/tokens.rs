//! Wallet tokens: transfers and minting.
//!
//! Balances are ledger aggregates changed only with bounded deltas, so
//! payments to one recipient commute and never serialize a block.

use parlend_ledger::exec::{TxView, ViewError};
use parlend_ledger::{Address, Amount, AssetId};

use crate::failure::Failure;
use crate::state::{BALANCE_FIELD, GlobalConfig, balance_key};

/// Takes `amount` of `asset` out of `owner`'s wallet.
pub fn debit(view: &mut TxView<'_>, owner: Address, asset: AssetId, amount: Amount) -> Result<(), Failure> {
    view.sub(balance_key(owner, asset), BALANCE_FIELD, amount.0).map_err(|error| match error {
        ViewError::OutOfBounds { .. } => Failure::InsufficientBalance { asset, amount },
        other => other.into(),
    })
}

/// Puts `amount` of `asset` into `owner`'s wallet.
pub fn credit(view: &mut TxView<'_>, owner: Address, asset: AssetId, amount: Amount) -> Result<(), Failure> {
    view.add(balance_key(owner, asset), BALANCE_FIELD, amount.0).map_err(|error| match error {
        ViewError::OutOfBounds { .. } => Failure::MathOverflow,
        other => other.into(),
    })
}

/// `Transfer`: signer to `to`.
pub fn transfer(
    view: &mut TxView<'_>,
    config: &GlobalConfig,
    signer: Address,
    to: Address,
    asset: AssetId,
    amount: Amount,
) -> Result<(), Failure> {
    config.asset(&asset).ok_or(Failure::UnknownAsset)?;
    if amount.is_zero() {
        return Err(Failure::ZeroAmount);
    }
    debit(view, signer, asset, amount)?;
    credit(view, to, asset, amount)
}

/// `Mint`: new tokens to `to`; admin or minter only.
pub fn mint(
    view: &mut TxView<'_>,
    config: &GlobalConfig,
    signer: Address,
    to: Address,
    asset: AssetId,
    amount: Amount,
) -> Result<(), Failure> {
    if !config.may_mint(&signer) {
        return Err(Failure::Unauthorized);
    }
    config.asset(&asset).ok_or(Failure::UnknownAsset)?;
    if amount.is_zero() {
        return Err(Failure::ZeroAmount);
    }
    credit(view, to, asset, amount)
}
