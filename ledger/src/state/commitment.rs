//! The state root: the root of a Jellyfish Merkle tree over every key and
//! value, built with the `jmt` crate and SHA-256 (docs/encoding.md).
//!
//! ```text
//! key_hash(k)   = SHA-256(encoded state key k)           the leaf's path: 64 nibbles
//! value_hash(v) = SHA-256(v)
//! leaf          = SHA-256("JMT::LeafNode" || key_hash || value_hash)
//! internal      = SHA-256("JMT::IntrnalNode" || left || right)
//! empty subtree = the 32 bytes "SPARSE_MERKLE_PLACEHOLDER_HASH__"
//! ```
//!
//! The tree is versioned: version = block height. Updating it for a block
//! reads the nodes on the changed keys' paths at the parent's version and
//! returns a [`CommitmentUpdate`]: the new root and the new nodes and values,
//! which a store writes in the block's one atomic batch. Nothing is mutated
//! before that, so preparing a root never changes what readers see.
//!
//! [`StateCommitment`] keeps a tree in memory (the memory store, replay,
//! benchmarks and tests); the RocksDB store keeps its nodes in column
//! families. Both keep nodes in the node's own form ([`super::tree_node`])
//! and answer a block's update through [`TreeNodes`]; the library reads
//! them (proofs, its own update) through [`TreeReader`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, SimpleHasher, ValueHash, Version};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use super::proof::StateProof;
use super::tree_node::{NodeAt, TreeNode, TreeNodes, TreePath};
use super::tree_update::{TreeBatch, VersionedValue, prepare_writes, tree_threads};
use crate::access::StateKey;
use crate::primitives::{Hash, sha256_parts};
use crate::state::{StoreError, Value, WriteSet};

/// SHA-256 for the tree (the `jmt` crate's hasher interface over this
/// workspace's `sha2`).
pub struct TreeHasher(Sha256);

impl SimpleHasher for TreeHasher {
    fn new() -> Self {
        TreeHasher(Sha256::new())
    }

    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// The tree over a [`TreeReader`].
pub type StateTree<'a, R> = JellyfishMerkleTree<'a, R, TreeHasher>;

/// The root of the empty state.
pub const EMPTY_ROOT: Hash = Hash(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");

/// Where a key lives in the tree: SHA-256 of its canonical encoding.
pub fn key_hash(key: &StateKey) -> KeyHash {
    key_hash_in(key, &mut Vec::new())
}

/// What a leaf holds of a value: SHA-256 of its bytes.
pub fn value_hash(value: &[u8]) -> ValueHash {
    ValueHash(sha256_parts(&[value]))
}

/// [`key_hash`], encoding the key into `buffer` (emptied first), so that
/// hashing many keys allocates once.
pub(crate) fn key_hash_in(key: &StateKey, buffer: &mut Vec<u8>) -> KeyHash {
    buffer.clear();
    crate::encoding::encode_canonical_into(key, buffer);
    KeyHash(sha256_parts(&[buffer]))
}

/// A failure of the tree library as a store error: a [`StoreError`] raised
/// by a reader comes back as it was; anything else means the stored tree
/// does not hold what it should.
pub fn tree_error(error: anyhow::Error) -> StoreError {
    match error.downcast::<StoreError>() {
        Ok(error) => error,
        Err(error) => StoreError::Corrupt { what: "state tree".to_string(), reason: format!("{error:#}") },
    }
}

/// The result of preparing a block's root: the root and the tree's new
/// nodes, values and stale-node index entries at `version`.
#[derive(Debug, Clone)]
pub struct CommitmentUpdate {
    version: Version,
    root: Hash,
    /// Each new node once (all at `version`), in no particular order (in
    /// parts, as the update's threads made them).
    nodes: Vec<Vec<(TreePath, TreeNode)>>,
    /// In key order (one version), in parts one after the other.
    values: Vec<Vec<VersionedValue>>,
    /// Each node that leaves the latest tree once (in parts).
    stale: Vec<Vec<NodeAt>>,
}

impl CommitmentUpdate {
    /// An update made by the library, in the node's form.
    fn from_library(version: Version, root: Hash, batch: TreeUpdateBatch) -> Result<CommitmentUpdate, StoreError> {
        let mut nodes = Vec::with_capacity(batch.node_batch.nodes().len());
        for (key, node) in batch.node_batch.nodes() {
            if key.version() != version {
                return Err(tree_error(anyhow::anyhow!("the library wrote {key:?} in the update to {version}")));
            }
            nodes.push((TreePath::of(key.nibble_path()), TreeNode::of(node)?));
        }
        let values =
            batch.node_batch.values().iter().map(|(key, value)| (*key, value.clone().map(Value::from))).collect();
        // The library copies an unchanged root forward without marking the
        // old one stale: it is added here.
        let mut stale: BTreeSet<NodeAt> =
            batch.stale_node_index_batch.iter().map(|entry| NodeAt::of(&entry.node_key)).collect();
        if let Some(previous) = version.checked_sub(1)
            && nodes.iter().any(|(path, _)| path.is_root())
        {
            stale.insert(NodeAt { version: previous, path: TreePath::ROOT });
        }
        let (values, stale) = (vec![values], vec![stale.into_iter().collect()]);
        Ok(CommitmentUpdate { version, root, nodes: vec![nodes], values, stale })
    }

    /// An update made by [`super::tree_update`].
    fn from_batch(version: Version, batch: TreeBatch) -> CommitmentUpdate {
        let TreeBatch { root, nodes, values, stale } = batch;
        CommitmentUpdate { version, root: Hash(root), nodes, values, stale }
    }

    /// The state root after the writes.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The tree version (block height) the update creates.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The new nodes, each once, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeAt, &TreeNode)> {
        let version = self.version;
        self.nodes.iter().flatten().map(move |(path, node)| (NodeAt { version, path: *path }, node))
    }

    /// The values written (`None`: deleted), by version and key hash, in
    /// key order.
    pub fn values(&self) -> impl Iterator<Item = (&(Version, KeyHash), &Option<Value>)> {
        self.values.iter().flatten().map(|(key, value)| (key, value))
    }

    /// How many nodes [`CommitmentUpdate::nodes`] gives.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().map(Vec::len).sum()
    }

    /// How many values [`CommitmentUpdate::values`] gives.
    pub fn value_count(&self) -> usize {
        self.values.iter().map(Vec::len).sum()
    }

    /// The nodes that stop being part of the latest tree at this version,
    /// each once (the previous version's root among them).
    pub fn stale_nodes(&self) -> impl Iterator<Item = &NodeAt> {
        self.stale.iter().flatten()
    }

    /// How many nodes [`CommitmentUpdate::stale_nodes`] gives.
    pub fn stale_count(&self) -> usize {
        self.stale.iter().map(Vec::len).sum()
    }
}

/// Prepares the tree at `version` from the tree at `version - 1` (the empty
/// tree for version 0) and `writes`. Reads through `reader`, writes nothing.
/// A block that writes something to a tree whose root is an internal node
/// takes `super::tree_update` on [`tree_threads`] threads; anything else
/// (genesis, a tree of one key, an empty block) the library's update. The
/// tree is the same either way (for deletions a node's version may differ).
pub fn prepare_update<R: TreeNodes>(
    reader: &R,
    version: Version,
    writes: &WriteSet,
) -> Result<CommitmentUpdate, StoreError> {
    prepare_update_on(reader, version, writes, tree_threads())
}

/// [`prepare_update`] on `threads` threads.
pub fn prepare_update_on<R: TreeNodes>(
    reader: &R,
    version: Version,
    writes: &WriteSet,
    threads: usize,
) -> Result<CommitmentUpdate, StoreError> {
    match prepare_writes(reader, version, writes, threads)? {
        Some(batch) => Ok(CommitmentUpdate::from_batch(version, batch)),
        None => prepare_update_by_library(reader, version, writes),
    }
}

/// [`prepare_update`] by the `jmt` library alone, on one thread: the
/// reference the faster update is checked and measured against.
pub fn prepare_update_by_library<R: TreeReader>(
    reader: &R,
    version: Version,
    writes: &WriteSet,
) -> Result<CommitmentUpdate, StoreError> {
    let tree = StateTree::new(reader);
    let inserts_only = !writes.is_empty() && writes.values().all(Option::is_some);
    let (root, batch) = if inserts_only {
        let set: Vec<(KeyHash, OwnedValue)> =
            writes.iter().filter_map(|(key, value)| Some((key_hash(key), value.as_ref()?.to_vec()))).collect();
        // One pass over the tree that hashes each new node once.
        let (roots, batch) = tree.batch_put_value_sets(vec![set], None, version).map_err(tree_error)?;
        let root = roots.first().copied().ok_or_else(|| tree_error(anyhow::anyhow!("no root for the batch")))?;
        (root, batch)
    } else {
        // Deletions (and empty blocks) need the key-by-key path.
        let set = writes.iter().map(|(key, value)| (key_hash(key), value.as_ref().map(|value| value.to_vec())));
        tree.put_value_set(set, version).map_err(tree_error)?
    };
    CommitmentUpdate::from_library(version, Hash(root.0), batch)
}

/// The root of the tree at `version`, or `None` if it is not stored (never
/// written, reverted or pruned).
pub fn root_at<R: TreeReader>(reader: &R, version: Version) -> Result<Option<Hash>, StoreError> {
    let root = StateTree::new(reader).get_root_hash_option(version).map_err(tree_error)?;
    Ok(root.map(|root| Hash(root.0)))
}

/// The value of `key` at `version` and its proof against that version's
/// root. The caller checks first that the version is stored ([`root_at`]).
pub fn prove_at<R: TreeReader>(
    reader: &R,
    key: &StateKey,
    version: Version,
) -> Result<(Option<Value>, StateProof), StoreError> {
    let (value, proof) = StateTree::new(reader).get_with_proof(key_hash(key), version).map_err(tree_error)?;
    Ok((value.map(Value::from), StateProof::from_jmt(proof)))
}

/// The root of a whole state, built from scratch.
pub fn state_root_of(entries: impl IntoIterator<Item = (StateKey, Value)>) -> Result<Hash, StoreError> {
    Ok(StateCommitment::from_entries(entries)?.root())
}

/// Which versions a [`StateCommitment`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Every version (proofs at any height, reverts to any height).
    All,
    /// The last `n` versions (at least one): older nodes and values are
    /// pruned as each version is applied.
    Window(u64),
    /// Only the latest: memory follows the state, not the chain.
    Latest,
}

impl Retention {
    /// `Some(n)`: the last `n` versions; `None`: all of them.
    pub fn from_history(history: Option<u64>) -> Retention {
        history.map_or(Retention::All, |versions| Retention::Window(versions.max(1)))
    }
}

/// The oldest version a window of `history` versions keeps once `latest`
/// is written (everything below it may be pruned).
pub fn oldest_kept(latest: Version, history: u64) -> Version {
    (latest + 1).saturating_sub(history.max(1))
}

/// Where the values a write at `version` supersedes end (exclusive): a
/// write keeps its own entry, a deletion's tombstone goes with the older
/// entries once no kept version reads it.
pub fn superseded_below<V>(version: Version, value: &Option<V>) -> Version {
    if value.is_some() { version } else { version + 1 }
}

/// A versioned state tree in memory.
#[derive(Clone)]
pub struct StateCommitment {
    nodes: FxHashMap<NodeAt, TreeNode>,
    /// Values by key hash and the version that wrote them (`None`: deleted).
    values: BTreeMap<(KeyHash, Version), Option<Value>>,
    /// Stale nodes by the version since which they are stale.
    stale: BTreeMap<Version, Vec<NodeAt>>,
    /// Values superseded since a version: each key hash's entries below
    /// the given version are not read by that version or later ones.
    stale_values: BTreeMap<Version, Vec<(KeyHash, Version)>>,
    /// Versions below this one are pruned.
    pruned_below: Version,
    latest: Option<Version>,
    root: Hash,
    retention: Retention,
}

impl Default for StateCommitment {
    fn default() -> Self {
        StateCommitment::new()
    }
}

impl StateCommitment {
    /// The empty tree, keeping every version.
    pub fn new() -> StateCommitment {
        StateCommitment::with_retention(Retention::All)
    }

    /// The empty tree, keeping the versions `retention` says.
    pub fn with_retention(retention: Retention) -> StateCommitment {
        StateCommitment {
            nodes: FxHashMap::default(),
            values: BTreeMap::new(),
            stale: BTreeMap::new(),
            stale_values: BTreeMap::new(),
            pruned_below: 0,
            latest: None,
            root: EMPTY_ROOT,
            retention,
        }
    }

    /// The tree of a whole state at version 0, keeping only the latest version.
    pub fn from_entries(entries: impl IntoIterator<Item = (StateKey, Value)>) -> Result<StateCommitment, StoreError> {
        let writes: WriteSet = entries.into_iter().map(|(key, value)| (key, Some(value))).collect();
        let mut commitment = StateCommitment::with_retention(Retention::Latest);
        let update = commitment.prepare(&writes)?;
        commitment.apply(update)?;
        Ok(commitment)
    }

    /// The latest root.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The latest version, `None` while empty.
    pub fn version(&self) -> Option<Version> {
        self.latest
    }

    /// The version the next update creates.
    pub fn next_version(&self) -> Version {
        self.latest.map_or(0, |latest| latest + 1)
    }

    /// Computes the next version's root after `writes`; changes nothing.
    pub fn prepare(&self, writes: &WriteSet) -> Result<CommitmentUpdate, StoreError> {
        prepare_update(self, self.next_version(), writes)
    }

    /// Moves the tree to a prepared update, which must create the next version.
    pub fn apply(&mut self, update: CommitmentUpdate) -> Result<(), StoreError> {
        if update.version != self.next_version() {
            return Err(StoreError::Inconsistent {
                height: update.version,
                reason: "the tree update is not for the next version",
            });
        }
        let CommitmentUpdate { version, root, nodes, values, stale } = update;
        self.nodes.extend(nodes.into_iter().flatten().map(|(path, node)| (NodeAt { version, path }, node)));
        let keeps_history = self.retention != Retention::Latest;
        for ((value_version, key), value) in values.into_iter().flatten() {
            if keeps_history {
                self.stale_values.entry(version).or_default().push((key, superseded_below(value_version, &value)));
            }
            if self.retention == Retention::Latest {
                let older: Vec<(KeyHash, Version)> =
                    self.values.range((key, 0)..(key, value_version)).map(|(entry, _)| *entry).collect();
                for entry in older {
                    self.values.remove(&entry);
                }
            }
            if value.is_some() || keeps_history {
                self.values.insert((key, value_version), value);
            }
        }
        match self.retention {
            Retention::Latest => {
                for at in stale.into_iter().flatten() {
                    self.nodes.remove(&at);
                }
            }
            Retention::All | Retention::Window(_) => {
                self.stale.entry(version).or_default().extend(stale.into_iter().flatten());
            }
        }
        self.latest = Some(version);
        self.root = root;
        if let Retention::Window(history) = self.retention {
            self.prune(oldest_kept(version, history));
        }
        Ok(())
    }

    /// Drops every node and value no version from `oldest` on reads.
    fn prune(&mut self, oldest: Version) {
        if oldest <= self.pruned_below {
            return;
        }
        let kept_stale = self.stale.split_off(&(oldest + 1));
        for at in std::mem::replace(&mut self.stale, kept_stale).into_values().flatten() {
            self.nodes.remove(&at);
        }
        let kept_values = self.stale_values.split_off(&(oldest + 1));
        for (key, below) in std::mem::replace(&mut self.stale_values, kept_values).into_values().flatten() {
            let superseded: Vec<(KeyHash, Version)> =
                self.values.range((key, 0)..(key, below)).map(|(entry, _)| *entry).collect();
            for entry in superseded {
                self.values.remove(&entry);
            }
        }
        self.pruned_below = oldest;
    }

    /// Versions below this one are pruned (0: none is).
    pub fn pruned_below(&self) -> Version {
        self.pruned_below
    }

    /// How many tree nodes and value entries are stored (every kept
    /// version together): what pruning bounds.
    pub fn stored(&self) -> (usize, usize) {
        (self.nodes.len(), self.values.len())
    }

    /// The root at `version`, if kept.
    pub fn root_at(&self, version: Version) -> Result<Option<Hash>, StoreError> {
        root_at(self, version)
    }

    /// The value of `key` at `version` and its proof (`None` if the version
    /// is not kept).
    pub fn prove(&self, key: &StateKey, version: Version) -> Result<Option<(Option<Value>, StateProof)>, StoreError> {
        if !self.holds(version) || self.root_at(version)?.is_none() {
            return Ok(None);
        }
        prove_at(self, key, version).map(Some)
    }

    /// Whether `version` is written and not pruned.
    fn holds(&self, version: Version) -> bool {
        self.latest.is_some_and(|latest| version <= latest) && version >= self.pruned_below
    }

    /// The value of `key` at `version` (`Some(None)`: absent); `None` when
    /// the tree does not hold that version.
    pub fn value_at(&self, key: &StateKey, version: Version) -> Result<Option<Option<Value>>, StoreError> {
        if !self.holds(version) {
            return Ok(None);
        }
        Ok(Some(self.latest_value(key_hash(key), version).cloned()))
    }

    /// Drops every version above `version` (dev mode's reverts); gives the
    /// root at `version`. Needs [`Retention::All`].
    pub fn revert_to(&mut self, version: Version) -> Result<Hash, StoreError> {
        let cannot = |reason: &str| StoreError::CannotRevert { height: version, reason: reason.to_string() };
        if self.retention == Retention::Latest {
            return Err(cannot("the state tree keeps only its latest version"));
        }
        if version < self.pruned_below {
            return Err(cannot("its state tree is pruned"));
        }
        let root = self.root_at(version)?.ok_or_else(|| cannot("the state tree does not hold that version"))?;
        self.nodes.retain(|at, _| at.version <= version);
        self.values.retain(|(_, value_version), _| *value_version <= version);
        self.stale.retain(|since, _| *since <= version);
        self.stale_values.retain(|since, _| *since <= version);
        self.latest = Some(version);
        self.root = root;
        Ok(root)
    }

    /// The value of `key_hash` at `version` (`None`: absent).
    fn latest_value(&self, key_hash: KeyHash, version: Version) -> Option<&Value> {
        let (_, value) = self.values.range((key_hash, 0)..=(key_hash, version)).next_back()?;
        value.as_ref()
    }

    /// Number of keys in the latest version.
    pub fn len(&self) -> usize {
        let mut latest: HashMap<KeyHash, bool> = HashMap::new();
        for ((key, _), value) in &self.values {
            latest.insert(*key, value.is_some());
        }
        latest.values().filter(|present| **present).count()
    }

    /// Whether the latest version is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The library reads the nodes converted to its own types.
impl TreeReader for StateCommitment {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(&NodeAt::of(node_key)).map(TreeNode::to_jmt).transpose()?)
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.latest_value(key_hash, max_version).map(|value| value.to_vec()))
    }

    /// The leaf with the greatest key hash (the library's restore uses it).
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let mut rightmost: Option<(NodeAt, LeafNode)> = None;
        for (at, node) in &self.nodes {
            if let TreeNode::Leaf(leaf) = node
                && rightmost.as_ref().is_none_or(|(_, best)| leaf.key_hash > best.key_hash())
            {
                rightmost = Some((*at, LeafNode::new(leaf.key_hash, leaf.value_hash)));
            }
        }
        Ok(rightmost.map(|(at, leaf)| (at.to_node_key(), leaf)))
    }
}

/// A block's update reads the nodes as kept.
impl TreeNodes for StateCommitment {
    fn tree_node(&self, at: &NodeAt) -> Result<Option<Cow<'_, TreeNode>>, StoreError> {
        Ok(self.nodes.get(at).map(Cow::Borrowed))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::primitives::Address;

    fn key(index: u8) -> StateKey {
        StateKey::Account { owner: Address([index; 32]) }
    }

    fn writes(entries: &[(u8, Option<&'static [u8]>)]) -> WriteSet {
        entries.iter().map(|(k, v)| (key(*k), v.map(Value::from_static))).collect()
    }

    #[test]
    fn root_depends_on_every_entry_and_not_on_history() {
        let empty = StateCommitment::new();
        assert_eq!(empty.root(), EMPTY_ROOT);
        let one = StateCommitment::from_entries([(key(1), Value::from_static(b"a"))]).unwrap();
        assert_ne!(one.root(), EMPTY_ROOT);
        // Writing then deleting a key returns to the empty root.
        let mut commitment = one.clone();
        let update = commitment.prepare(&writes(&[(1, None)])).unwrap();
        commitment.apply(update).unwrap();
        assert_eq!(commitment.root(), EMPTY_ROOT);
        assert!(commitment.is_empty());
        // Value changes change the root.
        let other = StateCommitment::from_entries([(key(1), Value::from_static(b"b"))]).unwrap();
        assert_ne!(other.root(), one.root());
    }

    #[test]
    fn an_empty_block_keeps_the_root_and_moves_the_version() {
        let mut commitment = StateCommitment::new();
        commitment.apply(commitment.prepare(&writes(&[(1, Some(b"a")), (2, Some(b"b"))])).unwrap()).unwrap();
        let root = commitment.root();
        commitment.apply(commitment.prepare(&WriteSet::new()).unwrap()).unwrap();
        assert_eq!(commitment.version(), Some(1));
        assert_eq!(commitment.root(), root);
        assert_eq!(commitment.root_at(1).unwrap(), Some(root));
        commitment.apply(commitment.prepare(&writes(&[(3, Some(b"c"))])).unwrap()).unwrap();
        assert_eq!(commitment.root_at(1).unwrap(), Some(root));
        assert_ne!(commitment.root(), root);
    }

    #[test]
    fn an_update_for_another_version_is_refused() {
        let mut commitment = StateCommitment::new();
        let update = commitment.prepare(&writes(&[(1, Some(b"a"))])).unwrap();
        commitment.apply(update.clone()).unwrap();
        assert!(commitment.apply(update).is_err());
    }

    #[test]
    fn reverting_restores_old_roots_and_values() {
        let mut commitment = StateCommitment::new();
        commitment.apply(commitment.prepare(&writes(&[(1, Some(b"a")), (2, Some(b"b"))])).unwrap()).unwrap();
        let first = commitment.root();
        commitment.apply(commitment.prepare(&writes(&[(1, None), (3, Some(b"c"))])).unwrap()).unwrap();
        assert_eq!(commitment.revert_to(0).unwrap(), first);
        assert_eq!(commitment.root(), first);
        let (value, proof) = commitment.prove(&key(1), 0).unwrap().unwrap();
        assert_eq!(value.as_deref(), Some(&b"a"[..]));
        proof.verify(&first, &key(1), Some(b"a")).unwrap();
        // The same block again gives the same root.
        commitment.apply(commitment.prepare(&writes(&[(1, None), (3, Some(b"c"))])).unwrap()).unwrap();
        assert_eq!(commitment.version(), Some(1));
        assert!(StateCommitment::from_entries([(key(1), Value::from_static(b"a"))]).unwrap().revert_to(0).is_err());
    }

    /// Block `n` of a long chain: rewrites 16 keys, deletes one, adds one back.
    fn churn(n: u64) -> WriteSet {
        let mut writes: WriteSet =
            (0..16u8).map(|k| (key(k), Some(Value::from(format!("{k}@{n}").into_bytes())))).collect();
        writes.insert(key(100 + (n % 5) as u8), None);
        writes.insert(key(100 + ((n + 2) % 5) as u8), Some(Value::from(n.to_be_bytes().to_vec())));
        writes
    }

    #[test]
    fn a_window_keeps_its_versions_prunes_older_ones_and_stays_bounded() {
        let (mut all, mut window) = (StateCommitment::new(), StateCommitment::with_retention(Retention::Window(3)));
        let mut sizes = Vec::new();
        for n in 0..60 {
            all.apply(all.prepare(&churn(n)).unwrap()).unwrap();
            window.apply(window.prepare(&churn(n)).unwrap()).unwrap();
            assert_eq!(window.root(), all.root());
            sizes.push(window.stored());
        }
        assert_eq!(window.pruned_below(), 57);
        for version in 57..60 {
            let root = all.root_at(version).unwrap().unwrap();
            for k in [0u8, 100, 101, 102, 103, 104, 200] {
                let (value, proof) = window.prove(&key(k), version).unwrap().unwrap();
                let (expected, _) = all.prove(&key(k), version).unwrap().unwrap();
                assert_eq!(value, expected);
                proof.verify(&root, &key(k), value.as_deref()).unwrap();
            }
        }
        assert!(window.prove(&key(0), 56).unwrap().is_none());
        assert!(window.clone().revert_to(56).is_err());
        assert_eq!(window.revert_to(57).unwrap(), all.root_at(57).unwrap().unwrap());
        // The chain repeats every 5 blocks: once the window is full, what is
        // stored stops growing, while the archive grows with every block.
        assert_eq!(sizes[59], sizes[29]);
        assert!(all.stored().0 > 10 * sizes[59].0);
    }

    fn rebuilt(state: &BTreeMap<u8, Vec<u8>>) -> Hash {
        state_root_of(state.iter().map(|(k, v)| (key(*k), Value::from(v.clone())))).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn incremental_equals_rebuilt(
            first in proptest::collection::btree_map(any::<u8>(), any::<Vec<u8>>(), 0..64),
            blocks in proptest::collection::vec(
                proptest::collection::btree_map(any::<u8>(), proptest::option::of(any::<Vec<u8>>()), 0..48), 1..6),
        ) {
            let genesis: WriteSet = first.iter().map(|(k, v)| (key(*k), Some(Value::from(v.clone())))).collect();
            let mut commitment = StateCommitment::new();
            commitment.apply(commitment.prepare(&genesis).unwrap()).unwrap();
            let mut state = first.clone();
            let mut roots = vec![commitment.root()];
            for block in &blocks {
                let writes: WriteSet = block.iter().map(|(k, v)| (key(*k), v.clone().map(Value::from))).collect();
                commitment.apply(commitment.prepare(&writes).unwrap()).unwrap();
                for (k, v) in block {
                    match v {
                        Some(v) => { state.insert(*k, v.clone()); }
                        None => { state.remove(k); }
                    }
                }
                prop_assert_eq!(commitment.root(), rebuilt(&state));
                prop_assert_eq!(commitment.len(), state.len());
                roots.push(commitment.root());
            }
            // Every kept version still has its root, and every key of the
            // latest state its proof.
            for (version, root) in roots.iter().enumerate() {
                prop_assert_eq!(commitment.root_at(version as u64).unwrap(), Some(*root));
            }
            let latest = commitment.version().unwrap();
            for k in 0..=255u8 {
                let (value, proof) = commitment.prove(&key(k), latest).unwrap().unwrap();
                prop_assert_eq!(value.as_deref(), state.get(&k).map(Vec::as_slice));
                prop_assert!(proof.verify(&commitment.root(), &key(k), state.get(&k).map(Vec::as_slice)).is_ok());
            }
        }

        #[test]
        fn latest_only_keeps_one_version_and_the_same_roots(
            blocks in proptest::collection::vec(
                proptest::collection::btree_map(any::<u8>(), proptest::option::of(any::<Vec<u8>>()), 0..32), 1..8),
        ) {
            let mut all = StateCommitment::new();
            let mut latest = StateCommitment::with_retention(Retention::Latest);
            for block in &blocks {
                let writes: WriteSet = block.iter().map(|(k, v)| (key(*k), v.clone().map(Value::from))).collect();
                all.apply(all.prepare(&writes).unwrap()).unwrap();
                latest.apply(latest.prepare(&writes).unwrap()).unwrap();
                prop_assert_eq!(all.root(), latest.root());
            }
            let last = latest.version().unwrap();
            if last > 0 {
                prop_assert_eq!(latest.root_at(last - 1).unwrap(), None);
            }
            // What it keeps is exactly the latest tree: rebuilt from its own
            // values, it has as many nodes.
            let rebuilt = latest.nodes.len();
            let state: Vec<(KeyHash, OwnedValue)> =
                latest.values.iter().filter_map(|((k, _), v)| Some((*k, v.as_ref()?.to_vec()))).collect();
            if !state.is_empty() {
                let fresh = StateTree::new(&StateCommitment::new()).batch_put_value_sets(vec![state], None, 0);
                prop_assert_eq!(fresh.unwrap().1.node_batch.nodes().len(), rebuilt);
            }
        }
    }
}
