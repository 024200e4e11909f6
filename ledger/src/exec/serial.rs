//! The serial reference executor: the definition of a block's result.

use std::collections::BTreeSet;

use super::{BlockContext, BlockError, BlockOutput, TxOutput, TxSource, Vm, run_transaction};
use crate::access::StateKey;
use crate::block::Receipt;
use crate::state::{Overlay, StateReader, StoreError, Value, decode_fields, encode_fields};
use crate::tx::VerifiedTransaction;

/// Reads the current overlay exactly, for `read`, `write` and `delta` keys.
pub(crate) struct Exact<'o, 'b>(pub(crate) &'o Overlay<'b>);

impl TxSource for Exact<'_, '_> {
    fn read(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.0.get(key)
    }
    fn delta_base(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.0.get(key)
    }
}

/// Applies a transaction's output to the overlay.
pub(crate) fn apply_output(overlay: &mut Overlay<'_>, output: &TxOutput) -> Result<(), BlockError> {
    for (key, value) in &output.writes {
        overlay.set(*key, value.clone());
    }
    for (key, net) in &output.deltas {
        let mut fields = decode_fields(overlay.get(key)?.as_deref()).map_err(|_| BlockError::Corrupt(*key))?;
        for (field, delta) in fields.iter_mut().zip(net) {
            // Every bounded operation held against this exact base, so the
            // net change keeps the field in range.
            *field = delta.apply(*field).map_err(|_| BlockError::Corrupt(*key))?;
        }
        overlay.set(*key, encode_fields(&fields));
    }
    Ok(())
}

/// Executes a block serially: prologue, transactions in order, epilogue.
pub fn execute_block_serial<V: Vm>(
    vm: &V,
    base: &dyn StateReader,
    context: &BlockContext,
    transactions: &[VerifiedTransaction<V::Instruction>],
) -> Result<BlockOutput, BlockError> {
    let mut overlay = Overlay::new(base);
    vm.begin_block(context, &mut overlay)?;
    let mut receipts = Vec::with_capacity(transactions.len());
    let mut touched = BTreeSet::new();
    for (index, transaction) in transactions.iter().enumerate() {
        let output = run_transaction(vm, context, index, transaction, &Exact(&overlay))?;
        apply_output(&mut overlay, &output)?;
        touched.extend(output.writes.iter().map(|(key, _)| *key));
        touched.extend(output.deltas.iter().map(|(key, _)| *key));
        receipts.push(Receipt { tx_hash: transaction.hash(), status: output.status, events: output.events });
    }
    let touched: Vec<StateKey> = touched.into_iter().collect();
    vm.end_block(context, &mut overlay, &touched)?;
    Ok(BlockOutput { receipts, changes: overlay.into_changes()? })
}
