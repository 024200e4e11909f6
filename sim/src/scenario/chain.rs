//! A fresh in-process chain for one scenario: the node's [`App`] on an
//! in-memory store, a clock the scenario moves, and transactions built the
//! way clients build them (simulate for the exact access set, sign).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use parlend_contracts::genesis::Genesis;
use parlend_contracts::{Instruction, VerifiedTransaction};
use parlend_ledger::block::Receipt;
use parlend_ledger::exec::{AccountState, BlockContext, PrepareError, Prepared, prepare_transaction};
use parlend_ledger::state::{Overlay, StateReader, WriteSet};
use parlend_ledger::{Address, Keypair, StateKey};
use parlend_store::{ChainHead, MemoryStore};

use parlend_app::{App, AppError};
use parlend_log::format::{Compression, ExportError, LogTrailer, export_store};

/// A scenario's chain.
pub struct ScenarioChain {
    app: App,
    genesis: Genesis,
    now: u64,
    pending: Vec<VerifiedTransaction>,
    /// What the pending transactions change, so that the next one in the
    /// same block is simulated on top of them.
    pending_changes: WriteSet,
    pending_nonces: BTreeMap<Address, u64>,
}

impl ScenarioChain {
    /// A chain at block 0 of `genesis`, executing on `threads` threads.
    pub fn new(genesis: Genesis, threads: usize) -> Result<ScenarioChain, AppError> {
        let app = App::open(Arc::new(MemoryStore::new()), &genesis, threads)?;
        let now = genesis.timestamp;
        Ok(ScenarioChain {
            app,
            genesis,
            now,
            pending: Vec::new(),
            pending_changes: WriteSet::new(),
            pending_nonces: BTreeMap::new(),
        })
    }

    /// The clock: the timestamp of the next block and of queries.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, seconds: u64) {
        self.now = self.now.saturating_add(seconds);
    }

    /// The committed state.
    pub fn state(&self) -> &dyn StateReader {
        &**self.app.store()
    }

    /// The head.
    pub fn head(&self) -> ChainHead {
        self.app.info()
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Whether transactions wait for the next block.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn next_nonce(&self, signer: Address) -> Result<u64, String> {
        if let Some(nonce) = self.pending_nonces.get(&signer) {
            return Ok(*nonce);
        }
        let value = self.state().get(&StateKey::Account { owner: signer }).map_err(|error| error.to_string())?;
        AccountState::decode(value.as_deref()).map(|account| account.nonce).ok_or_else(|| "corrupt account".into())
    }

    /// Builds, signs and queues a transaction for the next block; returns
    /// its index in the block. A transaction the node would reject (never
    /// included) is an `Err` with the reason.
    pub fn submit(&mut self, key: &Keypair, instructions: Vec<Instruction>) -> Result<usize, String> {
        let signer = key.address();
        let nonce = self.next_nonce(signer)?;
        let head = self.app.info();
        let context = BlockContext { chain_id: self.app.chain_id(), height: head.height + 1, timestamp: self.now };
        let Prepared { transaction, simulation } = {
            let overlay = Overlay::with_writes(self.state(), self.pending_changes.clone());
            prepare_transaction(self.app.vm(), &overlay, &context, key, nonce, instructions).map_err(|error| {
                match error {
                    PrepareError::Access(error) => format!("rejected: {error}"),
                    PrepareError::Simulation(error) => error.to_string(),
                }
            })?
        };
        let verified = transaction.verify(self.app.chain_id()).map_err(|error| format!("rejected: {error}"))?;
        self.pending_changes.extend(simulation.changes);
        self.pending_nonces.insert(signer, nonce + 1);
        self.pending.push(verified);
        Ok(self.pending.len() - 1)
    }

    /// Executes and commits a block of the queued transactions (possibly
    /// none) at the clock's time; returns its head and receipts.
    pub fn mine(&mut self) -> Result<(ChainHead, Vec<Receipt>), AppError> {
        let transactions = std::mem::take(&mut self.pending);
        self.pending_changes.clear();
        self.pending_nonces.clear();
        let proposal = self.app.prepare_proposal(transactions, self.now);
        let finalized = self.app.finalize_block(proposal)?;
        let receipts = finalized.receipts.clone();
        let head = self.app.commit(finalized)?;
        Ok((head, receipts))
    }

    /// Writes the chain as a log (see [`parlend_log::format`]).
    pub fn export_log<W: Write>(&self, out: W) -> Result<LogTrailer, ExportError> {
        export_store(&**self.app.store(), &self.genesis, out, Compression::Zstd, None)
    }
}
