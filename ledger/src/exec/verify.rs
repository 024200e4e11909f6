//! Signature verification as its own parallel stage, before scheduling.
//!
//! Each transaction is checked with the strict single-signature check on a
//! worker thread; there is no batch equation (see `crypto`), so acceptance
//! is exactly the per-signature strict result, whatever the thread count.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::crypto::KeyCache;
use crate::primitives::{Hash, sha256};
use crate::tx::{Instruction, RejectReason, SignedTransaction, VerifiedTransaction};

/// Verifies every transaction of a block on `pool`, in order.
pub fn verify_transactions<I: Instruction>(
    pool: &rayon::ThreadPool,
    transactions: Vec<SignedTransaction<I>>,
    chain_id: u64,
) -> Vec<Result<VerifiedTransaction<I>, RejectReason>> {
    pool.install(|| transactions.into_par_iter().map(|transaction| transaction.verify(chain_id)).collect())
}

/// Verifies every transaction of a block on `pool`, in order, reusing the
/// ones `known` holds already verified (a validator's mempool): an id is the
/// hash of the canonical bytes and every stateless check is a function of
/// those bytes (and the chain id, the same on one node), so a known id needs
/// no second signature check. Each transaction is encoded and hashed once;
/// `known` is asked once, with every id of the block (one mempool hold);
/// unknown ones get the full check, with signers' keys from `keys`.
pub fn verify_known<I, K>(
    pool: &rayon::ThreadPool,
    transactions: Vec<SignedTransaction<I>>,
    chain_id: u64,
    keys: &KeyCache,
    known: K,
) -> Vec<Result<VerifiedTransaction<I>, RejectReason>>
where
    I: Instruction,
    K: FnOnce(&[Hash]) -> HashMap<Hash, VerifiedTransaction<I>> + Send,
{
    pool.install(|| {
        let bytes: Vec<Vec<u8>> = transactions.par_iter().map(SignedTransaction::encode).collect();
        let ids: Vec<Hash> = bytes.par_iter().map(|bytes| sha256(bytes)).collect();
        let mut found = known(&ids);
        let reused: Vec<Option<VerifiedTransaction<I>>> = ids.iter().map(|id| found.remove(id)).collect();
        transactions
            .into_par_iter()
            .zip(bytes)
            .zip(reused)
            .map(|((transaction, bytes), reused)| match reused {
                Some(verified) => Ok(verified),
                None => VerifiedTransaction::check(transaction, &bytes, chain_id, Some(keys)),
            })
            .collect()
    })
}

/// Decodes and verifies raw transactions on `pool`, in order.
pub fn verify_encoded<I: Instruction>(
    pool: &rayon::ThreadPool,
    encoded: &[Vec<u8>],
    chain_id: u64,
) -> Vec<Result<VerifiedTransaction<I>, RejectReason>> {
    pool.install(|| encoded.par_iter().map(|bytes| VerifiedTransaction::from_bytes(bytes, chain_id)).collect())
}

#[cfg(test)]
mod tests {
    use borsh::{BorshDeserialize, BorshSerialize};

    use super::*;
    use crate::access::{Access, AccessMode, AccessSet, StateKey};
    use crate::crypto::Keypair;
    use crate::tx::Transaction;

    #[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
    struct Nop(u8);

    fn transaction(seed: u8, nonce: u64) -> Transaction<Nop> {
        let key = Keypair::from_seed(&[seed; 32]);
        let access =
            AccessSet::new(vec![Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write }])
                .unwrap();
        Transaction { chain_id: 7, signer: key.address(), nonce, access, instructions: vec![Nop(0)] }
    }

    fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
    }

    #[test]
    fn known_transactions_are_reused_and_unknown_ones_still_checked() {
        let key = Keypair::from_seed(&[1; 32]);
        let good = transaction(1, 0).sign(&key);
        // Nonce 1 carrying nonce 0's signature: it cannot verify.
        let forged = SignedTransaction { transaction: transaction(1, 1), signature: good.signature };
        let verified = good.clone().verify(7).unwrap();
        let known = |ids: &[Hash]| {
            assert_eq!(ids, [good.hash(), forged.hash()], "asked once, with every id in order");
            HashMap::from([(verified.hash(), verified.clone())])
        };
        let results = verify_known(&pool(), vec![good.clone(), forged.clone()], 7, &KeyCache::new(4), known);
        assert_eq!(results[0].as_ref().unwrap(), &verified);
        assert!(matches!(results[1], Err(RejectReason::Signature(_))), "{:?}", results[1]);
        // Nothing known: the same answers as the full check.
        let results = verify_known(&pool(), vec![good, forged], 7, &KeyCache::new(4), |_: &[Hash]| HashMap::new());
        assert_eq!(results[0].as_ref().unwrap(), &verified);
        assert!(results[1].is_err());
    }
}
