//! One conformance suite, run against every store.

use super::*;
use parlend_ledger::block::{Event, TxStatus, receipts_root, transactions_root};
use parlend_ledger::primitives::{Address, AssetId};

fn key(index: u8) -> StateKey {
    StateKey::Balance { owner: Address([index; 32]), asset: AssetId::from_static("USDC") }
}

/// Builds the commit of a block with `changes` on top of `store`'s head.
pub(crate) fn next_commit(store: &dyn Store, changes: WriteSet, tx_hashes: &[Hash]) -> BlockCommit {
    let head = store.head();
    let commitment = store.prepare_root(&changes).unwrap();
    let receipts: Vec<Receipt> = tx_hashes
        .iter()
        .map(|hash| Receipt { tx_hash: *hash, status: TxStatus::Success, events: vec![test_event(hash.0[0])] })
        .collect();
    let header = Header {
        chain_id: 7,
        height: head.as_ref().map_or(0, |head| head.height + 1),
        parent_hash: head.as_ref().map_or(Hash::ZERO, |head| head.hash),
        timestamp: 1_700_000_000,
        transaction_count: u32::try_from(receipts.len()).unwrap(),
        transactions_root: transactions_root(tx_hashes),
        state_root: commitment.root(),
        receipts_root: receipts_root(&receipts),
    };
    BlockCommit {
        header,
        block_bytes: vec![1, 2, 3],
        receipts: receipts.into(),
        changes,
        commitment,
        certificate: None,
    }
}

/// An event of kind `tag % 3` concerning accounts `tag` and 200.
fn test_event(tag: u8) -> Event {
    Event { kind: u16::from(tag % 3), accounts: vec![Address([tag; 32]), Address([200; 32])], data: vec![tag] }
}

fn all_events(store: &dyn Store, address: Option<Address>, kind: Option<u16>) -> Vec<(u64, u8)> {
    let query = EventQuery { address, kind, from: EventPosition::block_start(0), to_height: u64::MAX, limit: 1_000 };
    let page = store.events(&query).unwrap();
    assert_eq!(page.next, None);
    page.events.iter().map(|indexed| (indexed.position.height, indexed.event.data[0])).collect()
}

/// Pages through the events of a chain of 60 blocks of 3 transactions.
pub(crate) fn event_paging(store: &dyn Store) {
    store.commit(next_commit(store, WriteSet::new(), &[])).unwrap();
    for height in 1..=60u8 {
        let hashes: Vec<Hash> = (0..3).map(|index| Hash([height.wrapping_mul(3).wrapping_add(index); 32])).collect();
        store.commit(next_commit(store, WriteSet::new(), &hashes)).unwrap();
    }
    let mut seen = Vec::new();
    let mut query = EventQuery {
        address: Some(Address([200; 32])),
        kind: None,
        from: EventPosition::block_start(10),
        to_height: 49,
        limit: 7,
    };
    let mut pages = 0;
    loop {
        let page = store.events(&query).unwrap();
        assert!(page.events.len() <= 7);
        pages += 1;
        seen.extend(page.events.iter().map(|indexed| indexed.position));
        match page.next {
            Some(next) => query.from = next,
            None => break,
        }
    }
    // Blocks 10..=49, three events each, every one in chain order, once.
    assert_eq!(seen.len(), 120);
    assert_eq!(pages, 18);
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!((seen[0].height, seen[119].height), (10, 49));
    // By kind and by account and kind: only matching events.
    let kind_one = all_events(store, None, Some(1));
    assert_eq!(kind_one.len(), 60);
    assert!(kind_one.iter().all(|(_, tag)| tag % 3 == 1));
    assert_eq!(all_events(store, Some(Address([7; 32])), None), vec![(2, 7)]);
    assert_eq!(all_events(store, Some(Address([7; 32])), Some(1)), vec![(2, 7)]);
    assert_eq!(all_events(store, Some(Address([7; 32])), Some(2)), vec![]);
}

fn value(bytes: &'static [u8]) -> Option<Value> {
    Some(Value::from_static(bytes))
}

/// Commits three blocks, reads everything back, reverts one.
pub(crate) fn conformance(store: &dyn Store) {
    assert!(store.head().is_none());
    let genesis = next_commit(store, WriteSet::from([(key(1), value(b"a")), (key(2), value(b"b"))]), &[]);
    store.commit(genesis).unwrap();
    assert_eq!(store.head().unwrap().height, 0);

    let tx = Hash([9; 32]);
    let first = next_commit(store, WriteSet::from([(key(1), value(b"c")), (key(3), value(b"d"))]), &[tx]);
    let first_root = first.header.state_root;
    store.commit(first).unwrap();
    assert_eq!(store.get(&key(1)).unwrap(), value(b"c"));
    assert_eq!(store.tx_location(&tx).unwrap(), Some(TxLocation { height: 1, index: 0 }));
    assert_eq!(store.receipts(1).unwrap().unwrap().len(), 1);
    assert_eq!(store.block_bytes(1).unwrap(), Some(vec![1, 2, 3]));
    let first_hash = store.head().unwrap().hash;
    assert_eq!(store.block_height(&first_hash).unwrap(), Some(1));
    assert_eq!(store.state_root(), first_root);
    assert_proves(store, 1, &[(key(1), value(b"c")), (key(2), value(b"b")), (key(3), value(b"d")), (key(4), None)]);

    // A block that does not extend the head is refused and changes nothing.
    let mut stale = next_commit(store, WriteSet::from([(key(1), value(b"x"))]), &[]);
    stale.header.parent_hash = Hash([1; 32]);
    assert!(store.commit(stale).is_err());
    assert_eq!(store.get(&key(1)).unwrap(), value(b"c"));
    assert_eq!(store.head().unwrap().height, 1);

    let mut second = next_commit(store, WriteSet::from([(key(2), None), (key(1), value(b"e"))]), &[Hash([8; 32])]);
    second.certificate = Some(vec![4, 5, 6]);
    store.commit(second).unwrap();
    assert_eq!(store.certificate(2).unwrap(), Some(vec![4, 5, 6]), "stored with its block");
    assert_eq!(store.certificate(1).unwrap(), None);
    assert_eq!(store.get(&key(2)).unwrap(), None);
    // Every kept height proves its own values.
    assert_proves(store, 2, &[(key(1), value(b"e")), (key(2), None), (key(3), value(b"d"))]);
    assert_proves(store, 1, &[(key(1), value(b"c")), (key(2), value(b"b"))]);
    assert_proves(store, 0, &[(key(1), value(b"a")), (key(3), None)]);
    assert!(store.prove(&key(1), 3).unwrap().is_none(), "above the head");
    assert_eq!(store.get_at(&key(1), 3).unwrap(), None, "above the head");
    assert_eq!(all_events(store, None, None), vec![(1, 9), (2, 8)]);
    assert_eq!(all_events(store, Some(Address([8; 32])), Some(2)), vec![(2, 8)]);

    let mut seen = Vec::new();
    let prefix = [2u8]; // Balance keys.
    store
        .scan(&prefix, &mut |key, _| {
            seen.push(key);
            true
        })
        .unwrap();
    assert_eq!(seen, vec![key(1), key(3)]);

    store.revert_to(1).unwrap();
    assert_eq!(store.head().unwrap().height, 1);
    assert_eq!(store.certificate(2).unwrap(), None, "reverted with its block");
    assert_eq!(store.get(&key(1)).unwrap(), value(b"c"));
    assert_eq!(store.get(&key(2)).unwrap(), value(b"b"));
    assert_eq!(store.state_root(), first_root);
    assert_eq!(store.tx_location(&Hash([8; 32])).unwrap(), None);
    assert_eq!(all_events(store, None, None), vec![(1, 9)], "reverted with its block");
    assert_eq!(all_events(store, Some(Address([200; 32])), Some(2)), vec![]);
    assert_eq!(store.header(2).unwrap(), None);
    assert_eq!(store.block_height(&first_hash).unwrap(), Some(1));
    assert!(store.prove(&key(1), 2).unwrap().is_none(), "reverted");
    assert_eq!(store.get_at(&key(1), 2).unwrap(), None, "reverted");
    assert_proves(store, 1, &[(key(1), value(b"c")), (key(2), value(b"b"))]);
    // The chain grows again from the reverted height.
    let again = next_commit(store, WriteSet::from([(key(2), None), (key(4), value(b"f"))]), &[]);
    let again_root = again.header.state_root;
    store.commit(again).unwrap();
    assert_eq!(store.state_root(), again_root);
    assert_proves(store, 2, &[(key(1), value(b"c")), (key(2), None), (key(4), value(b"f"))]);
    store.revert_to(1).unwrap();

    store.revert_to(0).unwrap();
    assert_eq!(store.get(&key(3)).unwrap(), None);
    assert_eq!(store.tx_location(&tx).unwrap(), None);
}

/// Each `(key, value)` is proven at `height` against that height's header,
/// and read back as of that height.
fn assert_proves(store: &dyn Store, height: u64, expected: &[(StateKey, Option<Value>)]) {
    let root = store.header(height).unwrap().unwrap().state_root;
    for (key, value) in expected {
        let (proven, proof) = store.prove(key, height).unwrap().unwrap();
        assert_eq!(&proven, value, "{key} at {height}");
        proof.verify(&root, key, value.as_deref()).unwrap();
        assert_eq!(store.get_at(key, height).unwrap().as_ref(), Some(value), "{key} read at {height}");
    }
}

/// Random blocks of writes and deletions: after each, the store's root is
/// the root rebuilt from scratch from its flat state.
pub(crate) fn incremental_equals_rebuilt(store: &dyn Store, seed: u64) {
    let mut random = seed;
    let mut next = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    for _ in 0..12 {
        let mut changes = WriteSet::new();
        for _ in 0..next() % 40 {
            let index = (next() % 64) as u8;
            let written = (next() % 4 != 0).then(|| Value::from(next().to_be_bytes().to_vec()));
            changes.insert(key(index), written);
        }
        store.commit(next_commit(store, changes, &[])).unwrap();
        let mut state = Vec::new();
        store
            .scan(&[], &mut |key, value| {
                state.push((key, value));
                true
            })
            .unwrap();
        let rebuilt = parlend_ledger::state::state_root_of(state).unwrap();
        assert_eq!(store.state_root(), rebuilt);
        assert_eq!(store.head().unwrap().header.state_root, rebuilt);
    }
}

#[test]
fn memory_store_root_equals_rebuilt() {
    for seed in 1..6 {
        incremental_equals_rebuilt(&MemoryStore::new(), seed);
    }
}

#[test]
fn rocks_store_root_equals_rebuilt() {
    let directory = tempfile::tempdir().unwrap();
    let store =
        RocksStore::open(directory.path(), RocksStoreOptions { sync: false, ..RocksStoreOptions::default() }).unwrap();
    incremental_equals_rebuilt(&store, 42);
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryStore::new());
    event_paging(&MemoryStore::new());
}

#[test]
fn rocks_store_pages_through_events() {
    let directory = tempfile::tempdir().unwrap();
    event_paging(&RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap());
}

#[test]
fn rocks_store_conforms_and_recovers() {
    let directory = tempfile::tempdir().unwrap();
    let root = {
        let store = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
        conformance(&store);
        let block = next_commit(&store, WriteSet::from([(key(5), value(b"z"))]), &[Hash([4; 32])]);
        store.commit(block).unwrap();
        store.state_root()
    };
    let reopened = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
    assert_eq!(reopened.head().unwrap().height, 1);
    assert_eq!(reopened.state_root(), root);
    assert_eq!(reopened.get(&key(5)).unwrap(), value(b"z"));
    assert_eq!(reopened.tx_location(&Hash([4; 32])).unwrap(), Some(TxLocation { height: 1, index: 0 }));
}

#[test]
fn rocks_store_answers_the_head_and_past_state_while_a_block_is_written() {
    let directory = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap());
    store.commit(next_commit(&*store, WriteSet::from([(key(1), value(b"a"))]), &[])).unwrap();
    // What a commit holds across its batch and fsync.
    let writing = store.writer.write();
    let reader = store.clone();
    let (answer, answers) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let head = reader.head().map(|head| head.height);
        answer.send((head, reader.state_root(), reader.get_at(&key(1), 0).unwrap())).unwrap();
    });
    let (head, root, value_then) =
        answers.recv_timeout(std::time::Duration::from_secs(10)).expect("answered without waiting for the write");
    drop(writing);
    assert_eq!((head, root, value_then), (Some(0), store.state_root(), Some(value(b"a"))));
}

/// A RocksDB store of one committed block in `directory`, then `tamper`
/// run on its raw database behind the store's back; reopening must fail
/// with a root mismatch.
fn reopening_after_tampering_fails(tamper: impl FnOnce(&rocksdb::DB)) {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
        store.commit(next_commit(&store, WriteSet::from([(key(1), value(b"a"))]), &[])).unwrap();
    }
    {
        let mut options = rocksdb::Options::default();
        options.create_missing_column_families(true);
        let families = rocksdb::DB::list_cf(&options, directory.path()).unwrap();
        tamper(&rocksdb::DB::open_cf(&options, directory.path(), families).unwrap());
    }
    let error = RocksStore::open(directory.path(), RocksStoreOptions::default()).err().unwrap();
    assert!(matches!(error, StoreError::RootMismatch { height: 0, .. }), "{error}");
}

/// The raw database of the store in `directory` (closed).
fn raw_db(directory: &std::path::Path) -> rocksdb::DB {
    let options = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&options, directory).unwrap();
    rocksdb::DB::open_cf(&options, directory, families).unwrap()
}

/// The event and transaction indexes are written behind the chain, without
/// the write-ahead log: a crash may lose them. Reopening indexes again every
/// height from `events_next` on, from the stored receipts.
#[test]
fn rocks_store_catches_its_indexes_up_on_open() {
    let directory = tempfile::tempdir().unwrap();
    let before = {
        let store = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
        store.commit(next_commit(&store, WriteSet::new(), &[])).unwrap();
        for height in 1..=5u8 {
            store.commit(next_commit(&store, WriteSet::new(), &[Hash([height; 32]), Hash([height + 50; 32])])).unwrap();
        }
        all_events(&store, None, None)
    };
    assert_eq!(before.len(), 10);
    {
        // Heights 3 to 5 lost: their entries gone, the index back at 3.
        let db = raw_db(directory.path());
        let events = db.cf_handle("events").unwrap();
        let lost: Vec<Box<[u8]>> = db
            .iterator_cf(events, rocksdb::IteratorMode::Start)
            .map(|item| item.unwrap().0)
            .filter(|key| key[key.len() - 14..key.len() - 6] >= 3u64.to_be_bytes()[..])
            .collect();
        assert!(lost.len() >= 3 * 2 * 6, "{} entries of heights 3 to 5", lost.len());
        for key in lost {
            db.delete_cf(events, key).unwrap();
        }
        let transactions = db.cf_handle("tx_index").unwrap();
        for height in 3..=5u8 {
            db.delete_cf(transactions, [height; 32]).unwrap();
            db.delete_cf(transactions, [height + 50; 32]).unwrap();
        }
        db.put_cf(db.cf_handle("meta").unwrap(), b"events_next", 3u64.to_be_bytes()).unwrap();
    }
    let reopened = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
    assert_eq!(all_events(&reopened, None, None), before);
    assert_eq!(all_events(&reopened, Some(Address([200; 32])), None), before);
    assert_eq!(all_events(&reopened, Some(Address([4; 32])), None), vec![(4, 4)]);
    assert_eq!(reopened.tx_location(&Hash([4; 32])).unwrap(), Some(TxLocation { height: 4, index: 0 }));
    assert_eq!(reopened.tx_location(&Hash([55; 32])).unwrap(), Some(TxLocation { height: 5, index: 1 }));
    assert_eq!(reopened.tx_location(&Hash([2; 32])).unwrap(), Some(TxLocation { height: 2, index: 0 }));
}

/// The indexes skip the write-ahead log: a crash loses their writes since
/// the last flush. Here the crash is a copy of the store's files taken while
/// it runs (what kill -9 leaves on disk): the copy holds the blocks and
/// their receipts but no index entry, and `events_next` as recorded at the
/// first open; opening it indexes every height again.
#[test]
fn rocks_store_reindexes_what_a_crash_lost() {
    let (directory, crashed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
    store.commit(next_commit(&store, WriteSet::new(), &[])).unwrap();
    for height in 1..=5u8 {
        store.commit(next_commit(&store, WriteSet::new(), &[Hash([height; 32]), Hash([height + 50; 32])])).unwrap();
    }
    let before = all_events(&store, None, None);
    assert_eq!(before.len(), 10);
    for entry in std::fs::read_dir(directory.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), crashed.path().join(entry.file_name())).unwrap();
    }
    {
        let db = raw_db(crashed.path());
        let events = db.cf_handle("events").unwrap();
        assert!(db.iterator_cf(events, rocksdb::IteratorMode::Start).next().is_none(), "index entries in the WAL");
        let next = db.get_cf(db.cf_handle("meta").unwrap(), b"events_next").unwrap();
        assert_eq!(next.as_deref(), Some(&0u64.to_be_bytes()[..]));
    }
    let reopened = RocksStore::open(crashed.path(), RocksStoreOptions::default()).unwrap();
    assert_eq!(all_events(&reopened, None, None), before);
    assert_eq!(reopened.tx_location(&Hash([54; 32])).unwrap(), Some(TxLocation { height: 4, index: 1 }));
}

#[test]
fn rocks_store_detects_state_that_does_not_match_its_head() {
    reopening_after_tampering_fails(|db| {
        db.put_cf(db.cf_handle("state").unwrap(), key(1).encode(), b"tampered").unwrap();
    });
}

#[test]
fn rocks_store_detects_a_tree_that_does_not_match_its_state() {
    // Drop the tree's nodes: the flat state still matches the head, the
    // stored tree does not.
    reopening_after_tampering_fails(|db| {
        let nodes = db.cf_handle("tree_nodes").unwrap();
        let keys: Vec<Box<[u8]>> =
            db.iterator_cf(nodes, rocksdb::IteratorMode::Start).map(|item| item.unwrap().0).collect();
        for key in keys {
            db.delete_cf(nodes, key).unwrap();
        }
    });
}

#[test]
fn a_corrupt_tree_node_is_named_in_the_error() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
        store.commit(next_commit(&store, WriteSet::from([(key(1), value(b"a")), (key(2), value(b"b"))]), &[])).unwrap();
    }
    {
        // Every node of the tree replaced by an unknown variant.
        let db = raw_db(directory.path());
        let nodes = db.cf_handle("tree_nodes").unwrap();
        let keys: Vec<Box<[u8]>> =
            db.iterator_cf(nodes, rocksdb::IteratorMode::Start).map(|item| item.unwrap().0).collect();
        for key in keys {
            db.put_cf(nodes, key, [7]).unwrap();
        }
    }
    let error = RocksStore::open(directory.path(), RocksStoreOptions::default()).err().unwrap();
    let StoreError::Corrupt { what, reason } = &error else { panic!("{error}") };
    assert_eq!(what, "state tree node NodeAt { version: 0, path: TreePath() }", "{error}");
    assert_eq!(reason, "node variant 7");
}

/// Block `n` of a long chain that repeats every 5 blocks' shape: 16 keys
/// rewritten, one deleted, one written back.
fn churn(n: u64) -> WriteSet {
    let mut changes: WriteSet = (0..16u8).map(|k| (key(k), Some(Value::from(n.to_be_bytes().to_vec())))).collect();
    changes.insert(key(100 + (n % 5) as u8), None);
    changes.insert(key(100 + ((n + 2) % 5) as u8), Some(Value::from(vec![(n % 251) as u8; 3])));
    changes
}

/// A store keeping 4 heights: over 80 blocks, proofs within the window
/// verify, older heights are pruned (no proof, no revert), the flat state
/// still hashes to the head's root, and what the tree stores stops growing
/// once the window is full (`stored` counts nodes and values).
fn prunes_to_its_window(store: &dyn Store, stored: &dyn Fn() -> (usize, usize)) {
    let mut sizes = Vec::new();
    for n in 0..80 {
        store.commit(next_commit(store, churn(n), &[])).unwrap();
        sizes.push(stored());
    }
    assert_eq!(store.pruned_below(), 76);
    for height in 76..80 {
        let root = store.header(height).unwrap().unwrap().state_root;
        for key in [key(0), key(100), key(101), key(102), key(200)] {
            let (value, proof) = store.prove(&key, height).unwrap().unwrap();
            proof.verify(&root, &key, value.as_deref()).unwrap();
        }
    }
    assert!(store.prove(&key(0), 75).unwrap().is_none(), "a pruned height proves nothing");
    assert_eq!(store.get_at(&key(0), 75).unwrap(), None, "a pruned height reads nothing");
    assert_eq!(store.get_at(&key(0), 76).unwrap(), Some(Some(Value::from(76u64.to_be_bytes().to_vec()))));
    assert!(store.revert_to(75).is_err(), "a pruned height cannot be reverted to");
    assert_eq!(sizes[79], sizes[39], "the stored tree grows with the chain");
    let mut state = Vec::new();
    store
        .scan(&[], &mut |key, value| {
            state.push((key, value));
            true
        })
        .unwrap();
    assert_eq!(parlend_ledger::state::state_root_of(state).unwrap(), store.state_root());
    store.revert_to(77).unwrap();
    store.commit(next_commit(store, churn(78), &[])).unwrap();
    assert_eq!(store.pruned_below(), 76);
}

#[test]
fn memory_store_prunes_to_its_window() {
    let store = MemoryStore::with_history(Some(4));
    prunes_to_its_window(&store, &|| store.tree_stored());
    let archive = MemoryStore::with_history(None);
    for n in 0..80 {
        archive.commit(next_commit(&archive, churn(n), &[])).unwrap();
    }
    assert_eq!(archive.pruned_below(), 0);
    assert!(archive.tree_stored().0 > 10 * store.tree_stored().0, "the archive keeps every height");
}

#[test]
fn rocks_store_prunes_to_its_window_and_reopens() {
    let directory = tempfile::tempdir().unwrap();
    let options = RocksStoreOptions { sync: false, history: Some(4) };
    {
        let store = RocksStore::open(directory.path(), options).unwrap();
        prunes_to_its_window(&store, &|| store.tree_stored().unwrap());
    }
    let store = RocksStore::open(directory.path(), options).unwrap();
    assert_eq!(store.pruned_below(), 76);
    assert!(store.prove(&key(0), 75).unwrap().is_none());
    let root = store.header(78).unwrap().unwrap().state_root;
    let (value, proof) = store.prove(&key(0), 78).unwrap().unwrap();
    proof.verify(&root, &key(0), value.as_deref()).unwrap();
}

/// A raw entry: key and value.
type RawEntry = (Box<[u8]>, Box<[u8]>);

/// Rewrites a closed store's stale indexes in the form earlier builds wrote:
/// an entry per stale node (version, node key) and per superseded key
/// (version, key hash → version).
fn split_stale_entries(directory: &std::path::Path) {
    let options = rocksdb::Options::default();
    let families = rocksdb::DB::list_cf(&options, directory).unwrap();
    let db = rocksdb::DB::open_cf(&options, directory, families).unwrap();
    let entries = |family| -> Vec<RawEntry> {
        db.iterator_cf(db.cf_handle(family).unwrap(), rocksdb::IteratorMode::Start).map(Result::unwrap).collect()
    };
    let (stale, stale_values) = (db.cf_handle("tree_stale").unwrap(), db.cf_handle("tree_stale_values").unwrap());
    let mut split = 0;
    for (version, blob) in entries("tree_stale") {
        let mut rest = &blob[..];
        while let Some((length, tail)) = rest.split_first_chunk::<2>() {
            let (node_key, tail) = tail.split_at(usize::from(u16::from_be_bytes(*length)));
            db.put_cf(stale, [&version[..], node_key].concat(), []).unwrap();
            rest = tail;
            split += 1;
        }
        db.delete_cf(stale, version).unwrap();
    }
    for (version, blob) in entries("tree_stale_values") {
        for record in blob.chunks_exact(40) {
            db.put_cf(stale_values, [&version[..], &record[..32]].concat(), &record[32..]).unwrap();
        }
        db.delete_cf(stale_values, version).unwrap();
    }
    assert!(split > 20, "the chain made nodes stale");
}

/// A store whose stale indexes an earlier build wrote (an entry per node
/// and per key) prunes them as it prunes its own: after the same blocks it
/// holds exactly the nodes and values of a store that never had them.
#[test]
fn rocks_store_prunes_stale_entries_of_earlier_builds() {
    let options = RocksStoreOptions { sync: false, history: Some(4) };
    let (upgraded, fresh) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    {
        let store = RocksStore::open(upgraded.path(), options).unwrap();
        for n in 0..10 {
            store.commit(next_commit(&store, churn(n), &[])).unwrap();
        }
    }
    split_stale_entries(upgraded.path());
    let (upgraded, fresh) =
        (RocksStore::open(upgraded.path(), options).unwrap(), RocksStore::open(fresh.path(), options).unwrap());
    for n in 0..30 {
        if n >= 10 {
            upgraded.commit(next_commit(&upgraded, churn(n), &[])).unwrap();
        }
        fresh.commit(next_commit(&fresh, churn(n), &[])).unwrap();
    }
    assert_eq!(upgraded.state_root(), fresh.state_root());
    assert_eq!(upgraded.tree_stored().unwrap(), fresh.tree_stored().unwrap());
}
