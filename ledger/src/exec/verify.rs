//! Signature verification as its own parallel stage, before scheduling.
//!
//! Each transaction is checked with the strict single-signature check on a
//! worker thread; there is no batch equation (see `crypto`), so acceptance
//! is exactly the per-signature strict result, whatever the thread count.

use rayon::prelude::*;

use crate::tx::{Instruction, RejectReason, SignedTransaction, VerifiedTransaction};

/// Verifies every transaction of a block on `pool`, in order.
pub fn verify_transactions<I: Instruction>(
    pool: &rayon::ThreadPool,
    transactions: Vec<SignedTransaction<I>>,
    chain_id: u64,
) -> Vec<Result<VerifiedTransaction<I>, RejectReason>> {
    pool.install(|| transactions.into_par_iter().map(|transaction| transaction.verify(chain_id)).collect())
}

/// Decodes and verifies raw transactions on `pool`, in order.
pub fn verify_encoded<I: Instruction>(
    pool: &rayon::ThreadPool,
    encoded: &[Vec<u8>],
    chain_id: u64,
) -> Vec<Result<VerifiedTransaction<I>, RejectReason>> {
    pool.install(|| encoded.par_iter().map(|bytes| VerifiedTransaction::from_bytes(bytes, chain_id)).collect())
}
