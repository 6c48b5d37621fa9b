//! The objection registry snapshot kept beside an output
//! (`OUT/registry/optouts.keys`): the sorted id keys the run applied, 8 bytes
//! little-endian each, whose SHA-256 is the manifest's `keys_sha256`. Keys,
//! not raw ids: enough to tell which objections a later registry lost, and
//! which it added.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use optgate_core::policy::OptOutColumnNames;
use optgate_core::{IdColumn, IdKey, KeySet};

use crate::error::{IoError, Result};
use crate::read::{ParquetSource, projected_position, timestamp_micros};
use crate::side_tables::keys_sha256;

/// Relative path of the snapshot in an output directory.
pub const OPTOUTS_KEYS: &str = "registry/optouts.keys";

/// Writes the key set to `path`; returns its SHA-256 (equal to `keys_sha256`).
pub fn write_keys(path: &Path, set: &KeySet) -> Result<String> {
    let err = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(err)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    for k in set.keys() {
        w.write_all(&k.to_le_bytes()).map_err(err)?;
    }
    let file = w.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)?;
    Ok(keys_sha256(set))
}

/// Reads a snapshot written by `write_keys` and checks it against the digest
/// the manifest recorded: a damaged or edited snapshot is refused.
pub fn read_keys(path: &Path, expected_sha256: &str) -> Result<KeySet> {
    let err = |source| IoError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let corrupt = |what: String| IoError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
    };
    if len % 8 != 0 {
        return Err(corrupt(format!(
            "{len} bytes is not a whole number of 8-byte keys"
        )));
    }
    let mut keys = Vec::with_capacity((len / 8) as usize);
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = [0u8; 8];
    for _ in 0..len / 8 {
        r.read_exact(&mut buf).map_err(err)?;
        keys.push(IdKey::from_le_bytes(buf));
    }
    if !keys.is_sorted_by(|a, b| a < b) {
        return Err(corrupt("keys are not sorted and distinct".into()));
    }
    let set = KeySet::from_keys(keys);
    let actual = keys_sha256(&set);
    if actual != expected_sha256 {
        return Err(corrupt(format!(
            "SHA-256 {actual} differs from the manifest's {expected_sha256}"
        )));
    }
    Ok(set)
}

/// How two snapshots differ: ids in `old` missing from `new`, and ids new in `new`.
pub fn diff(old: &KeySet, new: &KeySet) -> (u64, u64) {
    let (a, b) = (old.keys(), new.keys());
    let (mut i, mut j, mut lost, mut added) = (0, 0, 0u64, 0u64);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                lost += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                added += 1;
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    (lost + (a.len() - i) as u64, added + (b.len() - j) as u64)
}

/// For each objector not in `previous` (every objector when there is none),
/// the earliest `objected_at` of their rows, in microseconds; objectors whose
/// every row has a null timestamp are left out.
pub fn first_objections(
    src: &ParquetSource,
    cols: &OptOutColumnNames,
    previous: Option<&KeySet>,
) -> Result<Vec<i64>> {
    let id = src.column("optouts", "user_id", &cols.user_id)?;
    let at = src.column("optouts", "objected_at", &cols.objected_at)?;
    let indices = [id.min(at), id.max(at)];
    let (id_pos, at_pos) = (
        projected_position(&indices, id),
        projected_position(&indices, at),
    );
    let mut pairs: Vec<(IdKey, i64)> = Vec::new();
    for batch in src.read_columns(&indices)? {
        let batch = batch?;
        let Some(ids) = IdColumn::new(batch.column(id_pos)) else {
            continue;
        };
        let times = batch.column(at_pos);
        for i in 0..batch.num_rows() {
            if let (Some(k), Some(t)) = (ids.key(i), timestamp_micros(times, i))
                && !previous.is_some_and(|p| p.contains(k))
            {
                pairs.push((k, t));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup_by_key(|p| p.0);
    Ok(pairs.into_iter().map(|p| p.1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn keys_round_trip_and_damage_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("k");
        let set = KeySet::from_keys(vec![9, 3, 3, 7]);
        let sha = write_keys(&path, &set).expect("write");
        assert_eq!(read_keys(&path, &sha).expect("read").keys(), &[3, 7, 9]);
        let mut bytes = fs::read(&path).expect("read");
        bytes[0] ^= 1;
        fs::write(&path, &bytes).expect("write");
        assert!(read_keys(&path, &sha).is_err());
        fs::write(&path, &bytes[..5]).expect("write");
        assert!(read_keys(&path, &sha).is_err());
    }

    #[test]
    fn diff_counts_lost_and_added_ids() {
        let old = KeySet::from_keys(vec![1, 2, 3, 5]);
        let new = KeySet::from_keys(vec![2, 3, 4, 6, 7]);
        assert_eq!(diff(&old, &new), (2, 3));
        assert_eq!(diff(&old, &old), (0, 0));
    }
}
