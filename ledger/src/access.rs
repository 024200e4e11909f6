//! State keys and access sets.
//!
//! A transaction declares, before it runs, every state key it may touch and
//! how: [`AccessMode::Read`], [`AccessMode::Write`] or [`AccessMode::Delta`]
//! (commutative add/subtract on an aggregate). The scheduler builds its
//! dependency graph from these declarations alone; the executor enforces them
//! (touching anything else fails the transaction with `AccessViolation`).

use std::fmt;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::limits::ACCESS_KEYS_PER_TRANSACTION_MAX;
use crate::primitives::{Address, AssetId};

/// One piece of state. Each key holds one value (bytes).
///
/// The derived order is the order of the canonical encoding (variant tag,
/// then fields byte by byte), so sorting keys sorts their encodings.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum StateKey {
    /// Global configuration: admin and oracle keys, the list of markets, limits.
    Config,
    /// An account's nonce. Managed by the ledger, not by contracts.
    Account {
        /// The account.
        owner: Address,
    },
    /// Wallet tokens of one asset. An aggregate (one field: the balance).
    Balance {
        /// The holder.
        owner: Address,
        /// The asset.
        asset: AssetId,
    },
    /// All of one user's deposits, debts and collateral flags.
    Position {
        /// The user.
        owner: Address,
    },
    /// A market's parameters.
    MarketConfig {
        /// The market's asset.
        asset: AssetId,
    },
    /// A market's indices and rates; written only between transactions.
    MarketIndex {
        /// The market's asset.
        asset: AssetId,
    },
    /// A market's totals (deposits, debt, cash, deficit, isolation debt). An aggregate.
    MarketTotals {
        /// The market's asset.
        asset: AssetId,
    },
    /// The oracle price of an asset.
    Price {
        /// The asset.
        asset: AssetId,
    },
}

impl StateKey {
    /// Whether the key holds an aggregate: a vector of `u128` fields that
    /// transactions may change with commutative deltas.
    pub fn is_aggregate(&self) -> bool {
        matches!(self, StateKey::Balance { .. } | StateKey::MarketTotals { .. })
    }

    /// Whether the key belongs to no account: configuration, a market's
    /// parameters, indices and totals, a price. Such keys are read by
    /// transactions of every user.
    pub fn is_global(&self) -> bool {
        !matches!(self, StateKey::Account { .. } | StateKey::Balance { .. } | StateKey::Position { .. })
    }

    /// The first eight bytes of the canonical encoding (zero-padded), as a
    /// big-endian integer: `a < b` implies `a.order_prefix() <=
    /// b.order_prefix()`. Sorting many keys by it, and by the whole key only
    /// on ties, compares integers instead of 32-byte arrays.
    pub fn order_prefix(&self) -> u64 {
        let (tag, field): (u8, &[u8]) = match self {
            StateKey::Config => (0, &[]),
            StateKey::Account { owner } => (1, owner.as_bytes()),
            StateKey::Balance { owner, .. } => (2, owner.as_bytes()),
            StateKey::Position { owner } => (3, owner.as_bytes()),
            StateKey::MarketConfig { asset } => (4, asset.as_bytes()),
            StateKey::MarketIndex { asset } => (5, asset.as_bytes()),
            StateKey::MarketTotals { asset } => (6, asset.as_bytes()),
            StateKey::Price { asset } => (7, asset.as_bytes()),
        };
        let mut prefix = [0u8; 8];
        prefix[0] = tag;
        let length = field.len().min(7);
        prefix[1..=length].copy_from_slice(&field[..length]);
        u64::from_be_bytes(prefix)
    }

    /// The canonical encoding of the key.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(41);
        crate::encoding::encode_canonical_into(self, &mut out);
        out
    }

    /// Decodes a key from its canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<StateKey, io::Error> {
        borsh::from_slice(bytes)
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |address: &Address| hex::encode(&address.0[..4]);
        match self {
            StateKey::Config => write!(f, "config"),
            StateKey::Account { owner } => write!(f, "account/{}", short(owner)),
            StateKey::Balance { owner, asset } => write!(f, "balance/{}/{asset}", short(owner)),
            StateKey::Position { owner } => write!(f, "position/{}", short(owner)),
            StateKey::MarketConfig { asset } => write!(f, "market-config/{asset}"),
            StateKey::MarketIndex { asset } => write!(f, "market-index/{asset}"),
            StateKey::MarketTotals { asset } => write!(f, "market-totals/{asset}"),
            StateKey::Price { asset } => write!(f, "price/{asset}"),
        }
    }
}

/// How a transaction may use a key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
#[borsh(use_discriminant = true)]
pub enum AccessMode {
    /// Read the value.
    Read = 0,
    /// Read and replace the value.
    Write = 1,
    /// Add to or subtract from fields of an aggregate, without reading it;
    /// only bounded operations observe the value (see `exec`).
    Delta = 2,
}

impl AccessMode {
    /// The weakest mode that allows both `self` and `other`.
    pub fn merge(self, other: AccessMode) -> AccessMode {
        match (self, other) {
            (a, b) if a == b => a,
            _ => AccessMode::Write,
        }
    }

    /// Whether two transactions using one key in these modes must be ordered.
    pub fn conflicts_with(self, other: AccessMode) -> bool {
        !matches!((self, other), (AccessMode::Read, AccessMode::Read) | (AccessMode::Delta, AccessMode::Delta))
    }
}

/// One declared key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// The key.
    pub key: StateKey,
    /// How it may be used.
    pub mode: AccessMode,
}

/// Sorts accesses by key and merges duplicates into the weakest mode that
/// allows all of them. No limit is checked.
pub fn merge_accesses(entries: impl IntoIterator<Item = Access>) -> Vec<Access> {
    let mut entries: Vec<Access> = entries.into_iter().collect();
    entries.sort_by_key(|entry| entry.key);
    let mut merged: Vec<Access> = Vec::with_capacity(entries.len());
    for entry in entries {
        match merged.last_mut() {
            Some(last) if last.key == entry.key => last.mode = last.mode.merge(entry.mode),
            _ => merged.push(entry),
        }
    }
    merged
}

/// Why a list of accesses is not a valid access set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessSetError {
    /// More than [`ACCESS_KEYS_PER_TRANSACTION_MAX`] keys.
    #[error("access set has {0} keys, more than the limit of {ACCESS_KEYS_PER_TRANSACTION_MAX}")]
    TooLarge(usize),
    /// Keys are not strictly increasing (unsorted or duplicated).
    #[error("access set keys must be sorted and unique")]
    NotSorted,
    /// Delta mode on a key that is not an aggregate.
    #[error("delta mode is only allowed on aggregate keys, not on {0}")]
    DeltaOnNonAggregate(StateKey),
}

/// A transaction's declared accesses: sorted by key, unique, bounded.
///
/// The invariants hold for every value of this type: the constructor and the
/// decoder check them, so a decoded transaction has a valid set.
#[derive(Clone, PartialEq, Eq, Hash, Default, BorshSerialize, Serialize)]
#[serde(transparent)]
pub struct AccessSet(Vec<Access>);

impl AccessSet {
    /// Builds a set from declared entries, checking every invariant.
    pub fn new(entries: Vec<Access>) -> Result<AccessSet, AccessSetError> {
        if entries.len() > ACCESS_KEYS_PER_TRANSACTION_MAX {
            return Err(AccessSetError::TooLarge(entries.len()));
        }
        if entries.windows(2).any(|pair| pair[0].key >= pair[1].key) {
            return Err(AccessSetError::NotSorted);
        }
        if let Some(entry) = entries.iter().find(|e| e.mode == AccessMode::Delta && !e.key.is_aggregate()) {
            return Err(AccessSetError::DeltaOnNonAggregate(entry.key));
        }
        Ok(AccessSet(entries))
    }

    /// Builds a set from any entries: sorts, and merges duplicates into the
    /// weakest mode that allows all of them. Fails only on the size limit or
    /// a delta on a non-aggregate.
    pub fn from_unsorted(entries: impl IntoIterator<Item = Access>) -> Result<AccessSet, AccessSetError> {
        AccessSet::new(merge_accesses(entries))
    }

    /// The declared mode of `key`, if declared.
    pub fn mode_of(&self, key: &StateKey) -> Option<AccessMode> {
        self.position_of(key).map(|index| self.0[index].mode)
    }

    /// The position of `key` among the entries, if declared.
    pub fn position_of(&self, key: &StateKey) -> Option<usize> {
        self.0.binary_search_by(|entry| entry.key.cmp(key)).ok()
    }

    /// The entries, sorted by key.
    pub fn entries(&self) -> &[Access] {
        &self.0
    }

    /// Number of declared keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for AccessSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|e| format!("{:?} {}", e.mode, e.key))).finish()
    }
}

impl BorshDeserialize for AccessSet {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let entries = Vec::<Access>::deserialize_reader(reader)?;
        AccessSet::new(entries).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }
}

impl<'de> Deserialize<'de> for AccessSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = <Vec<Access> as Deserialize>::deserialize(deserializer)?;
        AccessSet::new(entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn asset(symbol: &str) -> AssetId {
        AssetId::new(symbol).unwrap()
    }

    pub(crate) fn any_key() -> impl Strategy<Value = StateKey> {
        let address = any::<[u8; 32]>().prop_map(Address);
        let asset = prop_oneof![Just(asset("USDC")), Just(asset("WETH")), Just(asset("A1")), Just(asset("ZZZZZZZZ"))];
        prop_oneof![
            Just(StateKey::Config),
            address.clone().prop_map(|owner| StateKey::Account { owner }),
            (address.clone(), asset.clone()).prop_map(|(owner, asset)| StateKey::Balance { owner, asset }),
            address.prop_map(|owner| StateKey::Position { owner }),
            asset.clone().prop_map(|asset| StateKey::MarketConfig { asset }),
            asset.clone().prop_map(|asset| StateKey::MarketIndex { asset }),
            asset.clone().prop_map(|asset| StateKey::MarketTotals { asset }),
            asset.prop_map(|asset| StateKey::Price { asset }),
        ]
    }

    proptest! {
        #[test]
        fn key_order_is_encoding_order(a in any_key(), b in any_key()) {
            prop_assert_eq!(a.cmp(&b), a.encode().cmp(&b.encode()));
            prop_assert_eq!(StateKey::decode(&a.encode()).unwrap(), a);
        }

        #[test]
        fn the_order_prefix_is_the_encodings_first_bytes(a in any_key(), b in any_key()) {
            let mut first = [0u8; 8];
            let encoding = a.encode();
            let length = encoding.len().min(8);
            first[..length].copy_from_slice(&encoding[..length]);
            prop_assert_eq!(a.order_prefix(), u64::from_be_bytes(first));
            if a < b {
                prop_assert!(a.order_prefix() <= b.order_prefix());
            }
            // Keys of one owner share a prefix: ties happen, and the whole
            // key decides them.
            if let StateKey::Balance { owner, .. } = a {
                prop_assert_eq!(a.order_prefix(), StateKey::Position { owner }.order_prefix() - (1 << 56));
            }
        }
    }

    #[test]
    fn global_keys_belong_to_no_account() {
        let owner = Address([1; 32]);
        let usdc = asset("USDC");
        for key in [StateKey::Account { owner }, StateKey::Balance { owner, asset: usdc }, StateKey::Position { owner }]
        {
            assert!(!key.is_global(), "{key}");
        }
        for key in [
            StateKey::Config,
            StateKey::MarketConfig { asset: usdc },
            StateKey::MarketIndex { asset: usdc },
            StateKey::MarketTotals { asset: usdc },
            StateKey::Price { asset: usdc },
        ] {
            assert!(key.is_global(), "{key}");
        }
    }

    #[test]
    fn invariants_are_checked_on_decode() {
        let usdc = StateKey::MarketTotals { asset: asset("USDC") };
        let config = StateKey::Config;
        let unsorted =
            vec![Access { key: usdc, mode: AccessMode::Read }, Access { key: config, mode: AccessMode::Read }];
        assert_eq!(AccessSet::new(unsorted.clone()), Err(AccessSetError::NotSorted));
        let bytes = borsh::to_vec(&unsorted).unwrap();
        assert!(borsh::from_slice::<AccessSet>(&bytes).is_err());
        let delta_config = vec![Access { key: config, mode: AccessMode::Delta }];
        assert!(matches!(AccessSet::new(delta_config), Err(AccessSetError::DeltaOnNonAggregate(_))));
    }

    #[test]
    fn from_unsorted_merges_modes() {
        let usdc = StateKey::MarketTotals { asset: asset("USDC") };
        let set = AccessSet::from_unsorted([
            Access { key: usdc, mode: AccessMode::Delta },
            Access { key: StateKey::Config, mode: AccessMode::Read },
            Access { key: usdc, mode: AccessMode::Delta },
            Access { key: StateKey::Config, mode: AccessMode::Read },
        ])
        .unwrap();
        assert_eq!(set.mode_of(&usdc), Some(AccessMode::Delta));
        assert_eq!(set.mode_of(&StateKey::Config), Some(AccessMode::Read));
        let set = AccessSet::from_unsorted([
            Access { key: usdc, mode: AccessMode::Delta },
            Access { key: usdc, mode: AccessMode::Read },
        ])
        .unwrap();
        assert_eq!(set.mode_of(&usdc), Some(AccessMode::Write));
    }

    #[test]
    fn conflicts() {
        use AccessMode::*;
        assert!(!Read.conflicts_with(Read));
        assert!(!Delta.conflicts_with(Delta));
        for (a, b) in [(Read, Write), (Write, Write), (Read, Delta), (Write, Delta)] {
            assert!(a.conflicts_with(b) && b.conflicts_with(a));
        }
    }
}
