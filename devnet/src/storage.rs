//! The devnet's state: raw storage keys and values, versioned by block so that any past block
//! can be read, and encoded against the metadata the devnet serves (its own or a real runtime's),
//! so subxt decodes them with exactly the types it expects.

use std::collections::BTreeMap;
use std::ops::Bound;

use subxt::Metadata;
use subxt::ext::frame_decode::storage::{IntoEncodableValues, encode_storage_key};
use subxt::ext::scale_encode::EncodeAsType;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot derive the older metadata versions: {0}")]
    Metadata(String),
    #[error("the metadata has no storage entry {pallet}.{entry}")]
    NoEntry { pallet: String, entry: String },
    #[error("cannot encode the key of {pallet}.{entry}: {message}")]
    Key {
        pallet: String,
        entry: String,
        message: String,
    },
    #[error("cannot encode the value of {pallet}.{entry}: {message}")]
    Value {
        pallet: String,
        entry: String,
        message: String,
    },
}

/// One key's values over time, `(from block, value)` ascending; `None` is a deletion.
type History = Vec<(u64, Option<Vec<u8>>)>;

/// Raw storage with every key's history.
#[derive(Default)]
pub struct VersionedStorage {
    entries: BTreeMap<Vec<u8>, History>,
}

impl VersionedStorage {
    /// Sets `key` from `block` on (a second write in the same block replaces the first).
    pub fn set_raw(&mut self, block: u64, key: Vec<u8>, value: Option<Vec<u8>>) {
        let history = self.entries.entry(key).or_default();
        match history.last_mut() {
            Some((b, v)) if *b == block => *v = value,
            Some((_, v)) if *v == value => {}
            _ => history.push((block, value)),
        }
    }

    /// The value of `key` as of `block`.
    pub fn get(&self, key: &[u8], block: u64) -> Option<&[u8]> {
        let history = self.entries.get(key)?;
        let i = history.partition_point(|(b, _)| *b <= block);
        history[..i].last()?.1.as_deref()
    }

    /// The values `key` took in blocks `from..=to`: its value at `from`, then each change
    /// (block, new value), as a node's `state_queryStorage` reports them.
    pub fn changes(&self, key: &[u8], from: u64, to: u64) -> Vec<(u64, Option<&[u8]>)> {
        let mut out = vec![(from, self.get(key, from))];
        let Some(history) = self.entries.get(key) else {
            return out;
        };
        let start = history.partition_point(|(b, _)| *b <= from);
        for (b, v) in history[start..].iter().take_while(|(b, _)| *b <= to) {
            if out.last().is_some_and(|(_, last)| *last != v.as_deref()) {
                out.push((*b, v.as_deref()));
            }
        }
        out
    }

    /// Up to `count` keys with `prefix` that exist at `block`, strictly after `start` when given.
    pub fn keys_paged(
        &self,
        prefix: &[u8],
        count: usize,
        start: Option<&[u8]>,
        block: u64,
    ) -> Vec<Vec<u8>> {
        let lower = match start {
            Some(s) if s >= prefix => Bound::Excluded(s.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        self.entries
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| self.get(k, block).is_some())
            .take(count)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Encodes keys and values of named storage entries with a metadata's types.
pub struct Encoder {
    pub metadata: Metadata,
}

impl Encoder {
    pub fn key(
        &self,
        pallet: &str,
        entry: &str,
        keys: impl IntoEncodableValues,
    ) -> Result<Vec<u8>, StorageError> {
        encode_storage_key(pallet, entry, keys, &self.metadata, self.metadata.types()).map_err(
            |e| StorageError::Key {
                pallet: pallet.into(),
                entry: entry.into(),
                message: e.to_string(),
            },
        )
    }

    pub fn value(
        &self,
        pallet: &str,
        entry: &str,
        value: &impl EncodeAsType,
    ) -> Result<Vec<u8>, StorageError> {
        let ty = self
            .metadata
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .map(|e| e.value_ty())
            .ok_or_else(|| StorageError::NoEntry {
                pallet: pallet.into(),
                entry: entry.into(),
            })?;
        value
            .encode_as_type(ty, self.metadata.types())
            .map_err(|e| StorageError::Value {
                pallet: pallet.into(),
                entry: entry.into(),
                message: e.to_string(),
            })
    }

    /// True when the metadata declares `pallet.entry` (layouts differ between runtimes).
    pub fn has(&self, pallet: &str, entry: &str) -> bool {
        self.metadata
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_answers_any_block() {
        let mut s = VersionedStorage::default();
        s.set_raw(5, vec![1, 1], Some(vec![10]));
        s.set_raw(9, vec![1, 1], Some(vec![11]));
        s.set_raw(12, vec![1, 1], None);
        assert_eq!(s.get(&[1, 1], 4), None);
        assert_eq!(s.get(&[1, 1], 5), Some(&[10][..]));
        assert_eq!(s.get(&[1, 1], 11), Some(&[11][..]));
        assert_eq!(s.get(&[1, 1], 12), None);
    }

    #[test]
    fn keys_paged_is_exclusive_and_ends_empty() {
        let mut s = VersionedStorage::default();
        for k in [vec![1, 1], vec![1, 2], vec![1, 3], vec![2, 0]] {
            s.set_raw(1, k, Some(vec![0]));
        }
        s.set_raw(3, vec![1, 2], None);
        assert_eq!(s.keys_paged(&[1], 2, None, 1), vec![vec![1, 1], vec![1, 2]]);
        assert_eq!(s.keys_paged(&[1], 2, Some(&[1, 2]), 1), vec![vec![1, 3]]);
        assert!(s.keys_paged(&[1], 2, Some(&[1, 3]), 1).is_empty());
        assert_eq!(
            s.keys_paged(&[1], 10, None, 3),
            vec![vec![1, 1], vec![1, 3]]
        );
    }

    /// What `state_queryStorage` reports: the value at the first block, then only changes (a
    /// write of the same value, or two writes in a block that end where they began, is none).
    #[test]
    fn changes_report_the_first_value_then_only_changes() {
        let mut s = VersionedStorage::default();
        s.set_raw(2, vec![1], Some(vec![10]));
        s.set_raw(4, vec![1], Some(vec![11]));
        s.set_raw(5, vec![1], Some(vec![10]));
        s.set_raw(5, vec![1], Some(vec![11])); // same block: 11 after all
        s.set_raw(7, vec![1], None);
        s.set_raw(9, vec![1], Some(vec![12]));
        let got = s.changes(&[1], 3, 8);
        assert_eq!(
            got,
            vec![(3, Some(&[10][..])), (4, Some(&[11][..])), (7, None)]
        );
        assert_eq!(s.changes(&[9], 1, 5), vec![(1, None)]);
        assert_eq!(s.changes(&[1], 9, 9), vec![(9, Some(&[12][..]))]);
    }
}
