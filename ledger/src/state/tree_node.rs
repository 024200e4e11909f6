//! The state tree's nodes as the node keeps them: plain data, hashed and
//! encoded here exactly as the `jmt` crate hashes and encodes its own.
//!
//! The crate's node types are opaque (their constructors are private, a
//! position is a heap-allocated `NibblePath`, an internal node boxes its
//! children), so a block's update that went through them spent most of its
//! time allocating, cloning and converting rather than hashing. Here a
//! position ([`TreePath`]) is 33 bytes on the stack, a node's place in the
//! versioned tree ([`NodeAt`]) is a version and a position, and a node
//! ([`TreeNode`]) is a leaf's two hashes or an internal node's children
//! (only the slots in use: [`Children`]). Stores keep these; the crate's
//! types are made from them only where the crate reads (proofs, its own
//! update), through the crate's encoding, which [`TreeNode::encode`] writes byte for byte
//! (tests check every node of a tree both ways).

use std::borrow::Cow;

use jmt::storage::{NibblePath, Node, NodeKey};
use jmt::{KeyHash, ValueHash, Version};

use super::StoreError;
use super::commitment::{EMPTY_ROOT, tree_error};
use crate::primitives::sha256_parts;

/// The children of an internal node.
pub const SUBTREES: usize = 16;

/// The most nibbles a position has (a key hash's).
const MAX_NIBBLES: usize = 64;

/// A position in the tree: the first nibbles of the key hashes below it,
/// packed two to a byte (high nibble first), the unused ones zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreePath {
    len: u8,
    bytes: [u8; 32],
}

impl TreePath {
    /// The root's position.
    pub const ROOT: TreePath = TreePath { len: 0, bytes: [0; 32] };

    /// How many nibbles (0 at the root).
    pub fn depth(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether this is the root's position.
    pub fn is_root(&self) -> bool {
        self.len == 0
    }

    /// The nibble at `index` (0: the first).
    pub fn nibble(&self, index: usize) -> u8 {
        let byte = self.bytes[index / 2];
        if index.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f }
    }

    /// The position of child `nibble` (below 16) of this one, which must be
    /// shorter than a key hash.
    pub fn child(&self, nibble: u8) -> TreePath {
        let mut child = *self;
        let index = self.depth();
        debug_assert!(index < MAX_NIBBLES && nibble < 16);
        if index.is_multiple_of(2) {
            child.bytes[index / 2] = nibble << 4;
        } else {
            child.bytes[index / 2] |= nibble & 0x0f;
        }
        child.len += 1;
        child
    }

    /// The packed nibbles (the last byte's low half is zero when odd).
    fn packed(&self) -> &[u8] {
        &self.bytes[..self.depth().div_ceil(2)]
    }

    /// Appends the crate's encoding of this position (borsh of a
    /// `NibblePath`: the nibble count as a `u64`, then the packed bytes as
    /// a `Vec<u8>`).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&u64::from(self.len).to_le_bytes());
        out.extend_from_slice(&u32::from(self.len.div_ceil(2)).to_le_bytes());
        out.extend_from_slice(self.packed());
    }

    /// The crate's position.
    pub fn to_nibble_path(&self) -> NibblePath {
        (0..self.depth()).map(|index| self.nibble(index).into()).collect()
    }

    /// The position of the crate's `path`.
    pub fn of(path: &NibblePath) -> TreePath {
        path.nibbles().fold(TreePath::ROOT, |at, nibble| at.child(u8::from(nibble)))
    }
}

impl std::fmt::Debug for TreePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nibbles: String =
            (0..self.depth()).map(|index| char::from(b"0123456789abcdef"[usize::from(self.nibble(index))])).collect();
        write!(f, "TreePath({nibbles})")
    }
}

/// A node's place in the versioned tree: the version that wrote it and
/// its position (the crate's `NodeKey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAt {
    /// The version (block height) that wrote the node.
    pub version: Version,
    /// Its position.
    pub path: TreePath,
}

impl NodeAt {
    /// The crate's key of this node.
    pub fn to_node_key(&self) -> NodeKey {
        NodeKey::new(self.version, self.path.to_nibble_path())
    }

    /// The place the crate's `key` names.
    pub fn of(key: &NodeKey) -> NodeAt {
        NodeAt { version: key.version(), path: TreePath::of(key.nibble_path()) }
    }
}

/// A tree as a block's update reads it: the node at a place, in the
/// node's own form. The default reads the crate's node through
/// [`jmt::storage::TreeReader`] and converts it; stores that keep
/// [`TreeNode`]s answer without the conversion.
pub trait TreeNodes: jmt::storage::TreeReader + Sync {
    /// The node at `at`, if stored (borrowed where the store can lend it).
    fn tree_node(&self, at: &NodeAt) -> Result<Option<Cow<'_, TreeNode>>, StoreError> {
        match self.get_node_option(&at.to_node_key()).map_err(tree_error)? {
            Some(node) => TreeNode::of(&node).map(|node| Some(Cow::Owned(node))),
            None => Ok(None),
        }
    }
}

/// What a child slot says of its child (the crate's `NodeType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// A leaf.
    Leaf,
    /// An internal node over this many leaves.
    Internal {
        /// Leaves below it.
        leaf_count: u64,
    },
}

/// A child slot of an internal node (the crate's `Child`): the child's
/// hash, the version that wrote it and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildSlot {
    /// The child's hash.
    pub hash: [u8; 32],
    /// The version that wrote the child (its key's version).
    pub version: Version,
    /// Leaf or internal node.
    pub kind: ChildKind,
}

impl ChildSlot {
    /// Leaves at or below the child.
    pub fn leaf_count(&self) -> u64 {
        match self.kind {
            ChildKind::Leaf => 1,
            ChildKind::Internal { leaf_count } => leaf_count,
        }
    }

    fn is_leaf(&self) -> bool {
        self.kind == ChildKind::Leaf
    }
}

/// Sixteen child slots by nibble, as an internal node is built (on the
/// stack).
pub type ChildArray = [Option<ChildSlot>; SUBTREES];

/// The children of an internal node as kept: which slots are in use (a bit
/// per nibble) and their children in nibble order, nothing for the empty
/// slots. Most internal nodes sit at the bottom of the tree with two or
/// three children: 112 or 168 bytes of slots, where all sixteen took 896,
/// copied into each new version of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Children {
    used: u16,
    slots: Box<[ChildSlot]>,
}

impl Children {
    /// The children in `slots`.
    pub fn new(slots: &ChildArray) -> Children {
        let used =
            (0..SUBTREES).filter(|nibble| slots[*nibble].is_some()).fold(0u16, |used, nibble| used | 1 << nibble);
        Children { used, slots: slots.iter().flatten().copied().collect() }
    }

    /// The child in slot `nibble` (below 16).
    pub fn get(&self, nibble: u8) -> Option<&ChildSlot> {
        let bit = 1u16 << nibble;
        if self.used & bit == 0 {
            return None;
        }
        self.slots.get((self.used & (bit - 1)).count_ones() as usize)
    }

    /// The children in nibble order, each with its nibble.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &ChildSlot)> {
        (0u8..16).filter(|nibble| self.used & 1 << nibble != 0).zip(self.slots.iter())
    }

    /// The sixteen slots.
    pub fn to_array(&self) -> ChildArray {
        let mut slots = [None; SUBTREES];
        for (nibble, child) in self.iter() {
            slots[usize::from(nibble)] = Some(*child);
        }
        slots
    }

    /// How many children.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there is none (never so in a tree).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Leaves below the node.
    pub fn leaf_count(&self) -> u64 {
        self.slots.iter().map(ChildSlot::leaf_count).sum()
    }
}

/// A leaf: a key's hash and its value's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeLeaf {
    /// The key's hash (its path).
    pub key_hash: KeyHash,
    /// The value's hash.
    pub value_hash: ValueHash,
}

/// The domain tag of a leaf's hash.
const LEAF_TAG: &[u8] = b"JMT::LeafNode";
/// The domain tag of an internal node's hash.
const INTERNAL_TAG: &[u8] = b"JMT::IntrnalNode";

impl TreeLeaf {
    /// `SHA-256("JMT::LeafNode" || key_hash || value_hash)`.
    pub fn hash(&self) -> [u8; 32] {
        sha256_parts(&[LEAF_TAG, &self.key_hash.0, &self.value_hash.0])
    }
}

/// A tree node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeNode {
    /// The empty tree's root.
    Null,
    /// A leaf.
    Leaf(TreeLeaf),
    /// An internal node (at least one child; one only over a subtree that
    /// is not a lone leaf).
    Internal(Children),
}

/// The most bytes a node's encoding takes: the variant, sixteen slots of a
/// tag, a hash, a version and a kind with a leaf count, then the number of
/// children and the leaf count.
const MAX_ENCODED: usize = 1 + SUBTREES * (1 + 32 + 8 + 1 + 8) + 8 + 8;

impl TreeNode {
    /// The node's hash: a leaf's, an internal node's children seen as the
    /// 4-level binary tree of docs/encoding.md, the placeholder for null.
    pub fn hash(&self) -> [u8; 32] {
        match self {
            TreeNode::Null => EMPTY_ROOT.0,
            TreeNode::Leaf(leaf) => leaf.hash(),
            TreeNode::Internal(children) => internal_hash(children),
        }
    }

    /// Leaves at or below the node.
    pub fn leaf_count(&self) -> u64 {
        match self {
            TreeNode::Null => 0,
            TreeNode::Leaf(_) => 1,
            TreeNode::Internal(children) => children.leaf_count(),
        }
    }

    /// The node's encoding: the crate's borsh encoding of its `Node`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(match self {
            TreeNode::Internal(_) => MAX_ENCODED,
            _ => 65,
        });
        match self {
            TreeNode::Null => out.push(0),
            TreeNode::Leaf(leaf) => {
                out.push(2);
                out.extend_from_slice(&leaf.key_hash.0);
                out.extend_from_slice(&leaf.value_hash.0);
            }
            TreeNode::Internal(children) => encode_internal(children, &mut out),
        }
        out
    }

    /// The node encoded in `bytes` (see [`TreeNode::encode`]); an error
    /// for anything the crate would not have written.
    pub fn decode(bytes: &[u8]) -> Result<TreeNode, StoreError> {
        let mut reader = Reader { bytes, at: 0 };
        let node = match reader.u8()? {
            0 => TreeNode::Null,
            1 => TreeNode::Internal(decode_internal(&mut reader)?),
            2 => TreeNode::Leaf(TreeLeaf { key_hash: KeyHash(reader.hash()?), value_hash: ValueHash(reader.hash()?) }),
            tag => return Err(corrupt(format!("node variant {tag}"))),
        };
        if reader.at != bytes.len() {
            return Err(corrupt(format!("{} bytes after the node", bytes.len() - reader.at)));
        }
        Ok(node)
    }

    /// The crate's node.
    pub fn to_jmt(&self) -> Result<Node, StoreError> {
        borsh::from_slice(&self.encode()).map_err(|error| corrupt(error.to_string()))
    }

    /// The node the crate's `node` is.
    pub fn of(node: &Node) -> Result<TreeNode, StoreError> {
        TreeNode::decode(&borsh::to_vec(node).map_err(|error| corrupt(error.to_string()))?)
    }
}

/// The hash of an internal node with `children`.
fn internal_hash(children: &Children) -> [u8; 32] {
    let leaves =
        children.iter().filter(|(_, slot)| slot.is_leaf()).fold(0u16, |leaves, (nibble, _)| leaves | 1 << nibble);
    subtree_hash(children, 0, SUBTREES, children.used, leaves)
}

/// The hash of slots `start..start + width` seen as a binary tree: the
/// placeholder when empty, a lone leaf's (or the last level's) own hash,
/// else the hash of its two halves.
fn subtree_hash(children: &Children, start: usize, width: usize, exists: u16, leaves: u16) -> [u8; 32] {
    let mask = u16::MAX >> (SUBTREES - width) << start;
    let (exists, leaves) = (exists & mask, leaves & mask);
    if exists == 0 {
        return EMPTY_ROOT.0;
    }
    if width == 1 || (exists.count_ones() == 1 && leaves != 0) {
        let only = u8::try_from(exists.trailing_zeros()).ok().and_then(|only| children.get(only));
        return only.map_or(EMPTY_ROOT.0, |slot| slot.hash);
    }
    let half = width / 2;
    let left = subtree_hash(children, start, half, exists, leaves);
    let right = subtree_hash(children, start + half, half, exists, leaves);
    sha256_parts(&[INTERNAL_TAG, &left, &right])
}

/// Appends an internal node's encoding: variant 1, sixteen optional
/// children (borsh options: a 0 or 1 tag; a child is its hash, version and
/// kind, a leaf 0, an internal node 1 and its leaf count), their count and
/// the leaf count (`usize` as a `u64`).
fn encode_internal(children: &Children, out: &mut Vec<u8>) {
    out.push(1);
    let (mut count, mut leaves) = (0u64, 0u64);
    for nibble in 0..16 {
        let Some(child) = children.get(nibble) else {
            out.push(0);
            continue;
        };
        out.push(1);
        out.extend_from_slice(&child.hash);
        out.extend_from_slice(&child.version.to_le_bytes());
        match child.kind {
            ChildKind::Leaf => out.push(0),
            ChildKind::Internal { leaf_count } => {
                out.push(1);
                out.extend_from_slice(&leaf_count.to_le_bytes());
            }
        }
        count += 1;
        leaves += child.leaf_count();
    }
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&leaves.to_le_bytes());
}

/// An internal node's children after its variant tag; its count and leaf
/// count must be its children's.
fn decode_internal(reader: &mut Reader<'_>) -> Result<Children, StoreError> {
    let mut children: ChildArray = [None; SUBTREES];
    for slot in &mut children {
        *slot = match reader.u8()? {
            0 => None,
            1 => {
                let (hash, version) = (reader.hash()?, reader.u64()?);
                let kind = match reader.u8()? {
                    0 => ChildKind::Leaf,
                    1 => ChildKind::Internal { leaf_count: reader.u64()? },
                    tag => return Err(corrupt(format!("child kind {tag}"))),
                };
                Some(ChildSlot { hash, version, kind })
            }
            tag => return Err(corrupt(format!("child tag {tag}"))),
        };
    }
    let (count, leaves) = (reader.u64()?, reader.u64()?);
    let present = children.iter().flatten().count() as u64;
    let below: u64 = children.iter().flatten().map(ChildSlot::leaf_count).sum();
    if count != present || leaves != below || present == 0 {
        return Err(corrupt(format!(
            "an internal node of {present} children over {below} leaves says {count} over {leaves}"
        )));
    }
    Ok(Children::new(&children))
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt { what: "state tree node".to_string(), reason }
}

/// Reads an encoding front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let field = self.bytes.get(self.at..).and_then(|rest| rest.first_chunk::<N>());
        let field = *field.ok_or_else(|| corrupt("truncated".to_string()))?;
        self.at += N;
        Ok(field)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    fn hash(&mut self) -> Result<[u8; 32], StoreError> {
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use jmt::storage::{NibblePath, Node};
    use proptest::prelude::*;

    use super::*;
    use crate::state::commitment::{StateCommitment, StateTree, key_hash};
    use crate::state::tree_update::tests::key;

    /// The library's own nodes for a tree of `keys` (version 0) and for a
    /// block rewriting `rewritten` of them (version 1): leaves, internal
    /// nodes of every width, a copied root.
    fn library_nodes(keys: u16, rewritten: &[u16]) -> Vec<(NodeKey, Node)> {
        let set = |keys: &mut dyn Iterator<Item = u16>, round: u8| -> Vec<(KeyHash, Vec<u8>)> {
            keys.map(|index| (key_hash(&key(index)), vec![round, index.to_le_bytes()[0]])).collect()
        };
        let mut tree = StateCommitment::new();
        let first = StateTree::new(&tree).batch_put_value_sets(vec![set(&mut (0..keys), 0)], None, 0).unwrap().1;
        let mut nodes: Vec<(NodeKey, Node)> =
            first.node_batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())).collect();
        let writes = (0..keys)
            .map(|index| (key(index), Some(crate::state::Value::from(vec![0, index.to_le_bytes()[0]]))))
            .collect();
        tree.apply(tree.prepare(&writes).unwrap()).unwrap();
        let second = StateTree::new(&tree)
            .batch_put_value_sets(vec![set(&mut rewritten.iter().copied(), 1)], None, 1)
            .unwrap()
            .1;
        nodes.extend(second.node_batch.nodes().iter().map(|(k, n)| (k.clone(), n.clone())));
        nodes
    }

    fn jmt_hash(node: &Node) -> [u8; 32] {
        match node {
            Node::Null => EMPTY_ROOT.0,
            Node::Internal(internal) => internal.hash::<crate::state::TreeHasher>(),
            Node::Leaf(leaf) => leaf.hash::<crate::state::TreeHasher>(),
        }
    }

    #[test]
    fn every_node_of_a_tree_is_the_library_node_hashed_and_encoded_alike() {
        let nodes = library_nodes(600, &[3, 300, 599]);
        let (mut internal, mut leaves) = (0, 0);
        for (node_key, node) in &nodes {
            let ours = TreeNode::of(node).unwrap();
            assert_eq!(ours.encode(), borsh::to_vec(node).unwrap(), "{node_key:?}");
            assert_eq!(&ours.to_jmt().unwrap(), node);
            assert_eq!(ours.hash(), jmt_hash(node), "{node_key:?}");
            match (node, &ours) {
                (Node::Internal(library), TreeNode::Internal(_)) => {
                    assert_eq!(ours.leaf_count(), library.leaf_count() as u64);
                    internal += 1;
                }
                (Node::Leaf(library), TreeNode::Leaf(leaf)) => {
                    assert_eq!(leaf.key_hash, library.key_hash());
                    leaves += 1;
                }
                other => panic!("{other:?}"),
            }
            let at = NodeAt::of(node_key);
            assert_eq!(&at.to_node_key(), node_key);
            let mut encoded = Vec::new();
            at.path.encode_into(&mut encoded);
            assert_eq!(encoded, borsh::to_vec(node_key.nibble_path()).unwrap());
        }
        assert!(internal > 20 && leaves > 600, "{internal} internal nodes, {leaves} leaves");
        assert_eq!(TreeNode::of(&Node::Null).unwrap(), TreeNode::Null);
        assert_eq!(TreeNode::Null.hash(), EMPTY_ROOT.0);
    }

    #[test]
    fn an_encoding_the_library_would_not_write_is_corrupt() {
        let nodes = library_nodes(100, &[5]);
        let internal = nodes.iter().find(|(_, node)| matches!(node, Node::Internal(_))).unwrap();
        let bytes = borsh::to_vec(&internal.1).unwrap();
        let corrupt = |bytes: &[u8]| matches!(TreeNode::decode(bytes), Err(StoreError::Corrupt { .. }));
        assert!(corrupt(&bytes[..bytes.len() - 1]), "truncated");
        assert!(corrupt(&[bytes.as_slice(), &[0]].concat()), "a byte after the node");
        assert!(corrupt(&[3]), "an unknown variant");
        assert!(corrupt(&[]), "nothing");
        let mut count = bytes.clone();
        let at = count.len() - 16;
        count[at] ^= 1;
        assert!(corrupt(&count), "a child count that is not the children's");
        let mut leaves = bytes.clone();
        let at = leaves.len() - 8;
        leaves[at] ^= 1;
        assert!(corrupt(&leaves), "a leaf count that is not the children's");
        let mut tag = bytes;
        tag[1] = 7;
        assert!(corrupt(&tag), "a child tag that is not an option's");
        let empty: Vec<u8> = [&[1u8][..], &[0; 16], &[0; 16]].concat();
        assert!(corrupt(&empty), "an internal node without children");
    }

    proptest! {
        /// Children keep exactly the slots in use: each read back by its
        /// nibble, the empty ones absent, in nibble order, the sixteen
        /// slots rebuilt as they were.
        #[test]
        fn children_keep_the_slots_in_use(used in any::<u16>(), seed in any::<u8>()) {
            let slots: ChildArray = std::array::from_fn(|index| {
                let nibble = u8::try_from(index).unwrap();
                let kind = match nibble % 3 {
                    0 => ChildKind::Leaf,
                    _ => ChildKind::Internal { leaf_count: u64::from(nibble) + 2 },
                };
                let slot = ChildSlot { hash: [seed ^ nibble; 32], version: u64::from(nibble), kind };
                (used & 1 << nibble != 0).then_some(slot)
            });
            let children = Children::new(&slots);
            prop_assert_eq!(children.to_array(), slots);
            prop_assert_eq!(children.len(), used.count_ones() as usize);
            for nibble in 0..16u8 {
                prop_assert_eq!(children.get(nibble), slots[usize::from(nibble)].as_ref());
            }
            let listed: Vec<u8> = children.iter().map(|(nibble, _)| nibble).collect();
            prop_assert_eq!(listed, (0..16u8).filter(|nibble| used & 1 << nibble != 0).collect::<Vec<_>>());
            prop_assert_eq!(children.leaf_count(), slots.iter().flatten().map(ChildSlot::leaf_count).sum::<u64>());
        }

        /// Positions convert to and from the library's and encode alike.
        #[test]
        fn positions_are_the_library_positions(nibbles in proptest::collection::vec(0u8..16, 0..=64)) {
            let library: NibblePath = nibbles.iter().map(|nibble| (*nibble).into()).collect();
            let ours = nibbles.iter().fold(TreePath::ROOT, |path, nibble| path.child(*nibble));
            prop_assert_eq!(TreePath::of(&library), ours);
            prop_assert_eq!(ours.to_nibble_path(), library.clone());
            prop_assert_eq!(ours.depth(), nibbles.len());
            let mut encoded = Vec::new();
            ours.encode_into(&mut encoded);
            prop_assert_eq!(encoded, borsh::to_vec(&library).unwrap());
        }
    }
}
