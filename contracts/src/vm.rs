//! The lending VM: dispatches instructions; plugs into the ledger's executors.

use parlend_ledger::exec::{BlockContext, TxFailure, TxView, Vm};
use parlend_ledger::state::{Overlay, StoreError};
use parlend_ledger::{StateKey, Transaction};

use crate::failure::Failure;
use crate::instruction::Instruction;
use crate::state::read_config;
use crate::tokens;

/// The parlend lending state machine. Stateless: everything it knows comes
/// from the block context, the transaction and the view.
#[derive(Debug, Clone, Copy, Default)]
pub struct LendingVm;

impl LendingVm {
    fn execute_one(
        &self,
        _context: &BlockContext,
        transaction: &Transaction<Instruction>,
        instruction: &Instruction,
        view: &mut TxView<'_>,
    ) -> Result<(), Failure> {
        let signer = transaction.signer;
        let config = read_config(view)?;
        match instruction {
            Instruction::Transfer { to, asset, amount } => {
                tokens::transfer(view, &config, signer, *to, *asset, *amount)
            }
            Instruction::Mint { to, asset, amount } => tokens::mint(view, &config, signer, *to, *asset, *amount),
        }
    }
}

impl Vm for LendingVm {
    type Instruction = Instruction;

    fn begin_block(&self, _context: &BlockContext, _state: &mut Overlay<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    fn execute(
        &self,
        context: &BlockContext,
        transaction: &Transaction<Instruction>,
        view: &mut TxView<'_>,
    ) -> Result<(), TxFailure> {
        for (index, instruction) in transaction.instructions.iter().enumerate() {
            self.execute_one(context, transaction, instruction, view).map_err(|failure| TxFailure {
                instruction: u16::try_from(index).unwrap_or(u16::MAX),
                code: failure.code(),
            })?;
        }
        Ok(())
    }

    fn end_block(
        &self,
        _context: &BlockContext,
        _state: &mut Overlay<'_>,
        _touched: &[StateKey],
    ) -> Result<(), StoreError> {
        Ok(())
    }
}
