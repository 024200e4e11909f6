//! A block's tree update on several threads: one job per subtree of the
//! root, and the root rebuilt from their results.
//!
//! The root of the tree is an internal node with up to sixteen children, one
//! per first nibble of the key hashes under it. Keys with different first
//! nibbles never share a node below the root, so each subtree's part of a
//! block's writes can be applied independently. Each job runs the `jmt`
//! library's own batch update on a view of the tree whose root holds only
//! the job's child (and a placeholder sibling that no key reaches, so the
//! library never sees a root with a single leaf child); the view's nodes
//! below the root are the tree's own. The jobs' new nodes, values and stale
//! entries are exactly those the library would produce for the whole tree,
//! less its new root, which is built here from the old root's children and
//! the jobs' new ones, and hashed by the library.
//!
//! It applies when the tree's root is an internal node and every write puts a
//! value (deletions can collapse subtrees up to the root); anything else
//! takes the library's update on the whole tree. A property test checks that
//! both give the same root and the same batch.

use std::collections::BTreeMap;

use borsh::BorshSerialize;
use jmt::storage::{Node, NodeBatch, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{KeyHash, OwnedValue, RootHash, Version};

use super::commitment::{StateTree, TreeHasher, tree_error};
use crate::state::StoreError;

/// The most jobs a block's update is split into (a root has 16 children).
const SUBTREES: usize = 16;

/// A block's writes to the tree: key hashes and the values they get.
pub type Puts = Vec<(KeyHash, OwnedValue)>;

/// How many threads split updates use: the machine's cores, at most 16.
pub fn tree_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get()).min(SUBTREES)
}

/// The key of the root at `version`: the empty nibble path.
fn root_key(version: Version) -> NodeKey {
    NodeKey::new(version, std::iter::empty().collect())
}

/// The update of the tree at `version - 1` by `set` (puts only), split by
/// subtree over `threads` threads; `Err(set)` back when the split does not
/// apply (version 0, a root that is not an internal node, one thread).
pub fn prepare_split<R: TreeReader + Sync>(
    reader: &R,
    version: Version,
    set: Puts,
    threads: usize,
) -> Result<Result<(RootHash, Vec<TreeUpdateBatch>), Puts>, StoreError> {
    let Some(parent) = version.checked_sub(1).filter(|_| threads > 1) else { return Ok(Err(set)) };
    let root_key = root_key(parent);
    let root = match reader.get_node_option(&root_key).map_err(tree_error)? {
        Some(root @ Node::Internal(_)) => root,
        _ => return Ok(Err(set)),
    };
    let old_children: Vec<Option<ChildForm>> = (0..16u8).map(|nibble| ChildForm::of(&root, nibble)).collect();
    let jobs = group_by_subtree(set);
    let results = run_jobs(reader, &root_key, &old_children, jobs, version, threads)?;
    merge(old_children, results, version).map(Ok)
}

/// The writes of each subtree, by first nibble (only those with writes).
fn group_by_subtree(set: Puts) -> Vec<(u8, Puts)> {
    let mut groups: BTreeMap<u8, Puts> = BTreeMap::new();
    for (key, value) in set {
        groups.entry(key.0[0] >> 4).or_default().push((key, value));
    }
    groups.into_iter().collect()
}

/// One subtree's update: its new child of the root and the library's batch.
struct JobResult {
    nibble: u8,
    child: ChildForm,
    batch: TreeUpdateBatch,
}

/// Runs the jobs, largest first, each thread taking the next one.
fn run_jobs<R: TreeReader + Sync>(
    reader: &R,
    root_key: &NodeKey,
    old_children: &[Option<ChildForm>],
    mut jobs: Vec<(u8, Puts)>,
    version: Version,
    threads: usize,
) -> Result<Vec<JobResult>, StoreError> {
    jobs.sort_by_key(|(_, writes)| std::cmp::Reverse(writes.len()));
    let helpers = threads.min(jobs.len()).saturating_sub(1);
    let queue = parking_lot::Mutex::new(jobs.into_iter());
    let run = || -> Result<Vec<JobResult>, StoreError> {
        let mut done = Vec::new();
        while let Some((nibble, writes)) = queue.lock().next() {
            let view = SubtreeView::new(reader, root_key.clone(), nibble, old_children)?;
            done.push(run_job(&view, nibble, writes, version)?);
        }
        Ok(done)
    };
    let mut results = std::thread::scope(|scope| {
        let helpers: Vec<_> = (0..helpers).map(|_| scope.spawn(run)).collect();
        let mut results = vec![run()];
        results.extend(
            helpers.into_iter().map(|helper| helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))),
        );
        results
    })
    .into_iter()
    .collect::<Result<Vec<Vec<JobResult>>, StoreError>>()?
    .into_iter()
    .flatten()
    .collect::<Vec<JobResult>>();
    results.sort_by_key(|result| result.nibble);
    Ok(results)
}

/// The library's batch update of one subtree through its view.
fn run_job<R: TreeReader>(
    view: &SubtreeView<'_, R>,
    nibble: u8,
    writes: Puts,
    version: Version,
) -> Result<JobResult, StoreError> {
    let (_, batch) = StateTree::new(view).batch_put_value_sets(vec![writes], None, version).map_err(tree_error)?;
    // The view's new root is not the tree's (`CommitmentUpdate::nodes`
    // skips it); its child is the subtree's new child of the root.
    let child = batch
        .node_batch
        .get_node(&root_key(version))
        .and_then(|root| ChildForm::of(root, nibble))
        .ok_or_else(|| tree_error(anyhow::anyhow!("the subtree update of nibble {nibble} made no child")))?;
    Ok(JobResult { nibble, child, batch })
}

/// The old root's children with the jobs' new ones, as the new root at
/// `version`: the root's hash and the update's parts (the root's batch, then
/// the jobs', in nibble order; see `CommitmentUpdate`).
fn merge(
    mut children: Vec<Option<ChildForm>>,
    results: Vec<JobResult>,
    version: Version,
) -> Result<(RootHash, Vec<TreeUpdateBatch>), StoreError> {
    let mut parts = Vec::with_capacity(results.len() + 1);
    parts.push(TreeUpdateBatch::default());
    for JobResult { nibble, child, batch } in results {
        children[usize::from(nibble)] = Some(child);
        parts.push(batch);
    }
    let root = InternalForm::node(children)?;
    let Node::Internal(internal) = &root else {
        return Err(tree_error(anyhow::anyhow!("the rebuilt root is not an internal node")));
    };
    let hash = internal.hash::<TreeHasher>();
    parts[0].node_batch = NodeBatch::new(BTreeMap::from([(root_key(version), root)]), BTreeMap::new());
    Ok((RootHash(hash), parts))
}

/// The tree as one job sees it: a root with only the job's child (plus a
/// placeholder), every other node the tree's own.
struct SubtreeView<'a, R> {
    reader: &'a R,
    root_key: NodeKey,
    root: Node,
}

impl<'a, R: TreeReader> SubtreeView<'a, R> {
    fn new(
        reader: &'a R,
        root_key: NodeKey,
        nibble: u8,
        old_children: &[Option<ChildForm>],
    ) -> Result<SubtreeView<'a, R>, StoreError> {
        let mut children = vec![None; SUBTREES];
        children[usize::from(nibble)] = old_children[usize::from(nibble)].clone();
        // A sibling no key of this job reaches: the view's new root then has
        // two children, as the library requires when one of them is a leaf.
        let placeholder = (usize::from(nibble) + 1) % SUBTREES;
        children[placeholder] =
            Some(ChildForm { hash: [0; 32], version: root_key.version(), node_type: NodeTypeForm::Leaf });
        Ok(SubtreeView { reader, root_key, root: InternalForm::node(children)? })
    }
}

impl<R: TreeReader> TreeReader for SubtreeView<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        if *node_key == self.root_key {
            return Ok(Some(self.root.clone()));
        }
        self.reader.get_node_option(node_key)
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        self.reader.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, jmt::storage::LeafNode)>> {
        self.reader.get_rightmost_leaf()
    }
}

// The library builds internal nodes only inside its own update, so the new
// root is written in the library's borsh form and read back as a `Node`.
// The forms below mirror that encoding field for field (a test checks every
// internal node of a tree round-trips through them).

/// `jmt::NodeType`'s form.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize)]
enum NodeTypeForm {
    Leaf,
    Internal { leaf_count: u64 },
}

/// `jmt::Child`'s form: the child's hash, version and type.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize)]
struct ChildForm {
    hash: [u8; 32],
    version: u64,
    node_type: NodeTypeForm,
}

impl ChildForm {
    /// The form of `node`'s child at `nibble`, if `node` is an internal
    /// node with one there (the library does not export the child's type).
    fn of(node: &Node, nibble: u8) -> Option<ChildForm> {
        let Node::Internal(node) = node else { return None };
        let child = node.child(nibble.into())?;
        let node_type = if child.is_leaf() {
            NodeTypeForm::Leaf
        } else {
            NodeTypeForm::Internal { leaf_count: child.leaf_count() as u64 }
        };
        Some(ChildForm { hash: child.hash, version: child.version, node_type })
    }

    fn leaf_count(&self) -> u64 {
        match self.node_type {
            NodeTypeForm::Leaf => 1,
            NodeTypeForm::Internal { leaf_count } => leaf_count,
        }
    }
}

/// `jmt::Node::Internal`'s form: the variant's index, then the children
/// (sixteen optional slots and their count) and the leaf count.
#[derive(BorshSerialize)]
struct InternalForm {
    variant: u8,
    children: [Option<ChildForm>; SUBTREES],
    num_children: u64,
    leaf_count: u64,
}

impl InternalForm {
    /// The internal node with `children` (sixteen slots).
    fn node(children: Vec<Option<ChildForm>>) -> Result<Node, StoreError> {
        let children: [Option<ChildForm>; SUBTREES] =
            children.try_into().map_err(|_| tree_error(anyhow::anyhow!("an internal node has sixteen slots")))?;
        let num_children = children.iter().flatten().count() as u64;
        let leaf_count = children.iter().flatten().map(ChildForm::leaf_count).sum();
        let form = InternalForm { variant: 1, children, num_children, leaf_count };
        let bytes = borsh::to_vec(&form).map_err(|error| tree_error(error.into()))?;
        borsh::from_slice(&bytes).map_err(|error| tree_error(error.into()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::access::StateKey;
    use crate::primitives::Address;
    use crate::state::commitment::{StateCommitment, prepare_update_on};
    use crate::state::{Value, WriteSet};

    fn key(index: u16) -> StateKey {
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
    /// split update on 2, 3 and 16 threads gives exactly the library's
    /// update of the whole tree: the same root, nodes, values and stale
    /// entries.
    fn split_equals_whole(genesis: &[u16], blocks: &[Vec<u16>]) {
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(genesis, 0)).unwrap()).unwrap();
        for (round, keys) in (1u8..).zip(blocks) {
            let writes = puts(keys, round);
            let version = tree.next_version();
            let whole = prepare_update_on(&tree, version, &writes, 1).unwrap();
            let set: Puts = writes
                .iter()
                .map(|(key, value)| (crate::state::key_hash(key), value.as_deref().unwrap_or_default().to_vec()))
                .collect();
            let applies = prepare_split(&tree, version, set, 2).unwrap().is_ok();
            assert_eq!(applies, tree.len() > 1, "the split applies when the root is an internal node");
            for threads in [2, 3, 16] {
                let split = prepare_update_on(&tree, version, &writes, threads).unwrap();
                assert_eq!(split.root(), whole.root(), "{threads} threads");
                let (split_nodes, whole_nodes): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    (split.nodes().collect(), whole.nodes().collect());
                assert_eq!(split_nodes, whole_nodes, "{threads} threads");
                assert!(split.values().eq(whole.values()), "{threads} threads");
                assert_eq!(split.stale_nodes(), whole.stale_nodes(), "{threads} threads");
            }
            tree.apply(whole).unwrap();
        }
    }

    #[test]
    fn a_subtree_of_one_leaf_is_updated_and_grown() {
        // Two keys: each first nibble's subtree is a single leaf; the first
        // block rewrites one of them, the second grows the other's subtree.
        let keys: Vec<u16> = (0..200).collect();
        let hashes: Vec<u8> = keys.iter().map(|k| crate::state::key_hash(&key(*k)).0[0] >> 4).collect();
        let first = keys[hashes.iter().position(|nibble| *nibble != hashes[0]).unwrap()];
        let same_nibble = keys[1..].iter().zip(&hashes[1..]).find(|(_, nibble)| **nibble == hashes[0]).unwrap().0;
        split_equals_whole(&[keys[0], first], &[vec![first], vec![*same_nibble], vec![keys[0], first, 150, 151]]);
    }

    #[test]
    fn the_split_does_not_apply_to_a_root_that_is_a_leaf() {
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(&[1], 0)).unwrap()).unwrap();
        let set = vec![(crate::state::key_hash(&key(2)), vec![1])];
        assert!(prepare_split(&tree, 1, set, 2).unwrap().is_err());
        split_equals_whole(&[1], &[vec![2], vec![1, 3]]);
    }

    #[test]
    fn every_internal_node_round_trips_through_its_form() {
        let mut tree = StateCommitment::new();
        tree.apply(tree.prepare(&puts(&(0..500).collect::<Vec<_>>(), 0)).unwrap()).unwrap();
        let version = tree.next_version();
        let update = prepare_update_on(&tree, version, &puts(&[3, 300], 1), 1).unwrap();
        let mut internal = 0;
        for (_, node) in update.nodes() {
            if !matches!(node, Node::Internal(_)) {
                continue;
            }
            let children = (0..16u8).map(|nibble| ChildForm::of(node, nibble)).collect();
            assert_eq!(&InternalForm::node(children).unwrap(), node);
            internal += 1;
        }
        assert!(internal > 2);
        assert_eq!(root_key(7), NodeKey::new(7, update.nodes().next().unwrap().0.nibble_path().clone()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random trees and blocks of puts: the split update is the library's.
        #[test]
        fn split_update_equals_the_whole_tree_update(
            genesis in proptest::collection::vec(0u16..3_000, 1..400),
            blocks in proptest::collection::vec(proptest::collection::vec(0u16..3_000, 1..300), 1..4),
        ) {
            split_equals_whole(&genesis, &blocks);
        }
    }
}
