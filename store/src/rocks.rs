//! The RocksDB store.
//!
//! Column families (heights are 8-byte big-endian, so they sort):
//!
//! | family     | key                | value                         |
//! |------------|--------------------|-------------------------------|
//! | `state`    | encoded state key  | value bytes                   |
//! | `headers`  | height             | borsh(Header)                 |
//! | `blocks`   | height             | borsh(Block)                  |
//! | `receipts` | height             | borsh(`Vec<Receipt>`)         |
//! | `tx_index` | transaction id     | borsh(TxLocation), written behind the chain (`indexer.rs`) |
//! | `block_index` | block hash      | height                        |
//! | `undo`     | height             | borsh(previous values)        |
//! | `meta`     | `head`             | borsh(ChainHead)              |
//! | `certificates` | height         | the block's commit certificate (validator mode) |
//! | `tree_nodes` | version, borsh(nibble path) | borsh(jmt `Node`)          |
//! | `tree_values` | key hash, version | borsh(`Option<value>`): the value a version wrote |
//! | `tree_stale` | stale-since version | the node keys no longer in the latest tree since then, each 2-byte length-prefixed |
//! | `events`   | see `events.rs`    | the event index, written behind the chain (`indexer.rs`) |
//! | `tree_stale_values` | stale-since version | 40-byte records: a key hash and a version, below which that key's entries are superseded |
//! | `meta`     | `pruned_below`     | height: older trees are pruned |
//! | `meta`     | `events_next`      | height: the event and transaction indexes hold every lower one |
//!
//! The two stale indexes hold one entry per version (a block makes thousands
//! of nodes stale; an entry each cost a memtable insert each). Stores written
//! by earlier builds hold an entry per node or key (the version followed by
//! the node key or key hash); pruning reads both forms.
//!
//! Pruning (the last `history` heights are kept, [`RocksStoreOptions`])
//! runs in the block's batch: when block `h` is committed, the nodes and
//! values stale since a height up to `h + 1 - history` are deleted with
//! their index entries, and `pruned_below` moves to that height. A crash
//! therefore never leaves a half-pruned tree: the batch is written whole
//! or not at all.
//! The state tree (version = height) is read from `tree_nodes` and
//! `tree_values` when a block's root is prepared and when a key is proven;
//! its new nodes, values and stale entries go into the block's batch.
//! Tree nodes read or written are also kept in memory ([`NodeCache`]), in
//! the node's own form (`TreeNode`, written to `tree_nodes` as the crate's
//! encoding by `TreeNode::encode`): a node key names a version, so a node
//! never changes once written, and a block's update reads the latest
//! tree's nodes on its keys' paths without a RocksDB read and decode each,
//! nor a conversion to the crate's types (proofs convert what they read).
//! A block is one `WriteBatch`, written with `sync = true` unless configured
//! otherwise: after `commit` returns, the block survives a crash or power
//! loss. A crash before that leaves the previous block as the head, and the
//! write-ahead log guarantees no partial batch is ever visible. On open the
//! head is read back, the state root is rebuilt from scratch from `state`
//! and checked against the head's, and so is the stored tree's root at the
//! head's height: silent corruption, or a tree that disagrees with the flat
//! state, is found before anything runs.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::RwLock;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions,
};
use rustc_hash::FxHashMap;

use super::events::{IndexReader, index_entries, query_events};
use super::indexer::{EVENTS_NEXT_KEY, Indexer, catch_up};
use super::memory::check_restored;
use super::{BlockCommit, ChainHead, EventPage, EventQuery, Store, TxLocation, Undo, check_extends, decode, encode};
use parlend_ledger::access::StateKey;
use parlend_ledger::block::{Header, Receipt};
use parlend_ledger::primitives::Hash;
use parlend_ledger::state::tree::{LeafNode, NibblePath, Node, NodeKey, TreeReader};
use parlend_ledger::state::{
    ChildSlot, CommitmentUpdate, EMPTY_ROOT, NodeAt, StateProof, StateReader, StoreError, TreeNode, TreeNodes, Value,
    WriteSet, key_hash, oldest_kept, prepare_update, prove_at, root_at, state_root_of, superseded_below,
};

const CF_STATE: &str = "state";
const CF_HEADERS: &str = "headers";
const CF_BLOCKS: &str = "blocks";
const CF_RECEIPTS: &str = "receipts";
pub(crate) const CF_TX_INDEX: &str = "tx_index";
const CF_UNDO: &str = "undo";
const CF_BLOCK_INDEX: &str = "block_index";
pub(crate) const CF_META: &str = "meta";
const CF_CERTIFICATES: &str = "certificates";
const CF_TREE_NODES: &str = "tree_nodes";
const CF_TREE_VALUES: &str = "tree_values";
const CF_TREE_STALE: &str = "tree_stale";
pub(crate) const CF_EVENTS: &str = "events";
const CF_TREE_STALE_VALUES: &str = "tree_stale_values";
/// Compression by LSM level, the same for every column family: none in
/// levels 0 and 1, which memtable flushes and their first compaction
/// write while blocks commit (with zstd there the flush thread took 1.5
/// and 1.9 µs of CPU per transaction under full lending load, 0.6 and 0.7
/// without, most of it the event index's flushes), zstd from level 2 on,
/// where data settles and takes most of the space.
const COMPRESSION_BY_LEVEL: [DBCompressionType; 7] = [
    DBCompressionType::None,
    DBCompressionType::None,
    DBCompressionType::Zstd,
    DBCompressionType::Zstd,
    DBCompressionType::Zstd,
    DBCompressionType::Zstd,
    DBCompressionType::Zstd,
];
const FAMILIES: [&str; 14] = [
    CF_STATE,
    CF_HEADERS,
    CF_BLOCKS,
    CF_RECEIPTS,
    CF_TX_INDEX,
    CF_BLOCK_INDEX,
    CF_UNDO,
    CF_META,
    CF_CERTIFICATES,
    CF_TREE_NODES,
    CF_TREE_VALUES,
    CF_TREE_STALE,
    CF_EVENTS,
    CF_TREE_STALE_VALUES,
];
/// Above every key that starts with a version (8 bytes, then a nibble
/// path's borsh encoding, whose first byte is at most 64).
const ABOVE_EVERY_VERSION: [u8; 9] = [0xff; 9];
const HEAD_KEY: &[u8] = b"head";
const PRUNED_BELOW_KEY: &[u8] = b"pruned_below";

/// How many heights' state trees a node keeps by default.
pub const DEFAULT_STATE_HISTORY: u64 = 1_000;

/// How a [`RocksStore`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RocksStoreOptions {
    /// fsync every block (default). Off trades durability of the last
    /// blocks for speed; a crash still never leaves a partial block.
    pub sync: bool,
    /// How many heights' state trees to keep (proofs and reverts reach
    /// that far back); `None` keeps every height (archive).
    pub history: Option<u64>,
}

impl Default for RocksStoreOptions {
    fn default() -> Self {
        RocksStoreOptions { sync: true, history: Some(DEFAULT_STATE_HISTORY) }
    }
}

/// A store on RocksDB.
pub struct RocksStore {
    db: Arc<DB>,
    options: RocksStoreOptions,
    /// Held for writing across a commit or a revert (one writer at a
    /// time), for reading while a root is prepared or a key proven: neither
    /// runs against a tree being written.
    pub(crate) writer: RwLock<()>,
    /// The head, moved once the batch is durable; its lock is held only to
    /// read or move it, so reading the head never waits for a write.
    tip: RwLock<Option<ChainHead>>,
    /// Heights below this one are pruned; changed by the writer, raised
    /// before the batch that prunes them is written.
    pruned_below: AtomicU64,
    /// Tree nodes in memory.
    node_cache: NodeCache,
    /// The size of the last block's write batch: the next one is allocated
    /// at about that size at once (a batch is megabytes; growing it by
    /// doubling copied it and faulted in fresh pages several times).
    batch_bytes: AtomicUsize,
    /// Writes each committed block's event and transaction indexes behind
    /// the chain.
    indexer: Indexer,
}

fn store_error(error: rocksdb::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

fn decode_state_key(bytes: &[u8]) -> Result<StateKey, StoreError> {
    StateKey::decode(bytes).map_err(|error| StoreError::Corrupt {
        what: format!("state key {}", hex_prefix(bytes)),
        reason: error.to_string(),
    })
}

/// The first bytes of a key, in hex, for error messages.
fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

fn encode_undo(undo: &Undo) -> Vec<u8> {
    let raw: Vec<(StateKey, Option<&[u8]>)> = undo.iter().map(|(key, value)| (*key, value.as_deref())).collect();
    parlend_ledger::encode_canonical_sized(&raw)
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

fn decode_height(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let raw: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt { what: what.to_string(), reason: format!("{} bytes, not 8", bytes.len()) })?;
    Ok(u64::from_be_bytes(raw))
}

/// A column family of `db`.
pub(crate) fn family<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name).ok_or_else(|| StoreError::Io(format!("missing column family {name}")))
}

/// The head a store records, if any.
fn stored_head(db: &DB) -> Result<Option<ChainHead>, StoreError> {
    match db.get_cf(family(db, CF_META)?, HEAD_KEY).map_err(store_error)? {
        Some(bytes) => Some(decode(&bytes, "head")).transpose(),
        None => Ok(None),
    }
}

/// Brings the event and transaction indexes up to the head from the stored
/// receipts (a crash loses their writes since the last flush); returns the
/// next height to index. A store without `events_next` is new, or was
/// indexed in each block's batch: its index is at the head, which is
/// recorded (synced, through the write-ahead log) before the indexer writes
/// anything without it.
fn index_caught_up(db: &DB) -> Result<u64, StoreError> {
    let head = stored_head(db)?.map(|head| head.height);
    let next = match db.get_cf(family(db, CF_META)?, EVENTS_NEXT_KEY).map_err(store_error)? {
        Some(bytes) => decode_height(&bytes, "index height")?,
        None => {
            let next = head.map_or(0, |head| head + 1);
            let mut synced = WriteOptions::default();
            synced.set_sync(true);
            db.put_cf_opt(family(db, CF_META)?, EVENTS_NEXT_KEY, height_key(next), &synced).map_err(store_error)?;
            next
        }
    };
    catch_up(db, next, head, |height| {
        match db.get_cf(family(db, CF_RECEIPTS)?, height_key(height)).map_err(store_error)? {
            Some(bytes) => decode(&bytes, "receipts").map(Some),
            None => Ok(None),
        }
    })
}

/// A tree node's key: its version (big-endian, so versions sort) and its
/// nibble path (borsh, as the library encodes it).
fn node_key_bytes(at: &NodeAt) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + 12 + at.path.depth().div_ceil(2));
    bytes.extend_from_slice(&at.version.to_be_bytes());
    at.path.encode_into(&mut bytes);
    bytes
}

fn decode_node_key(bytes: &[u8]) -> Result<NodeKey, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { what: format!("tree node key {}", hex_prefix(bytes)), reason };
    let (version, path) = bytes.split_at_checked(8).ok_or_else(|| corrupt("shorter than a version".to_string()))?;
    let version = u64::from_be_bytes(version.try_into().map_err(|_| corrupt("bad version".to_string()))?);
    let path: NibblePath = borsh::from_slice(path).map_err(|error| corrupt(error.to_string()))?;
    Ok(NodeKey::new(version, path))
}

/// A `tree_stale_values` record: a key hash and a version.
const STALE_VALUE_BYTES: usize = 40;

/// The node keys a `tree_stale` entry names: its value's length-prefixed
/// keys, or (an earlier build's entry per node) the key after the version.
fn stale_node_keys<'a>(key: &'a [u8], entry: &'a [u8]) -> Result<Vec<&'a [u8]>, StoreError> {
    if key.len() > 8 {
        return Ok(vec![&key[8..]]);
    }
    let corrupt = || StoreError::Corrupt {
        what: format!("stale node entry {}", hex_prefix(key)),
        reason: "not a list of length-prefixed node keys".to_string(),
    };
    let mut keys = Vec::new();
    let mut rest = entry;
    while let Some((length, tail)) = rest.split_first_chunk::<2>() {
        let (node_key, tail) = tail.split_at_checked(usize::from(u16::from_be_bytes(*length))).ok_or_else(corrupt)?;
        keys.push(node_key);
        rest = tail;
    }
    if rest.is_empty() { Ok(keys) } else { Err(corrupt()) }
}

/// The (key hash, superseded below) pairs a `tree_stale_values` entry
/// names: its value's records, or (an earlier build's entry per key) the
/// key hash after the version and the value.
fn stale_value_ranges(key: &[u8], entry: &[u8]) -> Result<Vec<([u8; 32], u64)>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        what: format!("stale value entry {}", hex_prefix(key)),
        reason: "not key hashes and versions".to_string(),
    };
    if key.len() > 8 {
        let key_hash: [u8; 32] = key[8..].try_into().map_err(|_| corrupt())?;
        return Ok(vec![(key_hash, decode_height(entry, "stale value entry")?)]);
    }
    if !entry.len().is_multiple_of(STALE_VALUE_BYTES) {
        return Err(corrupt());
    }
    entry
        .chunks_exact(STALE_VALUE_BYTES)
        .map(|record| {
            let (key_hash, below) = record.split_at(32);
            Ok((key_hash.try_into().map_err(|_| corrupt())?, decode_height(below, "stale value entry")?))
        })
        .collect()
}

/// A value's key in `tree_values`: the key hash, then the version that wrote it.
fn value_key(key_hash: &[u8; 32], version: u64) -> [u8; 40] {
    let mut bytes = [0; 40];
    bytes[..32].copy_from_slice(key_hash);
    bytes[32..].copy_from_slice(&version.to_be_bytes());
    bytes
}

/// Bytes of memory the node cache may hold (estimated per node by
/// [`node_weight`]): the latest tree of about a million keys.
const NODE_CACHE_BYTES: usize = 192 << 20;

/// Tree nodes in memory, by node key: the latest tree's nodes that were
/// read or written. A node key carries the version that wrote it, so a
/// cached node is never stale: nodes join when read or committed, leave
/// when they leave the latest tree (their stale index is written), and a
/// revert empties the cache (versions above the target are written again,
/// under the same keys). Past its byte budget the cache starts over empty
/// (a tree larger than the budget reads from RocksDB, as without a cache).
#[derive(Default)]
struct NodeCache(RwLock<CachedNodes>);

impl NodeCache {
    /// Forgets every node (a revert, or a failed write: the heights above
    /// the head may be written again, with other nodes under the same keys).
    fn clear(&self) {
        *self.0.write() = CachedNodes::default();
    }
}

#[derive(Default)]
struct CachedNodes {
    nodes: FxHashMap<NodeAt, TreeNode>,
    bytes: usize,
}

impl CachedNodes {
    fn insert(&mut self, key: NodeAt, node: TreeNode) {
        if self.bytes > NODE_CACHE_BYTES {
            *self = CachedNodes::default();
        }
        self.bytes += node_weight(&node);
        if let Some(replaced) = self.nodes.insert(key, node) {
            self.bytes -= node_weight(&replaced);
        }
    }

    fn remove(&mut self, key: &NodeAt) {
        if let Some(removed) = self.nodes.remove(key) {
            self.bytes -= node_weight(&removed);
        }
    }
}

/// A node's approximate size in memory with its key: an internal node
/// boxes its children's slots (a hash, a version and a kind each).
fn node_weight(node: &TreeNode) -> usize {
    match node {
        TreeNode::Internal(children) => 160 + std::mem::size_of::<ChildSlot>() * children.len(),
        TreeNode::Leaf(_) => 160,
        TreeNode::Null => 96,
    }
}

/// `entries` in key order, as a batch's entries go in: RocksDB inserts
/// them into the memtable one by one, and sorted keys reuse the skip list's
/// search position where scattered ones search anew.
fn sorted(mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// A tree update's entries for the write batch, each family's in key order.
struct TreeEntries {
    nodes: Vec<(Vec<u8>, Vec<u8>)>,
    values: Vec<(Vec<u8>, Vec<u8>)>,
    stale: Vec<(Vec<u8>, Vec<u8>)>,
    stale_values: Vec<(Vec<u8>, Vec<u8>)>,
}

impl TreeEntries {
    /// The nodes, values and stale index entries (one per index) of `update`.
    fn of(update: &CommitmentUpdate) -> TreeEntries {
        let mut nodes = Vec::with_capacity(update.node_count());
        nodes.extend(update.nodes().map(|(at, node)| (node_key_bytes(&at), node.encode())));
        let nodes = sorted(nodes);
        let version_key = height_key(update.version()).to_vec();
        let mut stale_blob = Vec::new();
        for entry in update.stale_nodes() {
            let node_key = node_key_bytes(entry);
            let length = u16::try_from(node_key.len()).expect("a node key is a version and at most 64 nibbles");
            stale_blob.extend_from_slice(&length.to_be_bytes());
            stale_blob.extend_from_slice(&node_key);
        }
        // The library's values are in (version, key hash) order: one
        // version per update, so these keys are already in order.
        let mut values = Vec::with_capacity(update.value_count());
        values.extend(update.values().map(|((version, key_hash), value)| {
            (value_key(&key_hash.0, *version).to_vec(), encode(&value.as_deref()))
        }));
        let mut stale_values_blob = Vec::with_capacity(update.value_count() * STALE_VALUE_BYTES);
        for ((version, key_hash), value) in update.values() {
            stale_values_blob.extend_from_slice(&key_hash.0);
            stale_values_blob.extend_from_slice(&height_key(superseded_below(*version, value)));
        }
        let one_entry = |blob: Vec<u8>| if blob.is_empty() { Vec::new() } else { vec![(version_key.clone(), blob)] };
        let (stale, stale_values) = (one_entry(stale_blob), one_entry(stale_values_blob));
        TreeEntries { nodes, values, stale, stale_values }
    }
}

/// The state tree as stored: what the `jmt` library reads.
struct StoredTree<'a> {
    db: &'a DB,
    nodes: &'a ColumnFamily,
    values: &'a ColumnFamily,
    cache: &'a NodeCache,
}

impl StoredTree<'_> {
    /// The node at `at`: from the cache, else from RocksDB (then cached).
    fn node(&self, at: &NodeAt) -> Result<Option<TreeNode>, StoreError> {
        if let Some(node) = self.cache.0.read().nodes.get(at) {
            return Ok(Some(node.clone()));
        }
        match self.db.get_cf(self.nodes, node_key_bytes(at)).map_err(store_error)? {
            Some(bytes) => {
                let node = TreeNode::decode(&bytes).map_err(|error| match error {
                    // Name the node: its version and position.
                    StoreError::Corrupt { what, reason } => {
                        StoreError::Corrupt { what: format!("{what} {at:?}"), reason }
                    }
                    other => other,
                })?;
                self.cache.0.write().insert(*at, node.clone());
                Ok(Some(node))
            }
            None => Ok(None),
        }
    }

    fn value(&self, max_version: u64, key_hash: [u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        let from = value_key(&key_hash, max_version);
        let mut iterator = self.db.iterator_cf(self.values, IteratorMode::From(&from, Direction::Reverse));
        match iterator.next() {
            Some(item) => {
                let (key, value) = item.map_err(store_error)?;
                if !key.starts_with(&key_hash) {
                    return Ok(None);
                }
                decode::<Option<Vec<u8>>>(&value, "state tree value")
            }
            None => Ok(None),
        }
    }
}

impl TreeReader for StoredTree<'_> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.node(&NodeAt::of(node_key))?.map(|node| node.to_jmt()).transpose()?)
    }

    fn get_value_option(
        &self,
        max_version: u64,
        key_hash: parlend_ledger::state::KeyHash,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.value(max_version, key_hash.0)?)
    }

    /// The leaf with the greatest key hash, by a full scan (only the
    /// library's restore asks; nothing in parlend does).
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let mut rightmost: Option<(NodeKey, LeafNode)> = None;
        for item in self.db.iterator_cf(self.nodes, IteratorMode::Start) {
            let (key, value) = item.map_err(store_error)?;
            if let Node::Leaf(leaf) = decode::<Node>(&value, "state tree node")?
                && rightmost.as_ref().is_none_or(|(_, best)| leaf.key_hash() > best.key_hash())
            {
                rightmost = Some((decode_node_key(&key)?, leaf));
            }
        }
        Ok(rightmost)
    }
}

/// A block's update reads the nodes as cached or stored, without the
/// library's types.
impl TreeNodes for StoredTree<'_> {
    fn tree_node(&self, at: &NodeAt) -> Result<Option<Cow<'_, TreeNode>>, StoreError> {
        Ok(self.node(at)?.map(Cow::Owned))
    }
}

impl RocksStore {
    /// Opens (or creates) a store in `path`, recovering the head and
    /// checking the state against it.
    pub fn open(path: &Path, options: RocksStoreOptions) -> Result<RocksStore, StoreError> {
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_compression_per_level(&COMPRESSION_BY_LEVEL);
        // The indexer writes without the write-ahead log: its entries and its
        // progress (in another family) must reach the disk in the same flush.
        db_options.set_atomic_flush(true);
        let families = FAMILIES.iter().map(|name| {
            let mut family_options = Options::default();
            family_options.set_compression_per_level(&COMPRESSION_BY_LEVEL);
            ColumnFamilyDescriptor::new(*name, family_options)
        });
        let db = Arc::new(DB::open_cf_descriptors(&db_options, path, families).map_err(store_error)?);
        let indexer = Indexer::start(db.clone(), index_caught_up(&db)?)?;
        let store = RocksStore {
            db,
            options,
            tip: RwLock::new(None),
            writer: RwLock::new(()),
            pruned_below: AtomicU64::new(0),
            node_cache: NodeCache::default(),
            batch_bytes: AtomicUsize::new(0),
            indexer,
        };
        store.recover()?;
        Ok(store)
    }

    fn family(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        family(&self.db, name)
    }

    /// Waits for the receipt indexes to reach the head (or `height`, if
    /// lower): a read then finds every committed block's entries.
    fn indexed_to(&self, height: u64) -> Result<(), StoreError> {
        let head = self.tip.read().as_ref().map(|head| head.height);
        match head {
            Some(head) => self.indexer.wait_for(head.min(height)),
            None => Ok(()),
        }
    }

    fn recover(&self) -> Result<(), StoreError> {
        let head = stored_head(&self.db)?;
        let mut entries = Vec::new();
        for item in self.db.iterator_cf(self.family(CF_STATE)?, IteratorMode::Start) {
            let (key, value) = item.map_err(store_error)?;
            let key = decode_state_key(&key)?;
            entries.push((key, Value::from(value.into_vec())));
        }
        let rebuilt = state_root_of(entries)?;
        if let Some(head) = &head {
            let mismatch =
                |found| StoreError::RootMismatch { height: head.height, expected: head.header.state_root, found };
            if head.header.state_root != rebuilt {
                return Err(mismatch(rebuilt));
            }
            let stored = root_at(&self.tree()?, head.height)?;
            if stored != Some(rebuilt) {
                return Err(mismatch(stored.unwrap_or(Hash::ZERO)));
            }
        }
        let pruned_below = match self.db.get_cf(self.family(CF_META)?, PRUNED_BELOW_KEY).map_err(store_error)? {
            Some(bytes) => decode_height(&bytes, "pruned height")?,
            None => 0,
        };
        self.pruned_below.store(pruned_below, Ordering::SeqCst);
        *self.tip.write() = head;
        Ok(())
    }

    /// Adds to `batch` the deletion of every node and value that no height
    /// from `oldest` on reads, and of their stale entries.
    fn prune_into(&self, batch: &mut WriteBatch, oldest: u64) -> Result<(), StoreError> {
        let (nodes, values) = (self.family(CF_TREE_NODES)?, self.family(CF_TREE_VALUES)?);
        let (stale, stale_values) = (self.family(CF_TREE_STALE)?, self.family(CF_TREE_STALE_VALUES)?);
        let end = height_key(oldest + 1);
        // Entries stale since a height below the last pruning point are
        // gone already: seeking past them skips their deletion markers.
        let start = height_key(self.pruned_below());
        for item in self.db.iterator_cf(stale, IteratorMode::From(&start, Direction::Forward)) {
            let (key, entry) = item.map_err(store_error)?;
            if key[..] >= end[..] {
                break;
            }
            for node_key in stale_node_keys(&key, &entry)? {
                batch.delete_cf(nodes, node_key);
            }
            batch.delete_cf(stale, &key);
        }
        for item in self.db.iterator_cf(stale_values, IteratorMode::From(&start, Direction::Forward)) {
            let (key, entry) = item.map_err(store_error)?;
            if key[..] >= end[..] {
                break;
            }
            for (key_hash, below) in stale_value_ranges(&key, &entry)? {
                batch.delete_range_cf(values, value_key(&key_hash, 0), value_key(&key_hash, below));
            }
            batch.delete_cf(stale_values, &key);
        }
        batch.put_cf(self.family(CF_META)?, PRUNED_BELOW_KEY, height_key(oldest));
        Ok(())
    }

    /// How many tree nodes and value entries the store holds (a full scan).
    pub fn tree_stored(&self) -> Result<(usize, usize), StoreError> {
        let count = |family| -> Result<usize, StoreError> {
            let mut count = 0;
            for item in self.db.iterator_cf(self.family(family)?, IteratorMode::Start) {
                item.map_err(store_error)?;
                count += 1;
            }
            Ok(count)
        };
        Ok((count(CF_TREE_NODES)?, count(CF_TREE_VALUES)?))
    }

    /// Whether the store holds the state at `height`: committed and not
    /// pruned.
    fn holds(&self, height: u64) -> bool {
        self.tip.read().as_ref().is_some_and(|head| height <= head.height) && height >= self.pruned_below()
    }

    fn tree(&self) -> Result<StoredTree<'_>, StoreError> {
        Ok(StoredTree {
            db: &self.db,
            nodes: self.family(CF_TREE_NODES)?,
            values: self.family(CF_TREE_VALUES)?,
            cache: &self.node_cache,
        })
    }

    /// A write batch (sized like the last block's) with `commit`'s state
    /// changes in key order and the undo record of what they replace, its
    /// header, body, receipts and certificate.
    fn block_batch(&self, commit: &BlockCommit) -> Result<WriteBatch, StoreError> {
        let header = &commit.header;
        let height = height_key(header.height);
        let state = self.family(CF_STATE)?;
        let expected = self.batch_bytes.load(Ordering::Relaxed);
        let mut batch = WriteBatch::with_capacity_bytes(expected + expected / 4);
        let mut undo = Undo::with_capacity(commit.changes.len());
        let mut changes: Vec<(Vec<u8>, &StateKey, &Option<Value>)> =
            commit.changes.iter().map(|(key, value)| (key.encode(), key, value)).collect();
        changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // The undo record's previous values, read in one batched lookup of
        // the sorted keys (RocksDB shares the search across them) rather
        // than one lookup per key.
        let previous = self.db.batched_multi_get_cf(state, changes.iter().map(|change| &change.0), true);
        for ((encoded, key, value), previous) in changes.into_iter().zip(previous) {
            let previous = previous.map_err(store_error)?.map(|slice| Value::copy_from_slice(&slice));
            undo.push((*key, previous));
            match value {
                Some(value) => batch.put_cf(state, &encoded, value),
                None => batch.delete_cf(state, &encoded),
            }
        }
        batch.put_cf(self.family(CF_HEADERS)?, height, encode(header));
        batch.put_cf(self.family(CF_BLOCKS)?, height, &commit.block_bytes);
        batch.put_cf(self.family(CF_RECEIPTS)?, height, parlend_ledger::encode_canonical_sized(&*commit.receipts));
        batch.put_cf(self.family(CF_UNDO)?, height, encode_undo(&undo));
        if let Some(certificate) = &commit.certificate {
            batch.put_cf(self.family(CF_CERTIFICATES)?, height, certificate);
        }
        Ok(batch)
    }

    /// Adds a tree update's entries (built by [`TreeEntries::of`]) to `batch`.
    fn write_tree(&self, batch: &mut WriteBatch, entries: TreeEntries) -> Result<(), StoreError> {
        let TreeEntries { nodes, values, stale, stale_values } = entries;
        self.put_all(batch, CF_TREE_NODES, nodes)?;
        self.put_all(batch, CF_TREE_VALUES, values)?;
        self.put_all(batch, CF_TREE_STALE, stale)?;
        self.put_all(batch, CF_TREE_STALE_VALUES, stale_values)
    }

    /// Adds `entries` to `batch` in `family`, in the order given.
    fn put_all(
        &self,
        batch: &mut WriteBatch,
        family: &str,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let family = self.family(family)?;
        for (key, value) in entries {
            batch.put_cf(family, key, value);
        }
        Ok(())
    }

    /// A block's new nodes join the node cache, the nodes it made stale
    /// leave it (during the block's write: [`RocksStore::write_caching`]).
    fn cache_tree(&self, update: &CommitmentUpdate) {
        let mut cache = self.node_cache.0.write();
        for at in update.stale_nodes() {
            cache.remove(at);
        }
        for (at, node) in update.nodes() {
            cache.insert(at, node.clone());
        }
    }

    /// Writes a block's batch while another thread brings the node cache to
    /// the block's tree. Caching a new node before its write is safe: a node
    /// key carries its version, which no reader asks for before the head
    /// moves; a reader of the current head that misses a node just dropped
    /// as stale reads it from RocksDB, where it stays until pruned. If the
    /// write fails, the cache is emptied.
    fn write_caching(&self, batch: WriteBatch, update: &CommitmentUpdate) -> Result<(), StoreError> {
        let written = std::thread::scope(|scope| {
            let cached = scope.spawn(|| self.cache_tree(update));
            let written = self.write(batch);
            cached.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written
        });
        if written.is_err() {
            self.node_cache.clear();
        }
        written
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut write_options = WriteOptions::default();
        write_options.set_sync(self.options.sync);
        self.db.write_opt(batch, &write_options).map_err(store_error)
    }

    fn get_height<T: borsh::BorshDeserialize>(
        &self,
        family: &str,
        height: u64,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.db.get_cf(self.family(family)?, height_key(height)).map_err(store_error)? {
            Some(bytes) => decode(&bytes, what).map(Some),
            None => Ok(None),
        }
    }
}

impl IndexReader for RocksStore {
    fn scan_from(&self, start: &[u8], visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        let mode = IteratorMode::From(start, Direction::Forward);
        for item in self.db.iterator_cf(self.family(CF_EVENTS)?, mode) {
            let (key, value) = item.map_err(store_error)?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    fn get_entry(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.family(CF_EVENTS)?, key).map_err(store_error)
    }
}

impl StateReader for RocksStore {
    fn get(&self, key: &StateKey) -> Result<Option<Value>, StoreError> {
        let value = self.db.get_cf(self.family(CF_STATE)?, key.encode()).map_err(store_error)?;
        Ok(value.map(Value::from))
    }
}

impl Store for RocksStore {
    fn head(&self) -> Option<ChainHead> {
        self.tip.read().clone()
    }

    fn state_root(&self) -> Hash {
        self.tip.read().as_ref().map_or(EMPTY_ROOT, |head| head.header.state_root)
    }

    fn prepare_root(&self, changes: &WriteSet) -> Result<CommitmentUpdate, StoreError> {
        let _no_writer = self.writer.read();
        let version = self.tip.read().as_ref().map_or(0, |head| head.height + 1);
        prepare_update(&self.tree()?, version, changes)
    }

    fn prove(&self, key: &StateKey, height: u64) -> Result<Option<(Option<Value>, StateProof)>, StoreError> {
        let _no_writer = self.writer.read();
        if !self.holds(height) {
            return Ok(None);
        }
        let tree = self.tree()?;
        if root_at(&tree, height)?.is_none() {
            return Ok(None);
        }
        prove_at(&tree, key, height).map(Some)
    }

    fn get_at(&self, key: &StateKey, height: u64) -> Result<Option<Option<Value>>, StoreError> {
        if !self.holds(height) {
            return Ok(None);
        }
        let value = self.tree()?.value(height, key_hash(key).0)?;
        // A commit raises the bound before its batch deletes what it prunes:
        // a value read while that happened is refused here.
        if height < self.pruned_below() {
            return Ok(None);
        }
        Ok(Some(value.map(Value::from)))
    }

    fn pruned_below(&self) -> u64 {
        self.pruned_below.load(Ordering::SeqCst)
    }

    fn commit(&self, commit: BlockCommit) -> Result<(), StoreError> {
        // One writer at a time, and no root prepared or key proven while
        // the tree is written; readers of the head do not wait.
        let _writing = self.writer.write();
        check_extends(self.tip.read().as_ref(), &commit)?;
        let header = &commit.header;
        // The tree's entries are built and sorted on a second thread while
        // this one reads the undo record and adds the block's other entries.
        // The event and transaction indexes are written after the block, by
        // the indexer.
        let mut batch = std::thread::scope(|scope| {
            let tree = scope.spawn(|| TreeEntries::of(&commit.commitment));
            let batch = self.block_batch(&commit);
            let tree = tree.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let mut batch = batch?;
            self.write_tree(&mut batch, tree)?;
            Ok::<_, StoreError>(batch)
        })?;
        let pruned_below = match self.options.history {
            Some(history) => oldest_kept(header.height, history).max(self.pruned_below()),
            None => self.pruned_below(),
        };
        if pruned_below > self.pruned_below() {
            self.prune_into(&mut batch, pruned_below)?;
        }
        let head = ChainHead { height: header.height, hash: header.hash(), header: header.clone() };
        batch.put_cf(self.family(CF_BLOCK_INDEX)?, head.hash.0, height_key(header.height));
        batch.put_cf(self.family(CF_META)?, HEAD_KEY, encode(&head));
        self.batch_bytes.store(batch.size_in_bytes(), Ordering::Relaxed);
        // Raised first: a versioned read racing the pruning sees the new
        // bound after it read (`get_at`), and refuses what it found.
        self.pruned_below.store(pruned_below, Ordering::SeqCst);
        self.write_caching(batch, &commit.commitment)?;
        let height = head.height;
        *self.tip.write() = Some(head);
        // Under the writer lock: heights reach the indexer in order.
        self.indexer.index(height, commit.receipts);
        Ok(())
    }

    fn header(&self, height: u64) -> Result<Option<Header>, StoreError> {
        self.get_height(CF_HEADERS, height, "header")
    }

    fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.family(CF_BLOCKS)?, height_key(height)).map_err(store_error)
    }

    fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.family(CF_CERTIFICATES)?, height_key(height)).map_err(store_error)
    }

    fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, StoreError> {
        self.get_height(CF_RECEIPTS, height, "receipts")
    }

    /// Waits for the index to reach the head (or the query's last height,
    /// if lower) first.
    fn events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.indexed_to(query.to_height)?;
        query_events(self, query)
    }

    /// Waits for the index to reach the head first (`indexer.rs`).
    fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        self.indexed_to(u64::MAX)?;
        match self.db.get_cf(self.family(CF_TX_INDEX)?, hash.0).map_err(store_error)? {
            Some(bytes) => decode(&bytes, "transaction location").map(Some),
            None => Ok(None),
        }
    }

    fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        match self.db.get_cf(self.family(CF_BLOCK_INDEX)?, hash.0).map_err(store_error)? {
            Some(bytes) => {
                let raw: [u8; 8] = bytes.as_slice().try_into().map_err(|_| StoreError::Corrupt {
                    what: "block index".to_string(),
                    reason: format!("{} bytes, not 8", bytes.len()),
                })?;
                Ok(Some(u64::from_be_bytes(raw)))
            }
            None => Ok(None),
        }
    }

    fn scan(&self, prefix: &[u8], visit: &mut dyn FnMut(StateKey, Value) -> bool) -> Result<(), StoreError> {
        let mode = IteratorMode::From(prefix, Direction::Forward);
        for item in self.db.iterator_cf(self.family(CF_STATE)?, mode) {
            let (key, value) = item.map_err(store_error)?;
            if !key.starts_with(prefix) {
                break;
            }
            let key = decode_state_key(&key)?;
            if !visit(key, Value::from(value.into_vec())) {
                break;
            }
        }
        Ok(())
    }

    fn revert_to(&self, height: u64) -> Result<(), StoreError> {
        let _writing = self.writer.write();
        let Some(head) = self.tip.read().clone() else {
            return Err(StoreError::CannotRevert { height, reason: "the store is empty".to_string() });
        };
        if height > head.height {
            return Err(StoreError::CannotRevert { height, reason: format!("the head is {}", head.height) });
        }
        if height < self.pruned_below() {
            return Err(StoreError::CannotRevert { height, reason: "its state tree is pruned".to_string() });
        }
        // The reverted blocks' index entries are deleted below: they must
        // all be written first (no commit can queue more under the writer lock).
        self.indexer.wait_for(head.height)?;
        let target: Header =
            self.get_height(CF_HEADERS, height, "header")?.ok_or(StoreError::MissingBlock { height })?;
        let state = self.family(CF_STATE)?;
        let mut batch = WriteBatch::default();
        let mut restored = WriteSet::new();
        for reverted in (height + 1..=head.height).rev() {
            let undo: Undo = self
                .get_height::<Vec<(StateKey, Option<Vec<u8>>)>>(CF_UNDO, reverted, "undo")?
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, value.map(Value::from)))
                .collect();
            for (key, previous) in undo.into_iter().rev() {
                match &previous {
                    Some(value) => batch.put_cf(state, key.encode(), value),
                    None => batch.delete_cf(state, key.encode()),
                }
                batch.delete_cf(self.family(CF_TREE_VALUES)?, value_key(&key_hash(&key).0, reverted));
                restored.insert(key, previous);
            }
            let receipts: Vec<Receipt> = self.get_height(CF_RECEIPTS, reverted, "receipts")?.unwrap_or_default();
            for (key, _) in index_entries(reverted, &receipts)? {
                batch.delete_cf(self.family(CF_EVENTS)?, key);
            }
            for receipt in receipts {
                batch.delete_cf(self.family(CF_TX_INDEX)?, receipt.tx_hash.0);
            }
            if let Some(header) = self.get_height::<Header>(CF_HEADERS, reverted, "header")? {
                batch.delete_cf(self.family(CF_BLOCK_INDEX)?, header.hash().0);
            }
            for family in [CF_HEADERS, CF_BLOCKS, CF_RECEIPTS, CF_UNDO, CF_CERTIFICATES] {
                batch.delete_cf(self.family(family)?, height_key(reverted));
            }
        }
        let tree = self.tree()?;
        if root_at(&tree, height)? != Some(target.state_root) {
            return Err(StoreError::CannotRevert { height, reason: "its state tree is not kept".to_string() });
        }
        check_restored(&tree, height, &restored)?;
        // Tree nodes and stale entries of the reverted versions; their
        // values went key by key above.
        let above = height_key(height + 1);
        batch.delete_range_cf(self.family(CF_TREE_NODES)?, &above[..], &ABOVE_EVERY_VERSION[..]);
        batch.delete_range_cf(self.family(CF_TREE_STALE)?, &above[..], &ABOVE_EVERY_VERSION[..]);
        batch.delete_range_cf(self.family(CF_TREE_STALE_VALUES)?, &above[..], &ABOVE_EVERY_VERSION[..]);
        let new_head = ChainHead { height, hash: target.hash(), header: target };
        batch.put_cf(self.family(CF_META)?, HEAD_KEY, encode(&new_head));
        batch.put_cf(self.family(CF_META)?, EVENTS_NEXT_KEY, height_key(height + 1));
        self.write(batch)?;
        self.indexer.reverted_to(height);
        self.node_cache.clear();
        *self.tip.write() = Some(new_head);
        Ok(())
    }
}
