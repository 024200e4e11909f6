//! Preparing a transaction: simulate it, derive its exact access set, set
//! its nonce and chain, sign. Every client of parlend does this; this module
//! is the one place it is written.
//!
//! A client next to the state (the node's dev controls, workloads, scenario
//! chains, generated logs) calls [`prepare_transaction`]. A remote client
//! learns the same [`Plan`] from the node's `simulateTransaction` and signs
//! with [`Plan::sign`].

use super::{BlockContext, BlockError, Simulation, Vm, simulate_transaction};
use crate::access::{AccessSet, AccessSetError};
use crate::crypto::Keypair;
use crate::state::StateReader;
use crate::tx::{Instruction, SignedTransaction, Transaction};

/// Everything a transaction needs besides its instructions and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The chain it is for.
    pub chain_id: u64,
    /// The signer's nonce it takes.
    pub nonce: u64,
    /// The exact set of keys it may touch.
    pub access: AccessSet,
}

impl Plan {
    /// The signed transaction of `instructions` under this plan.
    pub fn sign<I: Instruction>(self, key: &Keypair, instructions: Vec<I>) -> SignedTransaction<I> {
        Transaction {
            chain_id: self.chain_id,
            signer: key.address(),
            nonce: self.nonce,
            access: self.access,
            instructions,
        }
        .sign(key)
    }
}

/// A prepared transaction and the simulation that planned it.
#[derive(Debug, Clone)]
pub struct Prepared<I> {
    /// The signed transaction, with its exact access set.
    pub transaction: SignedTransaction<I>,
    /// What it did in simulation (outcome, state changes, accesses).
    pub simulation: Simulation,
}

/// Why a transaction cannot be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// The simulation itself failed (the state is corrupt or unreadable);
    /// a transaction that merely fails is prepared, with its failure in
    /// the simulation.
    #[error("cannot simulate: {0}")]
    Simulation(#[from] BlockError),
    /// The keys it touches do not form a valid access set (too many).
    #[error("its access set is invalid: {0}")]
    Access(#[from] AccessSetError),
}

/// Prepares `instructions` signed by `key` with `nonce`, as the only
/// transaction of the block `context` on top of `state`.
pub fn prepare_transaction<V: Vm>(
    vm: &V,
    state: &dyn StateReader,
    context: &BlockContext,
    key: &Keypair,
    nonce: u64,
    instructions: Vec<V::Instruction>,
) -> Result<Prepared<V::Instruction>, PrepareError> {
    let draft = Transaction {
        chain_id: context.chain_id,
        signer: key.address(),
        nonce,
        access: AccessSet::default(),
        instructions,
    };
    let simulation = simulate_transaction(vm, state, context, &draft)?;
    let plan =
        Plan { chain_id: context.chain_id, nonce, access: AccessSet::from_unsorted(simulation.accesses.clone())? };
    Ok(Prepared { transaction: plan.sign(key, draft.instructions), simulation })
}
