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
    let commitment = store.prepare_root(&changes);
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
    BlockCommit { header, block_bytes: vec![1, 2, 3], receipts, changes, commitment, certificate: None }
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

    store.revert_to(0).unwrap();
    assert_eq!(store.get(&key(3)).unwrap(), None);
    assert_eq!(store.tx_location(&tx).unwrap(), None);
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
fn rocks_store_detects_state_that_does_not_match_its_head() {
    let directory = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(directory.path(), RocksStoreOptions::default()).unwrap();
        store.commit(next_commit(&store, WriteSet::from([(key(1), value(b"a"))]), &[])).unwrap();
    }
    {
        // Tamper with the state behind the store's back.
        let mut options = rocksdb::Options::default();
        options.create_missing_column_families(true);
        let families = rocksdb::DB::list_cf(&options, directory.path()).unwrap();
        let db = rocksdb::DB::open_cf(&options, directory.path(), families).unwrap();
        db.put_cf(db.cf_handle("state").unwrap(), key(1).encode(), b"tampered").unwrap();
    }
    let error = RocksStore::open(directory.path(), RocksStoreOptions::default()).err().unwrap();
    assert!(matches!(error, StoreError::RootMismatch { height: 0, .. }), "{error}");
}
