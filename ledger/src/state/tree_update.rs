//! A block's tree update on the node's path: the `jmt` library's update,
//! rebuilt to do only what a block needs, on several threads.
//!
//! The library's update keeps every node it touches in hash maps, clones it
//! in and out of them, hashes each new node twice and sorts its output into
//! trees, and it applies deletions key by key; for a 5,000-transaction
//! lending block that bookkeeping cost several times the hashing itself.
//! This update walks the written keys' paths once, in key-hash order, and
//! emits each new node with its hash as it goes:
//!
//! - an internal node on a path is replaced by one at the new version with
//!   its changed children (the old one becomes stale); left with no child
//!   it is gone, left with one leaf it is gone and the leaf moves up into
//!   its place (a tree never has an internal node over a lone leaf);
//! - a leaf on a path is rewritten with its new value if it is the only key
//!   written below it, removed if deleted, else pushed down with the new
//!   keys into a new subtree (one-child internal nodes over a common
//!   prefix, every leaf of it written at the new version);
//! - an empty slot gets a new subtree of the keys put into it; deleting a
//!   key that does not exist changes nothing.
//!
//! For a block of puts these are exactly the library's rules (its
//! `batch_put_value_sets`): the same nodes under the same keys, the same
//! values and stale entries. With deletions the tree is the library's
//! position by position (same nodes and hashes, so the same root and
//! proofs), but a node's version can differ: the library applies the writes
//! one by one, in the write set's order, and may rewrite a node an earlier
//! write moved. Property tests check both against the library.
//! Nodes are the node's own plain types ([`super::tree_node`]), read
//! through [`TreeNodes`] and hashed as the library hashes its own.
//!
//! The root's sixteen subtrees share no node, so each is a job, spread over
//! [`tree_threads`] threads, largest first; the keys are hashed on the same
//! threads, into one bucket per subtree, and each job puts its own writes
//! in key-hash order and collects their values: apart from the root, nothing
//! runs on one thread alone. It applies when the parent version's root is an internal node
//! (not at genesis, not for a tree of one key) and the block writes
//! something; otherwise the caller takes the library's update.

use std::borrow::Cow;

use jmt::{KeyHash, ValueHash, Version};

use super::commitment::{key_hash_in, tree_error, value_hash};
use super::tree_node::{
    ChildArray, ChildKind, ChildSlot, Children, NodeAt, SUBTREES, TreeLeaf, TreeNode, TreeNodes, TreePath,
};
use super::{StoreError, Value, WriteSet};
use crate::access::StateKey;

/// How many threads a block's update uses: the machine's cores, at most 16
/// (asked once: on Linux the answer reads the cgroup's files).
pub fn tree_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |cores| cores.get()).min(SUBTREES))
}

/// `run` on each of `jobs`, spread over `threads` threads (the calling one
/// among them), each taking the next job in turn; the results in the jobs'
/// order, or the first error.
fn on_threads<J: Send, T: Send>(
    jobs: Vec<J>,
    threads: usize,
    run: impl Fn(J) -> Result<T, StoreError> + Sync,
) -> Result<Vec<T>, StoreError> {
    let helpers = threads.min(jobs.len()).saturating_sub(1);
    let queue = parking_lot::Mutex::new(jobs.into_iter().enumerate());
    let work = || -> Result<Vec<(usize, T)>, StoreError> {
        let mut done = Vec::new();
        loop {
            let Some((index, job)) = queue.lock().next() else { return Ok(done) };
            done.push((index, run(job)?));
        }
    };
    let parts = std::thread::scope(|scope| {
        let helpers: Vec<_> = (0..helpers).map(|_| scope.spawn(work)).collect();
        let mut parts = vec![work()];
        parts.extend(
            helpers.into_iter().map(|helper| helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))),
        );
        parts
    });
    let mut results: Vec<(usize, T)> =
        parts.into_iter().collect::<Result<Vec<_>, StoreError>>()?.into_iter().flatten().collect();
    results.sort_unstable_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// What a block's update produced: the new root's hash, the new nodes
/// (each once, all at the update's version, in no particular order), the
/// values in key order (in parts, one after the other) and the nodes that
/// leave the latest tree.
pub(crate) struct TreeBatch {
    pub root: [u8; 32],
    pub nodes: Vec<Vec<(TreePath, TreeNode)>>,
    pub values: Vec<Vec<VersionedValue>>,
    pub stale: Vec<Vec<NodeAt>>,
}

/// A value written at a version (`None`: deleted), under its key's hash.
pub(crate) type VersionedValue = ((Version, KeyHash), Option<Value>);

/// The update of the tree at `version - 1` by `writes` on `threads`
/// threads; `None` if it does not apply (see the module's docs) and the
/// library's update must be taken.
pub(crate) fn prepare_writes<R: TreeNodes>(
    reader: &R,
    version: Version,
    writes: &WriteSet,
    threads: usize,
) -> Result<Option<TreeBatch>, StoreError> {
    let Some(parent) = version.checked_sub(1) else { return Ok(None) };
    if writes.is_empty() {
        return Ok(None);
    }
    let root_at = NodeAt { version: parent, path: TreePath::ROOT };
    let root_node = reader.tree_node(&root_at)?;
    let Some(TreeNode::Internal(root)) = root_node.as_deref() else {
        return Ok(None);
    };
    let entries: Vec<(&StateKey, &Option<Value>)> = writes.iter().collect();
    let buckets = hash_writes(&entries, threads.max(1))?;
    let updater = Updater { reader, version };
    let mut jobs: Vec<Job<'_>> = (0u8..)
        .zip(buckets.iter())
        .map(|(nibble, chunks)| Job { nibble, chunks: chunks.iter().map(Vec::as_slice).collect() })
        .collect();
    jobs.retain(|job| job.len() > 0);
    let mut top = Output::with_capacity(SUBTREES);
    let (mut results, mut nodes, mut values, mut stale) = (Results::default(), Vec::new(), Vec::new(), Vec::new());
    for done in run_jobs(&updater, root, &entries, jobs, threads.max(1))? {
        results[usize::from(done.nibble)] = Some(done.subtree);
        nodes.push(done.output.nodes);
        stale.push(done.output.stale);
        values.push(done.values);
    }
    let root_hash = match updater.assemble(&TreePath::ROOT, root, &mut results, &mut top)? {
        Subtree::Unchanged => updater.emit(TreePath::ROOT, TreeNode::Internal(root.clone()), &mut top).hash,
        Subtree::Empty => updater.emit(TreePath::ROOT, TreeNode::Null, &mut top).hash,
        Subtree::Leaf(leaf) => updater.emit(TreePath::ROOT, TreeNode::Leaf(leaf), &mut top).hash,
        Subtree::Internal(slot) => slot.hash,
    };
    top.stale.push(root_at);
    stale.push(top.stale);
    nodes.push(top.nodes);
    Ok(Some(TreeBatch { root: root_hash, nodes, values, stale }))
}

/// A write hashed: its key's hash and its value's, with its index among
/// the block's writes.
type Hashed = (Op, u32);

/// Each of `entries` hashed, with its index in `entries`, in one bucket
/// per first nibble of its key hash (one list per thread in each, in no
/// particular order: each root subtree's job puts its own in order). The
/// hashing is spread over `threads` threads.
fn hash_writes(entries: &[(&StateKey, &Option<Value>)], threads: usize) -> Result<Vec<Vec<Vec<Hashed>>>, StoreError> {
    let hash = |(start, chunk): (u32, &[(&StateKey, &Option<Value>)])| -> [Vec<Hashed>; SUBTREES] {
        touch_values(chunk);
        let mut buffer = Vec::new();
        let mut buckets: [Vec<Hashed>; SUBTREES] =
            std::array::from_fn(|_| Vec::with_capacity(chunk.len() / SUBTREES * 2));
        for (index, (key, value)) in (start..).zip(chunk) {
            let op = Op { key: key_hash_in(key, &mut buffer), value_hash: value.as_deref().map(value_hash) };
            buckets[usize::from(nibble(&op.key, 0))].push((op, index));
        }
        buckets
    };
    let size = entries.len().div_ceil(threads).max(1);
    let chunks: Vec<_> = (0u32..).step_by(size).zip(entries.chunks(size)).collect();
    let hashed = on_threads(chunks, threads, |chunk| Ok(hash(chunk)))?;
    let mut buckets: Vec<Vec<Vec<Hashed>>> = (0..SUBTREES).map(|_| Vec::with_capacity(hashed.len())).collect();
    for chunk in hashed {
        for (bucket, part) in buckets.iter_mut().zip(chunk) {
            bucket.push(part);
        }
    }
    Ok(buckets)
}

/// Reads the first bytes of every value in `chunk`, in a loop of loads
/// alone: the values lie wherever execution allocated them, and loads with
/// nothing between them wait on memory together, where the hashing loop
/// would wait for each in turn.
fn touch_values(chunk: &[(&StateKey, &Option<Value>)]) {
    let touched = chunk.iter().filter_map(|(_, value)| value.as_ref()?.first()).fold(0u8, |sum, byte| sum ^ byte);
    std::hint::black_box(touched);
}

/// `hashed` in key-hash order: the hashes and, apart, the writes' indices.
///
/// The order is found by sorting each write's index under the first half
/// of its key hash (the whole hash breaks a tie), so a sort moves 32 bytes
/// a write and most comparisons are one of two integers, not a 32-byte
/// comparison.
fn in_key_order(hashed: &[&[Hashed]]) -> (Vec<Op>, Vec<u32>) {
    let all: Vec<&Hashed> = hashed.iter().flat_map(|part| part.iter()).collect();
    let prefix = |op: &Op| u128::from_be_bytes(std::array::from_fn(|index| op.key.0[index]));
    let mut order: Vec<(u128, u32)> = (0u32..).zip(&all).map(|(at, (op, _))| (prefix(op), at)).collect();
    order.sort_unstable_by(|(a, i), (b, j)| {
        a.cmp(b).then_with(|| all[*i as usize].0.key.0.cmp(&all[*j as usize].0.key.0))
    });
    order.into_iter().map(|(_, at)| all[at as usize]).map(|(op, index)| (*op, *index)).unzip()
}

/// A key written by the block and the hash of its new value (`None`:
/// deleted).
#[derive(Clone, Copy)]
struct Op {
    key: KeyHash,
    value_hash: Option<ValueHash>,
}

/// The nibble of `key` at `depth` (0: the first).
fn nibble(key: &KeyHash, depth: usize) -> u8 {
    let byte = key.0[depth / 2];
    if depth.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f }
}

/// `items` (sorted by `key`, sharing their first `depth` nibbles) in runs
/// of the same nibble at `depth`, each with that nibble.
fn groups<T>(items: &[T], depth: usize, key: impl Fn(&T) -> KeyHash) -> impl Iterator<Item = (u8, &[T])> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let nibble = nibble(&key(first), depth);
        let end = rest.partition_point(|item| self::nibble(&key(item), depth) == nibble);
        let (group, tail) = rest.split_at(end);
        rest = tail;
        Some((nibble, group))
    })
}

/// The leaves that `ops` put (deletions dropped), as new leaves.
fn put_leaves(ops: &[Op]) -> Vec<TreeLeaf> {
    ops.iter().filter_map(|op| Some(TreeLeaf { key_hash: op.key, value_hash: op.value_hash? })).collect()
}

/// One subtree of the root and the writes that go into it (hashed on
/// several threads, in no particular order).
struct Job<'a> {
    nibble: u8,
    chunks: Vec<&'a [Hashed]>,
}

impl Job<'_> {
    fn len(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.len()).sum()
    }
}

/// What a job produced: its subtree, its nodes and stale nodes, and the
/// values it wrote in key order.
struct Done {
    nibble: u8,
    subtree: Subtree,
    output: Output,
    values: Vec<VersionedValue>,
}

/// What updating part of the tree produced.
struct Output {
    nodes: Vec<(TreePath, TreeNode)>,
    stale: Vec<NodeAt>,
}

impl Output {
    fn with_capacity(nodes: usize) -> Output {
        Output { nodes: Vec::with_capacity(nodes), stale: Vec::with_capacity(nodes) }
    }
}

/// What a position of the tree holds after the block's writes below it.
enum Subtree {
    /// What it held before (no write below it changed anything).
    Unchanged,
    /// Nothing: every key below it was deleted.
    Empty,
    /// One leaf, not yet written: its place is decided above (a leaf alone
    /// below an internal node moves up into the node's place).
    Leaf(TreeLeaf),
    /// A new internal node, written at the position.
    Internal(ChildSlot),
}

/// A stored node and where it is.
type Stored<'a> = (NodeAt, Cow<'a, TreeNode>);

/// The subtrees of an internal node's changed slots, by nibble (`None`:
/// no write below the slot).
type Results = [Option<Subtree>; SUBTREES];

/// Runs the jobs on `threads` threads, largest first; their results in
/// nibble order. Each puts its writes in key order and takes its values
/// from `entries` (the block's writes, which the writes' indices name).
fn run_jobs<R: TreeNodes>(
    updater: &Updater<'_, R>,
    root: &Children,
    entries: &[(&StateKey, &Option<Value>)],
    mut jobs: Vec<Job<'_>>,
    threads: usize,
) -> Result<Vec<Done>, StoreError> {
    jobs.sort_by_key(|job| std::cmp::Reverse(job.len()));
    let mut results = on_threads(jobs, threads, |job| {
        let (ops, order) = in_key_order(&job.chunks);
        // Each write makes about one leaf and one stale node, and at most a
        // few internal nodes between several writes.
        let mut output = Output::with_capacity(2 * ops.len() + 8);
        let subtree = updater.child(&TreePath::ROOT, root, job.nibble, &ops, 0, &mut output)?;
        let version = updater.version;
        let values =
            ops.iter().zip(order).map(|(op, index)| ((version, op.key), entries[index as usize].1.clone())).collect();
        Ok(Done { nibble: job.nibble, subtree, output, values })
    })?;
    results.sort_by_key(|done| done.nibble);
    Ok(results)
}

/// The walk over the tree at the parent version, making nodes at `version`.
struct Updater<'a, R> {
    reader: &'a R,
    version: Version,
}

impl<'a, R: TreeNodes> Updater<'a, R> {
    /// The stored node at `at`; an error if there is none (a child entry
    /// names it).
    fn read(&self, at: &NodeAt) -> Result<Cow<'a, TreeNode>, StoreError> {
        match self.reader.tree_node(at)? {
            Some(node) if *node != TreeNode::Null => Ok(node),
            _ => Err(tree_error(anyhow::anyhow!("the tree has no node at {at:?}, which its parent names"))),
        }
    }

    /// The subtree in slot `nibble` of the node at `path` (whose children
    /// are `children`) after `ops` (all below that slot, at `depth + 1`).
    fn child(
        &self,
        path: &TreePath,
        children: &Children,
        nibble: u8,
        ops: &[Op],
        depth: usize,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        let stored = self.stored_child(path, children, nibble)?;
        self.slot_after(path, nibble, stored, ops, depth, out)
    }

    /// The stored child in slot `nibble` of the node at `path` (whose
    /// children are `children`), read; `None` for an empty slot.
    fn stored_child(&self, path: &TreePath, children: &Children, nibble: u8) -> Result<Option<Stored<'a>>, StoreError> {
        let Some(old) = children.get(nibble) else { return Ok(None) };
        let at = NodeAt { version: old.version, path: path.child(nibble) };
        Ok(Some((at, self.read(&at)?)))
    }

    /// The subtree in slot `nibble` of the node at `path`, which held
    /// `stored`, after `ops` (all below that slot, at `depth + 1`).
    fn slot_after(
        &self,
        path: &TreePath,
        nibble: u8,
        stored: Option<Stored<'a>>,
        ops: &[Op],
        depth: usize,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        match stored {
            Some((at, node)) => self.update(at, &node, ops, depth + 1, out),
            None => self.fill(path.child(nibble), ops, depth + 1, out),
        }
    }

    /// The subtree at an empty slot at `path` after `ops`.
    fn fill(&self, path: TreePath, ops: &[Op], depth: usize, out: &mut Output) -> Result<Subtree, StoreError> {
        // Deleting keys that do not exist changes nothing.
        if ops.iter().all(|op| op.value_hash.is_none()) {
            return Ok(Subtree::Unchanged);
        }
        self.create(path, put_leaves(ops), depth, out)
    }

    /// The subtree at `at`'s position (the stored `node`) after `ops`; the
    /// stored node becomes stale unless nothing changes.
    fn update(
        &self,
        at: NodeAt,
        node: &TreeNode,
        ops: &[Op],
        depth: usize,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        let subtree = match node {
            TreeNode::Internal(children) => self.update_internal(&at.path, children, ops, depth, out)?,
            TreeNode::Leaf(leaf) => self.at_leaf(at.path, *leaf, ops, depth, out)?,
            TreeNode::Null => return Err(tree_error(anyhow::anyhow!("a null node at {at:?} below the root"))),
        };
        if !matches!(subtree, Subtree::Unchanged) {
            out.stale.push(at);
        }
        Ok(subtree)
    }

    /// The stored internal node at `path` with `children` after `ops` (its
    /// children's nibble at `depth`).
    ///
    /// The walk waits on memory as much as it hashes, so the stored
    /// children below the writes are all looked up first, in a loop of
    /// lookups alone whose cache misses can overlap, then updated one by one.
    fn update_internal(
        &self,
        path: &TreePath,
        children: &Children,
        ops: &[Op],
        depth: usize,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        let mut pending: [Option<(&[Op], Option<Stored<'a>>)>; SUBTREES] = Default::default();
        for (nibble, group) in groups(ops, depth, |op| op.key) {
            pending[usize::from(nibble)] = Some((group, self.stored_child(path, children, nibble)?));
        }
        let mut results: Results = Default::default();
        for ((nibble, entry), result) in (0u8..).zip(&mut pending).zip(&mut results) {
            let Some((group, stored)) = entry.take() else { continue };
            *result = Some(self.slot_after(path, nibble, stored, group, depth, out)?);
        }
        self.assemble(path, children, &mut results, out)
    }

    /// The internal node at `path` with `children` (before) and `results`
    /// (its changed slots' subtrees): unchanged, gone, a single leaf that
    /// moves up, or a new internal node written at `path`.
    fn assemble(
        &self,
        path: &TreePath,
        children: &Children,
        results: &mut Results,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        // The new node's slots, built on the stack.
        let mut forms: ChildArray = children.to_array();
        // Slots whose subtree is a leaf not yet written: it is written here
        // unless it moves up.
        let mut leaves: [Option<TreeLeaf>; SUBTREES] = [None; SUBTREES];
        let mut changed = false;
        for ((result, form), leaf) in results.iter_mut().zip(forms.iter_mut()).zip(&mut leaves) {
            match result.take() {
                None | Some(Subtree::Unchanged) => continue,
                Some(Subtree::Empty) => *form = None,
                Some(Subtree::Leaf(new)) => (*form, *leaf) = (None, Some(new)),
                Some(Subtree::Internal(slot)) => *form = Some(slot),
            }
            changed = true;
        }
        if !changed {
            return Ok(Subtree::Unchanged);
        }
        let occupied =
            (0u8..).zip(forms.iter().zip(&leaves)).filter(|(_, (form, leaf))| form.is_some() || leaf.is_some());
        let mut occupied = occupied.map(|(nibble, _)| nibble);
        match (occupied.next(), occupied.next()) {
            (None, _) => return Ok(Subtree::Empty),
            (Some(only), None) => {
                if let Some(leaf) = leaves[usize::from(only)] {
                    return Ok(Subtree::Leaf(leaf));
                }
                if let Some(child) = forms[usize::from(only)].filter(|child| child.kind == ChildKind::Leaf) {
                    // A stored leaf left alone moves up: read it, it goes stale.
                    let at = NodeAt { version: child.version, path: path.child(only) };
                    let TreeNode::Leaf(leaf) = *self.read(&at)? else {
                        return Err(tree_error(anyhow::anyhow!("the child at {at:?} is not the leaf its parent says")));
                    };
                    out.stale.push(at);
                    return Ok(Subtree::Leaf(leaf));
                }
            }
            _ => {}
        }
        for ((nibble, leaf), form) in (0u8..).zip(leaves).zip(forms.iter_mut()) {
            if let Some(leaf) = leaf {
                *form = Some(self.emit(path.child(nibble), TreeNode::Leaf(leaf), out));
            }
        }
        Ok(Subtree::Internal(self.emit(*path, TreeNode::Internal(Children::new(&forms)), out)))
    }

    /// The subtree at `path`, where a stored leaf `existing` was, after
    /// `ops`: the leaf rewritten, removed, or pushed down with new leaves.
    fn at_leaf(
        &self,
        path: TreePath,
        existing: TreeLeaf,
        ops: &[Op],
        depth: usize,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        if let [op] = ops
            && op.key == existing.key_hash
        {
            // The common case: the leaf's own key rewritten or deleted.
            return Ok(op
                .value_hash
                .map_or(Subtree::Empty, |value_hash| Subtree::Leaf(TreeLeaf { key_hash: op.key, value_hash })));
        }
        let own = ops.iter().find(|op| op.key == existing.key_hash);
        // Below a lone leaf no other key exists: deleting one changes nothing.
        let mut leaves = put_leaves(ops);
        leaves.retain(|leaf| leaf.key_hash != existing.key_hash);
        match own {
            None if leaves.is_empty() => return Ok(Subtree::Unchanged),
            None => leaves.push(existing),
            Some(Op { value_hash: Some(value_hash), key }) => {
                leaves.push(TreeLeaf { key_hash: *key, value_hash: *value_hash })
            }
            Some(Op { value_hash: None, .. }) => {}
        }
        leaves.sort_unstable_by_key(|leaf| leaf.key_hash);
        self.create(path, leaves, depth, out)
    }

    /// A subtree of `leaves` (sorted) alone at `path`: nothing, a leaf not
    /// yet written, or an internal node written with everything below it.
    fn create(
        &self,
        path: TreePath,
        leaves: Vec<TreeLeaf>,
        depth: usize,
        out: &mut Output,
    ) -> Result<Subtree, StoreError> {
        match leaves.as_slice() {
            [] => Ok(Subtree::Empty),
            [leaf] => Ok(Subtree::Leaf(*leaf)),
            _ => Ok(Subtree::Internal(self.subtree(path, &leaves, depth, out))),
        }
    }

    /// Writes the subtree of `leaves` (sorted, at least two) at `path`.
    fn subtree(&self, path: TreePath, leaves: &[TreeLeaf], depth: usize, out: &mut Output) -> ChildSlot {
        let mut children: ChildArray = [None; SUBTREES];
        for (nibble, group) in groups(leaves, depth, |leaf| leaf.key_hash) {
            let below = path.child(nibble);
            children[usize::from(nibble)] = Some(match group {
                [leaf] => self.emit(below, TreeNode::Leaf(*leaf), out),
                _ => self.subtree(below, group, depth + 1, out),
            });
        }
        self.emit(path, TreeNode::Internal(Children::new(&children)), out)
    }

    /// `node` at `path` at this version: its slot in a parent.
    fn emit(&self, path: TreePath, node: TreeNode, out: &mut Output) -> ChildSlot {
        let kind = match &node {
            TreeNode::Leaf(_) | TreeNode::Null => ChildKind::Leaf,
            TreeNode::Internal(_) => ChildKind::Internal { leaf_count: node.leaf_count() },
        };
        let slot = ChildSlot { hash: node.hash(), version: self.version, kind };
        out.nodes.push((path, node));
        slot
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use jmt::OwnedValue;
    use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
    use proptest::prelude::*;

    use super::*;
    use crate::primitives::Address;
    use crate::state::commitment::{StateCommitment, key_hash, prepare_update_by_library, prepare_update_on};

    /// A state key per index (tests of the tree share it).
    pub(in crate::state) fn key(index: u16) -> StateKey {
        let mut owner = [0; 32];
        owner[..2].copy_from_slice(&index.to_be_bytes());
        StateKey::Account { owner: Address(owner) }
    }

    /// Puts of `keys`, each value naming the key and `round`.
    fn puts(keys: &[u16], round: u8) -> WriteSet {
        keys.iter()
            .map(|index| (key(*index), Some(Value::from([&index.to_be_bytes()[..], &[round]].concat()))))
            .collect()
    }

    /// Applies `blocks` one after the other, and checks at each that the
    /// update on 1, 2, 3 and 16 threads gives exactly the library's: the
    /// same root, nodes, values (in the same order) and stale entries.
    fn equals_the_library(genesis: &[u16], blocks: &[Vec<u16>]) {
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(genesis, 0)).unwrap()).unwrap();
        for (round, keys) in (1u8..).zip(blocks) {
            let writes = puts(keys, round);
            let version = tree.next_version();
            let library = prepare_update_by_library(&tree, version, &writes).unwrap();
            let applies = prepare_writes(&tree, version, &writes, 2).unwrap().is_some();
            assert_eq!(applies, tree.len() > 1, "it applies when the root is an internal node");
            for threads in [1, 2, 3, 16] {
                let ours = prepare_update_on(&tree, version, &writes, threads).unwrap();
                assert_eq!(ours.root(), library.root(), "{threads} threads");
                let (our_nodes, library_nodes): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    (ours.nodes().collect(), library.nodes().collect());
                assert_eq!(our_nodes.len(), ours.node_count(), "each node once");
                assert_eq!(our_nodes, library_nodes, "{threads} threads");
                assert!(ours.values().eq(library.values()), "{threads} threads");
                let our_stale: BTreeSet<_> = ours.stale_nodes().collect();
                assert_eq!(our_stale.len(), ours.stale_count(), "each stale node once");
                assert_eq!(our_stale, library.stale_nodes().collect(), "{threads} threads");
            }
            tree.apply(library).unwrap();
        }
    }

    #[test]
    fn a_subtree_of_one_leaf_is_updated_and_grown() {
        // Two keys: each first nibble's subtree is a single leaf; the first
        // block rewrites one of them, the second grows the other's subtree.
        let keys: Vec<u16> = (0..200).collect();
        let hashes: Vec<u8> = keys.iter().map(|k| key_hash(&key(*k)).0[0] >> 4).collect();
        let first = keys[hashes.iter().position(|nibble| *nibble != hashes[0]).unwrap()];
        let same_nibble = keys[1..].iter().zip(&hashes[1..]).find(|(_, nibble)| **nibble == hashes[0]).unwrap().0;
        equals_the_library(&[keys[0], first], &[vec![first], vec![*same_nibble], vec![keys[0], first, 150, 151]]);
    }

    #[test]
    fn keys_sharing_a_long_prefix_with_a_leaf_make_a_chain() {
        // Two keys whose hashes share their first three nibbles: written
        // beside a stored leaf, they make one-child internal nodes down to
        // where they part.
        let hashed: Vec<(u16, KeyHash)> = (0..3_000).map(|k| (k, key_hash(&key(k)))).collect();
        let (a, b) = hashed
            .iter()
            .enumerate()
            .find_map(|(i, (a, ha))| {
                hashed[i + 1..]
                    .iter()
                    .find(|(_, hb)| (0..3).all(|d| nibble(ha, d) == nibble(hb, d)))
                    .map(|(b, _)| (*a, *b))
            })
            .unwrap();
        let other = hashed.iter().find(|(_, h)| nibble(h, 0) != nibble(&key_hash(&key(a)), 0)).unwrap().0;
        equals_the_library(&[a, other], &[vec![b], vec![a, b, other]]);
        equals_the_library(&[b, other], &[vec![a]]);
    }

    #[test]
    fn it_does_not_apply_to_genesis_an_empty_block_or_a_root_that_is_a_leaf() {
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(&[1], 0)).unwrap()).unwrap();
        assert!(prepare_writes(&tree, 1, &puts(&[2], 1), 2).unwrap().is_none());
        equals_the_library(&[1], &[vec![2], vec![1, 3]]);
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(&[1, 2, 3], 0)).unwrap()).unwrap();
        assert!(prepare_writes(&tree, 1, &WriteSet::new(), 2).unwrap().is_none());
        assert!(prepare_writes(&StateCommitment::new(), 0, &puts(&[1, 2], 0), 2).unwrap().is_none());
    }

    /// The latest tree of `tree` by position: each node's path (nibbles)
    /// and hash, walked from the root through the child entries, so a
    /// missing node fails the walk.
    fn walk(tree: &StateCommitment) -> BTreeMap<Vec<u8>, [u8; 32]> {
        fn visit(tree: &StateCommitment, at: NodeAt, found: &mut BTreeMap<Vec<u8>, [u8; 32]>) {
            let node = tree.tree_node(&at).unwrap().unwrap_or_else(|| panic!("no node at {at:?}"));
            found.insert((0..at.path.depth()).map(|index| at.path.nibble(index)).collect(), node.hash());
            if let TreeNode::Internal(children) = &*node {
                for (nibble, slot) in children.iter() {
                    visit(tree, NodeAt { version: slot.version, path: at.path.child(nibble) }, found);
                }
            }
        }
        let mut found = BTreeMap::new();
        visit(tree, NodeAt { version: tree.version().unwrap(), path: TreePath::ROOT }, &mut found);
        found
    }

    /// Blocks of puts and deletions (`None`), applied by this update to a
    /// tree keeping only its latest version and by the library to another:
    /// at every block the same root and the same tree, position by
    /// position; what the first keeps is exactly its latest tree (no stale
    /// node left, none still in use dropped); every key proves its value.
    fn deletions_agree(genesis: &[u16], blocks: &[Vec<(u16, bool)>]) {
        let mut ours = StateCommitment::with_retention(crate::state::Retention::Latest);
        let mut library = StateCommitment::new();
        let first = puts(genesis, 0);
        ours.apply(ours.prepare(&first).unwrap()).unwrap();
        library.apply(library.prepare(&first).unwrap()).unwrap();
        let mut state: BTreeMap<u16, Value> = genesis.iter().map(|k| (*k, first[&key(*k)].clone().unwrap())).collect();
        for (round, block) in (1u8..).zip(blocks) {
            let mut writes = WriteSet::new();
            for (index, put) in block {
                let value = put.then(|| Value::from([&index.to_be_bytes()[..], &[round]].concat()));
                writes.insert(key(*index), value);
            }
            for (index, _) in block {
                match &writes[&key(*index)] {
                    Some(value) => state.insert(*index, value.clone()),
                    None => state.remove(index),
                };
            }
            let version = ours.next_version();
            let update = prepare_update_on(&ours, version, &writes, 2).unwrap();
            ours.apply(update).unwrap();
            library.apply(prepare_update_by_library(&library, version, &writes).unwrap()).unwrap();
            assert_eq!(ours.root(), library.root(), "block {round}");
            let tree = walk(&ours);
            assert_eq!(tree, walk(&library), "block {round}");
            assert_eq!(ours.stored().0, tree.len(), "block {round}: only the latest tree is kept");
            for index in block.iter().map(|(index, _)| *index).chain(genesis.iter().copied()) {
                let (value, proof) = ours.prove(&key(index), version).unwrap().unwrap();
                assert_eq!(value.as_ref(), state.get(&index));
                proof.verify(&ours.root(), &key(index), value.as_deref()).unwrap();
            }
        }
    }

    #[test]
    fn deletions_collapse_subtrees_as_the_library_does() {
        // Delete all but one key of a tree (the root collapses to a leaf),
        // then the last (the tree empties), then grow it again from empty
        // and delete keys that do not exist.
        let keys: Vec<u16> = (0..40).collect();
        let all_but_one: Vec<(u16, bool)> = keys[1..].iter().map(|k| (*k, false)).collect();
        deletions_agree(&keys, &[vec![(5, false), (6, false)], all_but_one]);
        deletions_agree(&keys, &[keys.iter().map(|k| (*k, false)).collect()]);
        deletions_agree(&keys, &[vec![(500, false), (501, false)], vec![(500, true), (3, false), (700, false)]]);
    }

    #[test]
    fn deleting_keys_that_do_not_exist_rewrites_nothing_but_the_root() {
        // Some of these keys fall in empty slots, some below lone leaves.
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(&(0..40).collect::<Vec<_>>(), 0)).unwrap()).unwrap();
        let absent: WriteSet = (1_000..1_100).map(|index| (key(index), None)).collect();
        let library = prepare_update_by_library(&tree, 1, &absent).unwrap();
        let ours = prepare_update_on(&tree, 1, &absent, 2).unwrap();
        assert_eq!(ours.root(), tree.root());
        assert_eq!(ours.nodes().collect::<BTreeMap<_, _>>(), library.nodes().collect::<BTreeMap<_, _>>());
        assert_eq!(ours.node_count(), 1, "the root, copied to the new version");
        assert!(ours.stale_nodes().eq(library.stale_nodes()));
        assert!(ours.values().eq(library.values()));
        assert_eq!(ours.value_count(), 100);
    }
    #[test]
    fn a_missing_node_on_a_path_is_an_error_not_a_panic() {
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(&(0..50).collect::<Vec<_>>(), 0)).unwrap()).unwrap();
        // A reader that has lost every node below the root.
        struct RootOnly<'a>(&'a StateCommitment);
        impl TreeReader for RootOnly<'_> {
            fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
                if node_key.nibble_path().is_empty() { self.0.get_node_option(node_key) } else { Ok(None) }
            }
            fn get_value_option(&self, version: Version, key: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
                self.0.get_value_option(version, key)
            }
            fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
                self.0.get_rightmost_leaf()
            }
        }
        impl TreeNodes for RootOnly<'_> {}
        let error = prepare_writes(&RootOnly(&tree), 1, &puts(&[3], 1), 2).err().unwrap();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random trees and blocks of puts: this update is the library's.
        #[test]
        fn the_update_equals_the_library_update(
            genesis in proptest::collection::vec(0u16..3_000, 1..400),
            blocks in proptest::collection::vec(proptest::collection::vec(0u16..3_000, 1..300), 1..4),
        ) {
            equals_the_library(&genesis, &blocks);
        }

        /// Random trees and blocks of puts and deletions (most of them of
        /// keys that exist): the same roots and trees as the library's.
        #[test]
        fn deletions_give_the_library_tree(
            genesis in proptest::collection::vec(0u16..300, 2..300),
            blocks in proptest::collection::vec(
                proptest::collection::vec((0u16..330, proptest::bool::weighted(0.4)), 1..150), 1..5),
        ) {
            deletions_agree(&genesis, &blocks);
        }
    }
}
