//! Validator mode: the node as the consensus engine's host (the relay that
//! shares submitted transactions with the other validators is
//! [`crate::relay`]).
//!
//! In validator mode no producer thread cuts blocks: the engine asks this
//! node for a block when it proposes ([`Host::propose`]), to execute the
//! blocks others propose ([`Host::execute_proposed`]) and to commit what
//! the validators decided, with its certificate ([`Host::commit`]).

use std::sync::Arc;
use std::time::Duration;

use parlend_app::Finalized;
use parlend_app::certificate::CommitCertificate;
use parlend_consensus::host::{Host, HostError};
use parlend_contracts::{Block, VerifiedTransaction};
use parlend_ledger::Hash;
use parlend_store::{ChainHead, Store};

use crate::metrics::BlockTimings;
use crate::node::Node;
use crate::producer::{commit_and_publish, execute_pending};

/// The node as the engine's host.
pub struct NodeHost {
    node: Arc<Node>,
    /// Test only: propose blocks whose state root is wrong (a lying
    /// proposer, which the other validators must vote down).
    wrong_state_root: bool,
}

impl NodeHost {
    /// The host for `node`.
    pub fn new(node: Arc<Node>, wrong_state_root: bool) -> NodeHost {
        NodeHost { node, wrong_state_root }
    }
}

impl Host for NodeHost {
    fn head(&self) -> ChainHead {
        self.node.app().info()
    }

    fn propose(&self) -> Result<Finalized, HostError> {
        // The engine asks for a block once per round this node proposes
        // in; the blocks it proposed in earlier rounds of this height are
        // still in flight (any of them may yet be decided) but this one
        // replaces them, on the same head: taking only what they left
        // would start signers past their committed nonces.
        self.node.release_in_flight();
        let app = self.node.app();
        let store: &dyn Store = &**app.store();
        let executed =
            execute_pending(&self.node, &app.info().header, store, true)?.expect("a forced block is always executed");
        let hashes: Vec<Hash> = executed.proposal.transactions.iter().map(VerifiedTransaction::hash).collect();
        let mut finalized = self.node.app().seal(executed).inspect_err(|_| self.node.release(&hashes))?;
        if self.wrong_state_root {
            finalized.block.header.state_root = Hash([0xee; 32]);
        }
        Ok(finalized)
    }

    fn execute_proposed(&self, block: &Block) -> Result<Finalized, HostError> {
        let app = self.node.app();
        // Relayed transactions were verified when this node admitted them.
        let proposal = app.process_proposal_known(block, |ids| self.node.pending(ids))?;
        Ok(app.finalize_block(proposal)?)
    }

    fn commit(&self, finalized: Finalized, certificate: &CommitCertificate) -> Result<ChainHead, HostError> {
        let hashes: Vec<Hash> = finalized.block.transactions.iter().map(|transaction| transaction.hash()).collect();
        let (schedule, root) = (finalized.stats.schedule, finalized.state_root_time);
        let timings = BlockTimings { schedule, execute: Duration::ZERO, root, commit: Duration::ZERO, cut_at: None };
        Ok(commit_and_publish(&self.node, finalized, hashes, Some(certificate), timings)?)
    }

    fn abandon(&self, block: &Block) {
        let hashes: Vec<Hash> = block.transactions.iter().map(|transaction| transaction.hash()).collect();
        self.node.release(&hashes);
    }

    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, HostError> {
        let store = self.node.app().store();
        let (Some(bytes), Some(certificate)) = (store.block_bytes(height)?, store.certificate(height)?) else {
            return Ok(None);
        };
        let certificate = borsh::from_slice(&certificate).map_err(|error| HostError::Corrupt {
            what: "certificate",
            height,
            reason: error.to_string(),
        })?;
        Ok(Some((bytes, certificate)))
    }
}

#[cfg(test)]
mod tests {
    use parlend_contracts::SignedTransaction;
    use parlend_sim::workload::{WorkloadKind, rpc_workload};

    use super::*;
    use crate::node::{NodeConfig, NodeHandle};

    /// Transactions per block.
    const BLOCK: usize = 20;

    fn workload(count: usize) -> parlend_sim::workload::RpcWorkload {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        rpc_workload(WorkloadKind::Transfers, count, 4, 7, now).unwrap()
    }

    /// A node whose producer never cuts a block (the host does, as the
    /// engine would ask it to).
    async fn start(genesis: parlend_contracts::genesis::Genesis) -> (NodeHandle, NodeHost) {
        let mut config = NodeConfig::new(genesis);
        config.manual_mining = true;
        config.block_transactions_max = BLOCK;
        let handle = Node::start(config).await.unwrap();
        let host = NodeHost::new(handle.node.clone(), false);
        (handle, host)
    }

    fn admit(node: &Node, transactions: &[SignedTransaction]) -> Vec<Hash> {
        let bytes: Vec<Vec<u8>> = transactions.iter().map(SignedTransaction::encode).collect();
        node.admit(&bytes).into_iter().map(|admitted| admitted.unwrap()).collect()
    }

    fn ids(finalized: &Finalized) -> Vec<Hash> {
        finalized.block.transactions.iter().map(|transaction| transaction.hash()).collect()
    }

    /// A certificate the store keeps (the host does not check it; the
    /// engine does before `Decided`).
    fn certificate(finalized: &Finalized) -> CommitCertificate {
        let header = &finalized.block.header;
        CommitCertificate { height: header.height, round: 0, block_hash: header.hash(), signatures: Vec::new() }
    }

    /// How many of `admitted` are committed; every other one must still
    /// be pending: nothing admitted is ever lost.
    fn committed(node: &Node, admitted: &[Hash]) -> usize {
        let pending = node.pending(admitted);
        admitted
            .iter()
            .filter(|hash| {
                let location = node.app().store().tx_location(hash).unwrap();
                assert!(location.is_some() || pending.contains_key(hash), "{hash} was admitted, then lost");
                location.is_some()
            })
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn proposals_of_later_rounds_and_foreign_blocks_lose_nothing() {
        let workload = workload(3 * BLOCK);
        let (node, host) = start(workload.genesis.clone()).await;
        let (peer, peer_host) = start(workload.genesis.clone()).await;
        let admitted = admit(&node.node, &workload.transactions);
        // The relay brought the peer only the first half block.
        admit(&peer.node, &workload.transactions[..BLOCK / 2]);

        // Height 1: this node proposes at round 0, the round times out, and
        // it proposes again four rounds later: the same transactions, from
        // each signer's committed nonce (not what round 0 left over).
        let round_0 = host.propose().unwrap();
        assert_eq!(ids(&round_0), admitted[..BLOCK]);
        let round_4 = host.propose().unwrap();
        assert_eq!(ids(&round_4), admitted[..BLOCK]);
        assert_eq!(committed(&node.node, &admitted), 0);

        // The peer's block is decided instead.
        let foreign = peer_host.propose().unwrap();
        let executed = host.execute_proposed(&foreign.block).unwrap();
        assert_eq!(executed.block.header, foreign.block.header);
        let cert = certificate(&foreign);
        host.commit(executed, &cert).unwrap();
        peer_host.commit(foreign, &cert).unwrap();
        host.abandon(&round_0.block);
        host.abandon(&round_4.block);
        assert_eq!(committed(&node.node, &admitted), BLOCK / 2);

        // Height 2: round 0's block is decided after round 1's was proposed.
        let round_0 = host.propose().unwrap();
        assert_eq!(ids(&round_0), admitted[BLOCK / 2..BLOCK / 2 + BLOCK]);
        let round_1 = host.propose().unwrap();
        assert_eq!(ids(&round_1), ids(&round_0));
        let cert = certificate(&round_0);
        host.commit(round_0, &cert).unwrap();
        host.abandon(&round_1.block);
        assert_eq!(committed(&node.node, &admitted), BLOCK / 2 + BLOCK);

        // The rest commits: every transaction admitted is in a block.
        while !node.node.pending(&admitted).is_empty() {
            let block = host.propose().unwrap();
            assert!(!block.block.transactions.is_empty());
            let cert = certificate(&block);
            host.commit(block, &cert).unwrap();
        }
        assert_eq!(committed(&node.node, &admitted), admitted.len());
        drop((host, peer_host));
        peer.shutdown().await;
        node.shutdown().await;
    }

    /// A dev-chain transfer of `amount` base units of USDC to dev account 9.
    fn transfer(key: &parlend_ledger::Keypair, nonce: u64, amount: u128) -> SignedTransaction {
        use parlend_ledger::{Access, AccessMode, AccessSet, Amount, AssetId, StateKey};
        let (from, to, asset) =
            (key.address(), parlend_contracts::dev::dev_keypair(9).address(), AssetId::from_static("USDC"));
        let access = AccessSet::from_unsorted([
            Access { key: StateKey::Config, mode: AccessMode::Read },
            Access { key: StateKey::Account { owner: from }, mode: AccessMode::Write },
            Access { key: StateKey::Balance { owner: from, asset }, mode: AccessMode::Delta },
            Access { key: StateKey::Balance { owner: to, asset }, mode: AccessMode::Delta },
        ])
        .unwrap();
        parlend_contracts::Transaction {
            chain_id: parlend_contracts::dev::DEV_CHAIN_ID,
            signer: from,
            nonce,
            access,
            instructions: vec![parlend_contracts::Instruction::Transfer { to, asset, amount: Amount(amount) }],
        }
        .sign(key)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_whose_nonce_another_block_used_is_reported_dropped_with_its_code() {
        use parlend_rpc::NodeApi;
        use parlend_rpc::types::TxState;
        let genesis = parlend_contracts::dev::dev_genesis();
        let (node, host) = start(genesis.clone()).await;
        let (peer, peer_host) = start(genesis).await;
        let key = parlend_contracts::dev::dev_keypair(1);
        // The signer sent two transactions with nonce 0 (and one with
        // nonce 1 after the first) to two validators.
        let mine = admit(&node.node, &[transfer(&key, 0, 1), transfer(&key, 1, 1)]);
        admit(&peer.node, &[transfer(&key, 0, 2)]);
        let round_0 = host.propose().unwrap();
        let foreign = peer_host.propose().unwrap();
        let executed = host.execute_proposed(&foreign.block).unwrap();
        host.commit(executed, &certificate(&foreign)).unwrap();
        host.abandon(&round_0.block);
        let status = node.node.transaction_status(&mine[0]).unwrap();
        assert_eq!(status.status, TxState::Dropped);
        let error = status.error.unwrap();
        assert_eq!(error.code, parlend_rpc::error::NONCE_TOO_LOW, "{}", error.message);
        // Its successor still commits (nonce 1 follows the peer's nonce 0).
        assert_eq!(node.node.transaction_status(&mine[1]).unwrap().status, TxState::Pending);
        let next = host.propose().unwrap();
        assert_eq!(ids(&next), vec![mine[1]]);
        let cert = certificate(&next);
        host.commit(next, &cert).unwrap();
        assert_eq!(node.node.transaction_status(&mine[1]).unwrap().status, TxState::Committed);
        drop((host, peer_host));
        peer.shutdown().await;
        node.shutdown().await;
    }
}
