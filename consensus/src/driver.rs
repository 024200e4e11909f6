//! The application side of the engine: answers every `AppMsg`.
//!
//! - A proposer builds a block on its head, saves it, answers with its id
//!   and streams it as parts.
//! - A validator assembles a stream, checks that the proposer is the
//!   round's and signed it, executes the block on its own head and accepts
//!   it only if it computes the same header (state root, receipts root,
//!   every field): a proposer lying about the state is voted down.
//! - A decided block is committed with its certificate (durably, in one
//!   write) before the engine hears back, so a restarted node starts at
//!   the height after its last committed block and serves its blocks to
//!   lagging peers (value sync).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::core::Validator as _;
use malachitebft_app_channel::app::types::core::{
    CommitCertificate as EngineCertificate, Context as _, ExtendedCommitCertificate, ExtendedCommitSignature,
    LinearTimeouts, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use parking_lot::Mutex;
use parlend_app::Finalized;
use parlend_app::certificate::{CommitCertificate, CommitSignature};
use parlend_contracts::Block;
use parlend_ledger::crypto::verify_strict;

use crate::ConsensusStatus;
use crate::context::{BlockId, Ctx, Height, ValidatorAddress, ValidatorSet};
use crate::host::{Host, HostError};
use crate::metrics::{ConsensusMetrics, Direction, Source};
use crate::proposals::ProposalDir;
use crate::signing::{KeySigner, VoteSignature, parts_preimage};
use crate::streams::{self, Assembled, Position, Stream, Streams};

/// Most heights one value-sync answer carries.
const SYNC_HEIGHTS_MAX: u64 = 32;

/// A block executed for the height being decided.
struct Candidate {
    finalized: Finalized,
    own: bool,
}

/// The engine's pace for every height.
pub(crate) struct Settings {
    /// Round timeouts.
    pub(crate) timeouts: LinearTimeouts,
    /// The least time between blocks.
    pub(crate) min_block_time: Duration,
}

/// The driver's state.
pub(crate) struct Driver {
    host: Arc<dyn Host>,
    signer: KeySigner,
    validators: ValidatorSet,
    settings: Settings,
    proposals: ProposalDir,
    status: Arc<Mutex<ConsensusStatus>>,
    metrics: ConsensusMetrics,
    height: Height,
    /// Executed blocks of the current height, by id.
    candidates: HashMap<BlockId, Candidate>,
    /// Complete values by (height, round), handed back in `StartedRound`.
    values: BTreeMap<(Height, Round), Vec<ProposedValue<Ctx>>>,
    /// The round this node is in at `height`.
    round: Round,
    /// This node's proposals: (height, round) to the stream it sent.
    sent: HashMap<(Height, Round), (BlockId, Stream)>,
    streams: Streams,
}

/// What went wrong with a proposed block, for the log.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("it comes from {claimed}, not the round's proposer {expected}")]
    WrongProposer { claimed: ValidatorAddress, expected: ValidatorAddress },
    #[error("its bytes are not a block: {0}")]
    Undecodable(String),
    #[error("the proposer's signature does not verify")]
    BadSignature,
    #[error("it does not execute: {0}")]
    Execution(HostError),
    #[error("its header differs from the one this node computes (state root {claimed} vs {computed})")]
    HeaderMismatch { claimed: parlend_ledger::Hash, computed: parlend_ledger::Hash },
}

impl Driver {
    pub(crate) fn new(
        host: Arc<dyn Host>,
        signer: KeySigner,
        validators: ValidatorSet,
        settings: Settings,
        proposals: ProposalDir,
        status: Arc<Mutex<ConsensusStatus>>,
        metrics: ConsensusMetrics,
    ) -> Driver {
        Driver {
            host,
            signer,
            validators,
            settings,
            proposals,
            status,
            metrics,
            height: Height(0),
            candidates: HashMap::new(),
            values: BTreeMap::new(),
            round: Round::Nil,
            sent: HashMap::new(),
            streams: Streams::default(),
        }
    }

    fn params(&self) -> HeightParams<Ctx> {
        HeightParams::new(self.validators.clone(), self.settings.timeouts, Some(self.settings.min_block_time))
    }

    /// Runs a blocking host call off the engine's tasks.
    async fn blocking<T: Send + 'static>(&self, call: impl FnOnce(&dyn Host) -> T + Send + 'static) -> T {
        let host = self.host.clone();
        match tokio::task::spawn_blocking(move || call(&*host)).await {
            Ok(value) => value,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    /// Answers messages until the engine stops.
    pub(crate) async fn run(mut self, mut channels: Channels<Ctx>) {
        while let Some(message) = channels.consensus.recv().await {
            if let Err(error) = self.handle(message, &channels).await {
                tracing::error!(%error, "consensus driver stopped");
                return;
            }
        }
        tracing::info!("the consensus engine closed its channel");
    }

    async fn handle(&mut self, message: AppMsg<Ctx>, channels: &Channels<Ctx>) -> Result<(), HostError> {
        match message {
            AppMsg::ConsensusReady { reply } => {
                let start = self.start().await;
                let _ = reply.send((start, self.params()));
            }
            AppMsg::StartedRound { height, round, reply_value, .. } => {
                self.enter(height, round).await;
                let _ = reply_value.send(self.values.get(&(height, round)).cloned().unwrap_or_default());
            }
            AppMsg::GetValue { height, round, reply, .. } => {
                let (id, stream) = self.propose(height, round).await?;
                let _ = reply.send(LocallyProposedValue::new(height, round, id));
                publish(channels, stream).await;
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let value = self.receive_part(published_by.unwrap_or(from), part).await;
                let _ = reply.send(value);
            }
            AppMsg::RestreamProposal { height, round, value_id, .. } => {
                let stream = self.sent.values().find(|(id, _)| *id == value_id).map(|(_, stream)| stream.clone());
                if let Some(stream) = stream {
                    tracing::debug!(%height, %round, %value_id, "restreaming a proposal");
                    publish(channels, stream).await;
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                let _ = reply.send(extensions.into_iter().map(|(address, _)| (address, Ok(()))).collect());
            }
            AppMsg::Decided { certificate, reply, .. } => {
                self.decided(certificate).await?;
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, reply, .. } => {
                let _ = reply.send(self.finalized(certificate.height));
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let values = self.decided_values(range.start().0, range.end().0).await;
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = self.synced(height, round, proposer, value_bytes.to_vec()).await;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    /// `ConsensusReady`: the height after the committed head, with the
    /// proposals saved for it before a crash.
    async fn start(&mut self) -> Height {
        let head = self.blocking(|host| host.head()).await;
        let height = Height(head.height + 1);
        self.height = height;
        if let Err(error) = self.proposals.prune(head.height) {
            tracing::warn!(%error, "cannot prune saved proposals");
        }
        match self.proposals.load(height.0) {
            Ok(saved) => {
                for saved in saved {
                    self.restore(saved).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read saved proposals"),
        }
        self.status.lock().height = height.0;
        tracing::info!(%height, "consensus ready");
        height
    }

    /// Re-executes a proposal saved before a restart.
    async fn restore(&mut self, saved: crate::proposals::Saved) {
        let Ok(block) = borsh::from_slice::<Block>(&saved.bytes) else { return };
        let proposer = self.proposer(Height(saved.height), saved.round);
        let result = self.accept(block, saved.own, Height(saved.height), saved.round, proposer).await;
        if let (true, Ok(value)) = (saved.own, &result) {
            let stream = streams::split(&self.signer, value.height, value.round, &value.value, &saved.bytes);
            self.sent.insert((value.height, value.round), (value.value, stream));
        }
    }

    fn proposer(&self, height: Height, round: Round) -> ValidatorAddress {
        proposer_of(&self.validators, height, round)
    }

    /// `StartedRound`: streams that arrived early for this height are
    /// checked now that the head is their parent.
    async fn enter(&mut self, height: Height, round: Round) {
        (self.height, self.round) = (height, round);
        {
            let mut status = self.status.lock();
            status.height = height.0;
            status.round = round.as_i64();
        }
        self.metrics.round_started(round.as_i64());
        for assembled in self.streams.take(height) {
            self.metrics.proposal(Source::Peer, assembled.bytes.len(), assembled.messages);
            if let Err(rejection) = self.check_stream(assembled).await {
                tracing::warn!(%height, %rejection, "an early proposal is refused");
            }
        }
    }

    /// `GetValue`: the block this node proposes at (height, round), the
    /// same one after a restart.
    async fn propose(&mut self, height: Height, round: Round) -> Result<(BlockId, Stream), HostError> {
        if let Some((id, stream)) = self.sent.get(&(height, round)) {
            return Ok((*id, stream.clone()));
        }
        let finalized = self.blocking(|host| host.propose()).await?;
        let id = BlockId(finalized.block.header.hash());
        let bytes = finalized.block.encode();
        if let Err(error) = self.proposals.save(height.0, round, true, &id.0.to_string(), &bytes) {
            tracing::error!(%error, "cannot save this node's proposal; proposing it anyway");
        }
        let stream = streams::split(&self.signer, height, round, &id, &bytes);
        self.metrics.proposal(Source::Own, bytes.len(), stream.len());
        tracing::info!(%height, %round, block = %id, transactions = finalized.block.transactions.len(), "proposing");
        self.remember(height, round, self.signer.address(), id, Validity::Valid);
        self.candidates.insert(id, Candidate { finalized, own: true });
        self.sent.insert((height, round), (id, stream.clone()));
        Ok((id, stream))
    }

    fn remember(&mut self, height: Height, round: Round, proposer: ValidatorAddress, id: BlockId, validity: Validity) {
        let value = ProposedValue { height, round, valid_round: Round::Nil, proposer, value: id, validity };
        let values = self.values.entry((height, round)).or_default();
        if !values.iter().any(|known| known.value == id) {
            values.push(value);
        }
    }

    /// `ReceivedProposalPart`: a value once its stream is whole.
    async fn receive_part(
        &mut self,
        publisher: PeerId,
        part: StreamMessage<crate::context::ProposalPart>,
    ) -> Option<ProposedValue<Ctx>> {
        let position = Position { height: self.height, round: self.round };
        let validators = &self.validators;
        let proposer = |height, round| proposer_of(validators, height, round);
        let assembled = match self.streams.add(publisher, part, position, proposer) {
            Ok(assembled) => assembled?,
            Err(refused) => {
                tracing::debug!(%publisher, %refused, "a proposal part is refused");
                self.metrics.part_refused(refused);
                return None;
            }
        };
        self.metrics.proposal(Source::Peer, assembled.bytes.len(), assembled.messages);
        let (height, round) = (assembled.height, assembled.round);
        match self.check_stream(assembled).await {
            Ok(value) => Some(value),
            Err(rejection) => {
                tracing::warn!(%height, %round, %rejection, "a proposal is refused");
                None
            }
        }
    }

    /// Checks a whole stream of the current height: proposer, signature,
    /// execution. A block that executes to another header is answered
    /// `Invalid`, so this node prevotes nil.
    async fn check_stream(&mut self, assembled: Assembled) -> Result<ProposedValue<Ctx>, Rejection> {
        let Assembled { height, round, proposer, bytes, signature, .. } = assembled;
        let expected = self.proposer(height, round);
        if proposer != expected {
            return Err(Rejection::WrongProposer { claimed: proposer, expected });
        }
        let block: Block = borsh::from_slice(&bytes).map_err(|error| Rejection::Undecodable(error.to_string()))?;
        let id = BlockId(block.header.hash());
        check_signature(height, round, &id, &proposer, &signature)?;
        if let Err(error) = self.proposals.save(height.0, round, false, &id.0.to_string(), &bytes) {
            tracing::error!(%error, "cannot save a peer's proposal");
        }
        match self.accept(block, false, height, round, proposer).await {
            Ok(value) => Ok(value),
            Err(rejection @ Rejection::HeaderMismatch { .. }) => {
                tracing::warn!(%height, %round, %rejection, "voting against a proposal");
                self.remember(height, round, proposer, id, Validity::Invalid);
                Ok(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: id,
                    validity: Validity::Invalid,
                })
            }
            Err(rejection) => Err(rejection),
        }
    }

    /// Executes a block on the head and keeps it if this node computes the
    /// same header.
    async fn accept(
        &mut self,
        block: Block,
        own: bool,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
    ) -> Result<ProposedValue<Ctx>, Rejection> {
        let id = BlockId(block.header.hash());
        let claimed = block.header.clone();
        let finalized = self.blocking(move |host| host.execute_proposed(&block)).await.map_err(Rejection::Execution)?;
        if finalized.block.header != claimed {
            return Err(Rejection::HeaderMismatch {
                claimed: claimed.state_root,
                computed: finalized.block.header.state_root,
            });
        }
        self.candidates.insert(id, Candidate { finalized, own });
        self.remember(height, round, proposer, id, Validity::Valid);
        Ok(ProposedValue { height, round, valid_round: Round::Nil, proposer, value: id, validity: Validity::Valid })
    }

    /// `Decided`: commits the block with its certificate, then lets go of
    /// everything else of this height.
    async fn decided(&mut self, certificate: EngineCertificate<Ctx>) -> Result<(), HostError> {
        let height = certificate.height;
        let id = certificate.value_id;
        let Some(candidate) = self.candidates.remove(&id) else {
            tracing::error!(%height, block = %id, "decided a block this node does not hold");
            return Ok(());
        };
        let round = certificate.round;
        let signatures = certificate.commit_signatures.len();
        let certificate = app_certificate(&certificate);
        let head = self.blocking(move |host| host.commit(candidate.finalized, &certificate)).await?;
        tracing::info!(height = head.height, hash = %head.hash, %round, signatures, "decided");
        // The engine finalizes and starts the next height's first round
        // once the block time has passed; meanwhile the status shows the
        // next height at round 0.
        {
            let mut status = self.status.lock();
            status.height = head.height + 1;
            status.round = 0;
        }
        let abandoned: Vec<Block> =
            self.candidates.drain().filter(|(_, other)| other.own).map(|(_, other)| other.finalized.block).collect();
        if !abandoned.is_empty() {
            self.blocking(move |host| abandoned.iter().for_each(|block| host.abandon(block))).await;
        }
        self.values.retain(|(at, _), _| *at > height);
        self.sent.retain(|(at, _), _| *at > height);
        self.streams.prune(height);
        if let Err(error) = self.proposals.prune(height.0) {
            tracing::warn!(%error, "cannot prune saved proposals");
        }
        Ok(())
    }

    /// `Finalized`: on to the next height once the block is committed.
    fn finalized(&mut self, height: Height) -> Next<Ctx> {
        let head = self.host.head();
        if head.height >= height.0 {
            let next = Height(height.0 + 1);
            self.height = next;
            Next::Start(next, self.params())
        } else {
            tracing::warn!(%height, "finalized a height whose block is not committed; restarting it");
            Next::Restart(height, self.params())
        }
    }

    /// `GetDecidedValues`: committed blocks and certificates from `start`,
    /// contiguous, bounded in heights and (past the first) in bytes by what
    /// one sync response carries.
    async fn decided_values(&self, start: u64, end: u64) -> Vec<RawDecidedValue<Ctx>> {
        let end = end.min(start.saturating_add(SYNC_HEIGHTS_MAX - 1));
        let values = self.blocking(move |host| read_decided(host, start.max(1), end)).await;
        let bytes = values.iter().map(|value| value.value_bytes.len()).sum();
        self.metrics.synced(Direction::Served, values.len(), bytes);
        values
    }

    /// `ProcessSyncedValue`: a block a peer says was decided; the engine
    /// has checked its certificate, this node executes it.
    async fn synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        bytes: Vec<u8>,
    ) -> SyncedValueOutcome<Ctx> {
        self.metrics.synced(Direction::Received, 1, bytes.len());
        let Ok(block) = borsh::from_slice::<Block>(&bytes) else {
            return SyncedValueOutcome::PeerFault;
        };
        let head = self.host.head();
        if height.0 != head.height + 1 {
            return SyncedValueOutcome::LocalTransientError;
        }
        let id = BlockId(block.header.hash());
        match self.accept(block, false, height, round, proposer).await {
            Ok(value) => SyncedValueOutcome::Verdict(value),
            Err(rejection) => {
                tracing::warn!(%height, %rejection, "a synced block is refused");
                let validity = Validity::Invalid;
                SyncedValueOutcome::Verdict(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: id,
                    validity,
                })
            }
        }
    }
}

/// Decided blocks `start..=end` from the store, stopping at the first
/// missing one and before the bytes would pass one sync response.
fn read_decided(host: &dyn Host, start: u64, end: u64) -> Vec<RawDecidedValue<Ctx>> {
    let mut values = Vec::new();
    let mut total = 0u64;
    for height in start..=end {
        match host.decided(height) {
            Ok(Some((bytes, certificate))) => {
                total = total.saturating_add(bytes.len() as u64);
                if !values.is_empty() && total > crate::SYNC_RESPONSE_BYTES_MAX {
                    break;
                }
                values.push(RawDecidedValue::new(bytes.into(), engine_certificate(&certificate)));
            }
            Ok(None) => break,
            Err(error) => {
                tracing::error!(height, %error, "cannot serve a decided block");
                break;
            }
        }
    }
    values
}

fn check_signature(
    height: Height,
    round: Round,
    id: &BlockId,
    proposer: &ValidatorAddress,
    signature: &VoteSignature,
) -> Result<(), Rejection> {
    let preimage = parts_preimage(height, round, id, proposer);
    verify_strict(&proposer.0, &preimage, &signature.0).map_err(|_| Rejection::BadSignature)
}

async fn publish(channels: &Channels<Ctx>, stream: Stream) {
    for message in stream {
        if channels.network.send(NetworkMsg::PublishProposalPart(message)).await.is_err() {
            tracing::warn!("the network is gone; a proposal part is not sent");
            return;
        }
    }
}

/// The engine's certificate in the app's form (what the store keeps).
pub(crate) fn app_certificate(certificate: &EngineCertificate<Ctx>) -> CommitCertificate {
    CommitCertificate {
        height: certificate.height.0,
        round: certificate.round.as_u32().unwrap_or(0),
        block_hash: certificate.value_id.0,
        signatures: certificate
            .commit_signatures
            .iter()
            .map(|commit| CommitSignature { validator: commit.address.0, signature: commit.signature.0 })
            .collect(),
    }
}

/// A stored certificate in the engine's form (for value sync).
pub(crate) fn engine_certificate(certificate: &CommitCertificate) -> ExtendedCommitCertificate<Ctx> {
    ExtendedCommitCertificate {
        height: Height(certificate.height),
        round: Round::new(certificate.round),
        value_id: BlockId(certificate.block_hash),
        commit_signatures: certificate
            .signatures
            .iter()
            .map(|commit| {
                ExtendedCommitSignature::new(ValidatorAddress(commit.validator), VoteSignature(commit.signature), None)
            })
            .collect(),
    }
}

/// The proposer of `height` and `round` among `validators`.
fn proposer_of(validators: &ValidatorSet, height: Height, round: Round) -> ValidatorAddress {
    *Ctx.select_proposer(validators, height, round).address()
}
