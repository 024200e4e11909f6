//! End to end, block production: blocks fill under load, a batch admitted
//! in chunks to an idle node is one block, a batch being admitted when its
//! block is due lands whole, admission never waits for a
//! commit, a batch keeps each transaction's own verdict, a node killed while
//! its pipeline commits loses nothing it acknowledged, and blocks executed
//! in parts ahead of their cut replay whole.
//! Counts, not timings: nothing here depends on the machine's speed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use parlend_contracts::SignedTransaction;
use parlend_ledger::block::{Header, Receipt};
use parlend_ledger::state::{CommitmentUpdate, StateProof, StateReader, StoreError, Value, WriteSet};
use parlend_ledger::{Amount, AssetId, Hash, StateKey};
use parlend_node::node::{Node, NodeConfig};
use parlend_rpc::Client;
use parlend_rpc::types::{BlockParams, TxState};
use parlend_sim::workload::{WorkloadKind, rpc_workload};
use parlend_store::{BlockCommit, ChainHead, MemoryStore, Store, TxLocation};
use parlend_tests::{ChildNode, TestNode, asset, dev_keypair, signed_transfer};

/// Each block's transaction ids, in order, from height 1 to the head.
async fn block_transactions(client: &Client) -> Vec<Vec<Hash>> {
    let head = client.head().await.unwrap().height;
    let mut blocks = Vec::new();
    for height in 1..=head {
        let block = client.block(&BlockParams { height: Some(height), ..Default::default() }).await.unwrap().unwrap();
        blocks.push(block.transactions);
    }
    blocks
}

/// Transactions per block, in order, from height 1 to the head.
async fn block_sizes(client: &Client) -> Vec<usize> {
    block_transactions(client).await.iter().map(Vec::len).collect()
}

/// Waits until every one of `hashes` is committed.
async fn wait_committed(client: &Client, hashes: &[Hash]) {
    for hash in hashes {
        for attempt in 0.. {
            let status = client.transaction_status(*hash).await.unwrap();
            if status.status != TxState::Pending {
                assert_eq!(status.status, TxState::Committed, "{hash}: {status:?}");
                break;
            }
            assert!(attempt < 3_000, "{hash} still pending after 30 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_200_ms_interval_under_load_makes_blocks_of_hundreds() {
    const TRANSACTIONS: usize = 4_000;
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let workload = rpc_workload(WorkloadKind::Transfers, TRANSACTIONS, 200, 3, timestamp).unwrap();
    let mut config = NodeConfig::new(workload.genesis);
    config.block_time = Duration::from_millis(200);
    let node = TestNode::start(config).await;
    let mut hashes = Vec::new();
    for batch in workload.transactions.chunks(250) {
        let outcomes = node.client.send_many(batch, false).await.unwrap();
        for outcome in outcomes {
            hashes.push(outcome.accepted.expect("a valid transfer is admitted").hash);
        }
    }
    wait_committed(&node.client, &hashes).await;
    let sizes: Vec<usize> = block_sizes(&node.client).await.into_iter().filter(|size| *size > 0).collect();
    let blocks = sizes.len();
    eprintln!("{TRANSACTIONS} transactions in {blocks} blocks: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), TRANSACTIONS);
    assert!(blocks * 100 <= TRANSACTIONS, "{blocks} blocks for {TRANSACTIONS} transactions: blocks are not filling");
    node.stop().await;
}

/// A batch is admitted a chunk at a time, but an idle producer is woken
/// once the whole batch is in: it cuts one block with all of it, not one
/// with the first chunk and another an interval later with the rest. The
/// verdicts stay each transaction's own across chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_of_many_chunks_to_an_idle_node_is_one_block() {
    let mut config = NodeConfig::new(parlend_contracts::dev::dev_genesis());
    config.block_time = Duration::from_millis(200);
    let node = TestNode::start(config).await;
    // Idle for more than an interval: the next arrival is cut at once.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = node.client.head().await.unwrap().height;
    let mut batch: Vec<SignedTransaction> =
        (0..600u32).map(|index| transfer(1 + index % 5, u64::from(index / 5))).collect();
    // A repeat of an earlier transaction of the same batch, in a later chunk.
    batch.insert(450, batch[3].clone());
    let outcomes = node.client.send_many(&batch, false).await.unwrap();
    let accepted: Vec<Hash> = outcomes.iter().filter_map(|outcome| Some(outcome.accepted.as_ref()?.hash)).collect();
    assert_eq!(accepted.len(), 600, "every transfer but the repeat is admitted");
    assert!(outcomes[450].accepted.is_none() && outcomes[450].error.is_some(), "{:?}", outcomes[450]);
    wait_committed(&node.client, &accepted).await;
    let sizes: Vec<usize> =
        block_sizes(&node.client).await.into_iter().skip(usize::try_from(before).unwrap()).collect();
    assert_eq!(sizes, vec![600], "the batch was cut into several blocks");
    node.stop().await;
}

/// A block due while a batch is being admitted waits for it (with a grace
/// long enough for any batch here): under a trickle of single
/// transactions that keeps the producer cutting every 50 ms, batches of
/// 500 (four chunks) submitted between them each land whole in one block.
/// With `cut_grace` zero, cuts split such batches (three runs out of
/// three when this test was written). Each batch is sent once the one
/// before it is committed: a cut waits only for the batches in progress at
/// its deadline, so a batch begun while a cut waits for another can lose
/// its first chunks to that cut if the producer wakes late (seen once, in
/// a gate run with other node tests loading both cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_being_admitted_when_its_block_is_due_lands_whole() {
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let workload = rpc_workload(WorkloadKind::Transfers, 3_600, 120, 5, timestamp).unwrap();
    let mut config = NodeConfig::new(workload.genesis);
    config.block_time = Duration::from_millis(50);
    config.cut_grace = Some(Duration::from_secs(30));
    let node = TestNode::start(config).await;
    let trickle_signers: std::collections::HashSet<_> =
        workload.transactions.iter().map(|tx| tx.transaction.signer).take(20).collect();
    let (trickle, batched): (Vec<_>, Vec<_>) =
        workload.transactions.into_iter().partition(|tx| trickle_signers.contains(&tx.transaction.signer));
    let client = node.client.clone();
    let trickling = tokio::spawn(async move {
        let mut hashes = Vec::new();
        for transaction in &trickle {
            hashes.push(client.send(transaction, false).await.unwrap().hash);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        hashes
    });
    let mut batches = Vec::new();
    for (index, batch) in batched.chunks(500).enumerate() {
        tokio::time::sleep(Duration::from_millis(7 + 13 * index as u64 % 50)).await;
        let outcomes = node.client.send_many(batch, false).await.unwrap();
        let hashes: Vec<Hash> =
            outcomes.iter().map(|outcome| outcome.accepted.as_ref().expect("admitted").hash).collect();
        // Its last transaction committed, all of it is (admitted before).
        wait_committed(&node.client, &hashes[hashes.len() - 1..]).await;
        batches.push(hashes);
    }
    let trickled = trickling.await.unwrap();
    wait_committed(&node.client, &trickled).await;
    for batch in &batches {
        wait_committed(&node.client, batch).await;
    }
    let heights: std::collections::HashMap<Hash, usize> = block_transactions(&node.client)
        .await
        .into_iter()
        .enumerate()
        .flat_map(|(index, hashes)| hashes.into_iter().map(move |hash| (hash, index + 1)))
        .collect();
    for (index, batch) in batches.iter().enumerate() {
        let blocks: std::collections::BTreeSet<usize> = batch.iter().map(|hash| heights[hash]).collect();
        assert_eq!(blocks.len(), 1, "batch {index} of {} was split across blocks {blocks:?}", batches.len());
    }
    node.stop().await;
}

/// A memory store whose commits can be held at a gate, to catch anything
/// that waits for a commit.
#[derive(Default)]
struct GatedStore {
    inner: MemoryStore,
    closed: Mutex<bool>,
    opened: Condvar,
    /// Commits waiting at the gate.
    waiting: Mutex<usize>,
}

impl GatedStore {
    fn close(&self) {
        *self.closed.lock() = true;
    }

    fn open(&self) {
        *self.closed.lock() = false;
        self.opened.notify_all();
    }

    fn waiting(&self) -> usize {
        *self.waiting.lock()
    }
}

impl StateReader for GatedStore {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        self.inner.get(key)
    }
}

impl Store for GatedStore {
    fn head(&self) -> Option<ChainHead> {
        self.inner.head()
    }
    fn state_root(&self) -> Hash {
        self.inner.state_root()
    }
    fn prepare_root(&self, changes: &WriteSet) -> Result<CommitmentUpdate, StoreError> {
        self.inner.prepare_root(changes)
    }
    fn prove(&self, key: &StateKey, height: u64) -> Result<Option<(Option<Value>, StateProof)>, StoreError> {
        self.inner.prove(key, height)
    }
    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError> {
        let mut closed = self.closed.lock();
        *self.waiting.lock() += 1;
        while *closed {
            self.opened.wait(&mut closed);
        }
        *self.waiting.lock() -= 1;
        self.inner.commit(commit)
    }
    fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        self.inner.header(height)
    }
    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.block_bytes(height)
    }
    fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        self.inner.receipts(height)
    }
    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        self.inner.block_height(hash)
    }
    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        self.inner.tx_location(hash)
    }
    fn events(&self, query: &parlend_store::EventQuery) -> Result<parlend_store::EventPage, StoreError> {
        self.inner.events(query)
    }
    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(StateKey, Value) -> bool) -> Result<(), StoreError> {
        self.inner.scan(prefix, visit)
    }
    fn revert_to(&self, height: u64) -> Result<(), StoreError> {
        self.inner.revert_to(height)
    }
}

fn transfer(from: u32, nonce: u64) -> SignedTransaction {
    signed_transfer(&dev_keypair(from), nonce, dev_keypair(9).address(), asset("USDC"), Amount(1_000))
}

/// Admits `bytes` on another thread; the verdicts, or `None` if admission
/// did not answer within 20 s.
fn admit_on_a_thread(node: &Arc<Node>, bytes: Vec<Vec<u8>>) -> Option<Vec<bool>> {
    let (sender, receiver) = mpsc::channel();
    let node = node.clone();
    std::thread::spawn(move || {
        let verdicts = node.admit(&bytes).iter().map(Result::is_ok).collect::<Vec<_>>();
        let _ = sender.send(verdicts);
    });
    receiver.recv_timeout(Duration::from_secs(20)).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admission_never_waits_for_a_commit() {
    let store = Arc::new(GatedStore::default());
    let mut genesis_config = NodeConfig::new(parlend_contracts::dev::dev_genesis());
    genesis_config.block_time = Duration::ZERO;
    let handle = Node::start_on(store.clone(), genesis_config).await.unwrap();
    let node = handle.node.clone();
    store.close();
    // The first block's commit is held at the gate.
    assert_eq!(admit_on_a_thread(&node, vec![transfer(1, 0).encode()]), Some(vec![true]));
    for _ in 0..2_000 {
        if store.waiting() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.waiting(), 1, "the first block reached its commit");
    let head_during_commit = store.head().unwrap().height;
    // While it is held, admission answers every submission, and the next
    // block executes on top of the one being committed.
    let batch: Vec<Vec<u8>> = (0..50).map(|nonce| transfer(2, nonce).encode()).collect();
    assert_eq!(admit_on_a_thread(&node, batch), Some(vec![true; 50]), "admission waited for the commit");
    assert_eq!(admit_on_a_thread(&node, vec![transfer(1, 1).encode()]), Some(vec![true]));
    assert_eq!(store.head().unwrap().height, head_during_commit, "nothing was committed meanwhile");
    store.open();
    let client = Client::new(&format!("http://{}", handle.rpc_address)).unwrap();
    let last = transfer(2, 49).hash();
    wait_committed(&client, &[transfer(1, 0).hash(), transfer(1, 1).hash(), last]).await;
    assert_eq!(client.account(dev_keypair(2).address()).await.unwrap().nonce, 50);
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_with_one_bad_signature_rejects_exactly_that_one() {
    let node = TestNode::in_memory().await;
    let mut bad = transfer(8, 0).encode();
    // The signature is the last 64 bytes: flip one of its bits.
    let at = bad.len() - 10;
    bad[at] ^= 0x20;
    let single = node.client.send_raw(&bad, false).await.unwrap_err();
    let mut batch: Vec<String> =
        (0..20).map(|nonce| hex::encode(transfer(1 + nonce % 5, u64::from(nonce / 5)).encode())).collect();
    batch.insert(11, hex::encode(&bad));
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "sendTransactions",
        "params": {"transactions": batch}});
    let (status, response) = parlend_tests::post_raw(&node.url, body.to_string()).await;
    assert_eq!(status, 200);
    let outcomes = response["result"].as_array().unwrap();
    assert_eq!(outcomes.len(), 21);
    for (index, outcome) in outcomes.iter().enumerate() {
        if index == 11 {
            assert_eq!(outcome["error"]["code"].as_i64(), single.code().map(i64::from), "{outcome}");
            assert!(outcome["accepted"].is_null());
        } else {
            assert!(outcome["accepted"]["hash"].is_string(), "{index}: {outcome}");
        }
    }
    node.stop().await;
}

/// A transaction acknowledged as committed, and where.
#[derive(Debug, Clone)]
struct Acked {
    hash: Hash,
    height: u64,
    block_hash: Hash,
}

/// Sends batches of transfers from `sender` (waiting for their commits)
/// until the node dies; records the acknowledged ones.
async fn batch_load(url: String, sender: u32, acked: Arc<Mutex<Vec<Acked>>>) {
    let Ok(client) = Client::new(&url) else { return };
    let Ok(account) = client.account(dev_keypair(sender).address()).await else { return };
    let mut nonce = account.pending_nonce;
    loop {
        let batch: Vec<SignedTransaction> = (0..100)
            .map(|offset| {
                let to = dev_keypair((sender + 1 + offset) % 10).address();
                signed_transfer(&dev_keypair(sender), nonce + u64::from(offset), to, asset("USDC"), Amount(7))
            })
            .collect();
        nonce += 100;
        let Ok(outcomes) = client.send_many(&batch, true).await else { return };
        for outcome in outcomes {
            let Some(status) = outcome.accepted else { return };
            if status.status != TxState::Committed {
                return;
            }
            let receipt = status.receipt.expect("committed transactions have receipts");
            acked.lock().push(Acked {
                hash: status.hash,
                height: receipt.block_height,
                block_hash: receipt.block_hash,
            });
        }
    }
}

async fn supply(client: &Client) -> BTreeMap<AssetId, u128> {
    let mut totals = BTreeMap::new();
    for index in 0..10 {
        for balance in client.balances(dev_keypair(index).address()).await.unwrap().balances {
            *totals.entry(balance.asset).or_insert(0u128) += balance.amount.0;
        }
    }
    totals
}

async fn check_acknowledged(client: &Client, acked: &[Acked], round: usize) {
    for tx in acked {
        let receipt =
            client.receipt(tx.hash).await.unwrap().unwrap_or_else(|| panic!("round {round}: {} lost", tx.hash));
        assert_eq!((receipt.block_height, receipt.block_hash), (tx.height, tx.block_hash), "round {round}: moved");
    }
}

/// Replays the dev chain stored in `directory`, every hash checked.
fn replay(directory: &std::path::Path) -> parlend_log::replay::ReplaySummary {
    let store = parlend_store::RocksStore::open(directory, Default::default()).unwrap();
    parlend_log::replay::replay_store(
        &store,
        &parlend_contracts::dev::dev_genesis(),
        &parlend_log::replay::ReplayOptions { threads: 0, halt_at_height: None },
        &mut |_| {},
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_pipelined_commits_loses_nothing_acknowledged_and_the_chain_replays() {
    const ROUNDS: usize = 3;
    let directory = tempfile::tempdir().unwrap();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut expected_supply = None;
    for round in 0..ROUNDS {
        // On demand: blocks follow each other as fast as the pipeline runs.
        let node = ChildNode::spawn(directory.path(), &["--block-time-ms", "0"]);
        let client = Client::new(&node.url).unwrap();
        let so_far = acked.lock().clone();
        check_acknowledged(&client, &so_far, round).await;
        let totals = supply(&client).await;
        assert_eq!(*expected_supply.get_or_insert_with(|| totals.clone()), totals, "round {round}: supply changed");
        let load: Vec<_> =
            (1..=6).map(|sender| tokio::spawn(batch_load(node.url.clone(), sender, acked.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(1_500 + 700 * round as u64)).await;
        node.kill();
        for task in load {
            task.await.unwrap();
        }
    }
    let node = ChildNode::spawn(directory.path(), &["--block-time-ms", "0"]);
    let client = Client::new(&node.url).unwrap();
    let all = acked.lock().clone();
    check_acknowledged(&client, &all, ROUNDS).await;
    let acknowledged = acked.lock().len();
    assert!(acknowledged >= 1_000, "too little load to test anything: {acknowledged} acknowledged");
    let multi = block_sizes(&client).await.into_iter().filter(|size| *size > 1).count();
    assert!(multi > 0, "no block held more than one transaction");
    node.kill();
    // The chain the pipelined node produced replays, every hash checked.
    let summary = replay(directory.path());
    eprintln!("{acknowledged} acknowledged across {ROUNDS} kills; replayed {summary:?}");
}

/// `parlend_transactions_executed_ahead_total` of the node at `url`.
async fn executed_ahead(url: &str) -> u64 {
    let url = format!("{url}/metrics");
    let text = tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    })
    .await
    .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("parlend_transactions_executed_ahead_total ")?.parse().ok())
        .unwrap_or_else(|| panic!("no parlend_transactions_executed_ahead_total in\n{text}"))
}

/// With `--execute-ahead always` and a 400 ms interval, what waits at 300 ms
/// and at 350 ms is executed as parts of its block and the rest at the cut;
/// the chain made of such blocks replays whole (every block executed at
/// once), every state root, receipts root and hash checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocks_executed_ahead_in_parts_replay_whole() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(directory.path(), &["--block-time-ms", "400", "--execute-ahead", "always"]);
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    // Each sender waits for its batch's commit: six batches of 100 wait for
    // every block, from just after the one before.
    let load: Vec<_> =
        (1..=6).map(|sender| tokio::spawn(batch_load(node.url.clone(), sender, acked.clone()))).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ahead = loop {
        let ahead = executed_ahead(&node.url).await;
        if ahead >= 2_000 && acked.lock().len() >= 3_000 {
            break ahead;
        }
        assert!(std::time::Instant::now() < deadline, "{ahead} executed ahead, {} committed", acked.lock().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let client = Client::new(&node.url).unwrap();
    let committed = acked.lock().clone();
    check_acknowledged(&client, &committed, 0).await;
    node.kill();
    for task in load {
        task.await.unwrap();
    }
    let summary = replay(directory.path());
    eprintln!("{ahead} transactions executed ahead, {} acknowledged; replayed {summary:?}", committed.len());
}
