//! The lending VM: dispatches instructions and emits each one's event; plugs
//! into the ledger's executors.

use parlend_ledger::exec::{BlockContext, TxFailure, TxView, Vm};
use parlend_ledger::state::{Overlay, StoreError};
use parlend_ledger::{Address, StateKey, Transaction};

use crate::admin::{self, ConfigChange};
use crate::block;
use crate::deficit::{self, CoverRequest};
use crate::emode;
use crate::event::Event;
use crate::failure::Failure;
use crate::flash::{self, FlashLoans};
use crate::instruction::Instruction;
use crate::lending;
use crate::liquidation::{self, LiquidationRequest};
use crate::oracle::{self, PriceEntry};
use crate::state::{GlobalConfig, read_config};
use crate::tokens;

/// What every instruction handler knows besides the view.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The transaction's signer.
    pub signer: Address,
    /// The block's timestamp, seconds.
    pub now: u64,
    /// The global configuration as this instruction sees it.
    pub config: &'a GlobalConfig,
}

/// The parlend lending state machine. Stateless: everything it knows comes
/// from the block context, the transaction and the view.
#[derive(Debug, Clone, Copy, Default)]
pub struct LendingVm;

impl LendingVm {
    /// Runs one instruction; its event on success.
    fn execute_one(
        &self,
        block: &BlockContext,
        signer: Address,
        position: u16,
        instruction: &Instruction,
        loans: &mut FlashLoans,
        view: &mut TxView<'_>,
    ) -> Result<Event, Failure> {
        // Read per instruction: an earlier admin instruction of the same
        // transaction may have changed it.
        let config = read_config(view)?;
        let context = Context { signer, now: block.timestamp, config: &config };
        let context = &context;
        match instruction {
            Instruction::Transfer { to, asset, amount } => {
                tokens::transfer(view, &config, signer, *to, *asset, *amount)?;
                Ok(Event::Transfer { from: signer, to: *to, asset: *asset, amount: *amount })
            }
            Instruction::Mint { to, asset, amount } => {
                tokens::mint(view, &config, signer, *to, *asset, *amount)?;
                Ok(Event::Mint { minter: signer, to: *to, asset: *asset, amount: *amount })
            }
            Instruction::CreateMarket { asset, params } => {
                admin::create_market(view, context, *asset, *params)?;
                Ok(Event::MarketCreated { asset: *asset, params: *params })
            }
            Instruction::UpdateMarket { asset, params } => {
                admin::update_market(view, context, *asset, *params)?;
                Ok(Event::MarketUpdated { asset: *asset, params: *params })
            }
            Instruction::SetPrice { asset, price, timestamp } => {
                oracle::set_price(view, context, *asset, PriceEntry { price: *price, timestamp: *timestamp })?;
                Ok(Event::PriceSet { asset: *asset, price: *price, timestamp: *timestamp })
            }
            Instruction::SetOracle { oracle } => {
                admin::change_config(view, context, ConfigChange::Oracle(*oracle))?;
                Ok(Event::OracleSet { oracle: *oracle })
            }
            Instruction::SetAdmin { admin } => {
                admin::change_config(view, context, ConfigChange::Admin(*admin))?;
                Ok(Event::AdminSet { admin: *admin })
            }
            Instruction::SetMinter { minter } => {
                admin::change_config(view, context, ConfigChange::Minter(*minter))?;
                Ok(Event::MinterSet { minter: *minter })
            }
            Instruction::SetLiquidationConfig { config } => {
                admin::change_config(view, context, ConfigChange::Liquidation(*config))?;
                Ok(Event::LiquidationConfigSet { config: *config })
            }
            other => self.execute_position(context, position, other, loans, view),
        }
    }

    /// The instructions on positions, markets' cash and flash loans.
    fn execute_position(
        &self,
        context: &Context<'_>,
        position: u16,
        instruction: &Instruction,
        loans: &mut FlashLoans,
        view: &mut TxView<'_>,
    ) -> Result<Event, Failure> {
        let signer = context.signer;
        match instruction {
            Instruction::Deposit { asset, amount } => lending::deposit(view, context, *asset, *amount),
            Instruction::Withdraw { asset, amount } => lending::withdraw(view, context, *asset, *amount),
            Instruction::Borrow { asset, amount } => lending::borrow(view, context, *asset, *amount),
            Instruction::Repay { asset, amount, on_behalf_of } => {
                lending::repay(view, context, *asset, *amount, *on_behalf_of)
            }
            Instruction::SetCollateral { asset, enabled } => {
                lending::set_collateral(view, context, *asset, *enabled)?;
                Ok(Event::CollateralSet { account: signer, asset: *asset, enabled: *enabled })
            }
            Instruction::Liquidate { borrower, debt_asset, collateral_asset, debt_to_cover, receive_deposit } => {
                let request = LiquidationRequest {
                    borrower: *borrower,
                    debt_asset: *debt_asset,
                    collateral_asset: *collateral_asset,
                    debt_to_cover: *debt_to_cover,
                    receive_deposit: *receive_deposit,
                };
                liquidation::liquidate(view, context, &request).map(Event::Liquidation)
            }
            Instruction::FlashBorrow { asset, amount } => {
                flash::flash_borrow(view, context, loans, position, *asset, *amount)?;
                Ok(Event::FlashBorrow { account: signer, asset: *asset, amount: *amount })
            }
            Instruction::FlashRepay { asset } => flash::flash_repay(view, context, loans, *asset),
            Instruction::SetEModeCategory { category } => {
                emode::set_category(view, context, *category)?;
                Ok(Event::EModeCategorySet { category: *category })
            }
            Instruction::SetEMode { category } => {
                emode::set_emode(view, context, *category)?;
                Ok(Event::EModeSet { account: signer, category: *category })
            }
            Instruction::CoverDeficit { asset, amount, from_treasury } => {
                let request = CoverRequest { asset: *asset, amount: *amount, from_treasury: *from_treasury };
                deficit::cover_deficit(view, context, &request)
            }
            // Dispatched by `execute_one`.
            Instruction::Transfer { .. }
            | Instruction::Mint { .. }
            | Instruction::CreateMarket { .. }
            | Instruction::UpdateMarket { .. }
            | Instruction::SetPrice { .. }
            | Instruction::SetOracle { .. }
            | Instruction::SetAdmin { .. }
            | Instruction::SetMinter { .. }
            | Instruction::SetLiquidationConfig { .. } => Err(Failure::InvalidParameters),
        }
    }
}

impl Vm for LendingVm {
    type Instruction = Instruction;

    fn begin_block(&self, context: &BlockContext, state: &mut Overlay<'_>) -> Result<(), StoreError> {
        block::accrue_markets(context, state).map_err(StoreError::from)
    }

    fn execute(
        &self,
        context: &BlockContext,
        transaction: &Transaction<Instruction>,
        view: &mut TxView<'_>,
    ) -> Result<(), TxFailure> {
        // Flash loans live only as long as this call: pure and per transaction.
        let mut loans = FlashLoans::default();
        let fail = |instruction: u16, failure: Failure| TxFailure {
            instruction,
            code: failure.code(),
            detail: failure.detail(),
        };
        for (index, instruction) in transaction.instructions.iter().enumerate() {
            let position = u16::try_from(index).unwrap_or(u16::MAX);
            let event = self
                .execute_one(context, transaction.signer, position, instruction, &mut loans, view)
                .map_err(|failure| fail(position, failure))?;
            view.emit(event.to_record()).map_err(|error| fail(position, Failure::from(error)))?;
        }
        match loans.outstanding() {
            Some(loan) => Err(fail(loan.instruction, Failure::FlashLoanNotRepaid)),
            None => Ok(()),
        }
    }

    fn end_block(
        &self,
        _context: &BlockContext,
        state: &mut Overlay<'_>,
        touched: &[StateKey],
    ) -> Result<(), StoreError> {
        block::update_rates(state, touched).map_err(StoreError::from)
    }
}
