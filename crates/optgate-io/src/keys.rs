//! A unit's deduplication keys: what a later incremental run needs to
//! deduplicate a unit it reuses, without reading the unit's input again.
//!
//! With `[dedup] mode = "exact"`, each unit that kept posts before
//! deduplication has a file `keys/part-….parquet` beside its part: one row
//! per such post, in the order they were kept, with its id, creation time,
//! exact key ([`optgate_core::dedup::exact_key`], 16 bytes, big-endian) and,
//! for a post removed as a duplicate, the id of its survivor. The part's rows
//! are the rows with no survivor, in order. A post with a null id, creation
//! time or text has no key (it is never a duplicate): its row is all null.
//!
//! While a unit is processed, its keys are appended to a raw file beside its
//! spool ([`encode_raw`]); once the global phase has found the duplicates,
//! [`write`] turns that file and the unit's losers into the Parquet file.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeBinaryBuilder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use optgate_manifest::OutputFile;

use crate::dedup::Loser;
use crate::error::{IoError, Result};
use crate::read::ParquetSource;
use crate::write::{PartWriter, PlainColumns, WriteOptions};

/// The directory of the keys files in an output.
pub const DIR: &str = "keys";
pub const POST_ID: &str = "post_id";
pub const CREATED_AT: &str = "created_at";
pub const KEY: &str = "key";
pub const DUPLICATE_OF: &str = "duplicate_of";

/// Rows per batch written.
const BATCH_ROWS: usize = 64 * 1024;

/// The schema of every keys file.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(POST_ID, DataType::Utf8, true),
        Field::new(
            CREATED_AT,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(KEY, DataType::FixedSizeBinary(16), true),
        Field::new(DUPLICATE_OF, DataType::Utf8, true),
    ]))
}

/// A kept post's exact key, creation time (µs since the epoch) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    pub key: u128,
    pub created: i64,
    pub id: String,
}

/// One row of a keys file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeptPost {
    /// `None` for a post with no key.
    pub keyed: Option<Keyed>,
    /// The survivor's id, for a post removed as a duplicate.
    pub duplicate_of: Option<String>,
}

/// Appends a kept post's raw record (a flag byte, then for a keyed post its
/// key, creation time and id) to `out`.
pub(crate) fn encode_raw(out: &mut Vec<u8>, keyed: Option<(u128, i64, &str)>) {
    match keyed {
        None => out.push(0),
        Some((key, created, id)) => {
            out.push(1);
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&created.to_le_bytes());
            out.extend_from_slice(&(id.len() as u32).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
    }
}

/// The records [`encode_raw`] wrote; `None` when a record is cut short.
pub(crate) fn decode_raw(mut bytes: &[u8]) -> Option<Vec<Option<Keyed>>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = bytes.split_at_checked(n)?;
        *bytes = tail;
        Some(head)
    }
    let mut out = Vec::new();
    while let Some((&flag, rest)) = bytes.split_first() {
        bytes = rest;
        out.push(match flag {
            0 => None,
            1 => {
                let key = u128::from_le_bytes(take(&mut bytes, 16)?.try_into().ok()?);
                let created = i64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?);
                let len = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?) as usize;
                let id = String::from_utf8(take(&mut bytes, len)?.to_vec()).ok()?;
                Some(Keyed { key, created, id })
            }
            _ => return None,
        });
    }
    Some(out)
}

/// Reads the raw records of `path` (written by [`encode_raw`]).
pub(crate) fn read_raw(path: &Path) -> Result<Vec<Option<Keyed>>> {
    let bytes = std::fs::read(path).map_err(|source| IoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_raw(&bytes).ok_or_else(|| IoError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a key record is cut short or malformed",
        ),
    })
}

/// The unit's kept posts, each with the survivor it lost to among `losers`
/// (sorted by row, rows numbered as `kept`). A loser must be a keyed post
/// with the loser's id: anything else is an internal error, named by `what`.
pub fn with_losers(
    kept: Vec<Option<Keyed>>,
    losers: &[Loser],
    what: &Path,
) -> Result<Vec<KeptPost>> {
    let mut out: Vec<KeptPost> = kept
        .into_iter()
        .map(|keyed| KeptPost {
            keyed,
            duplicate_of: None,
        })
        .collect();
    for l in losers {
        let post = out.get_mut(l.row as usize);
        match post {
            Some(KeptPost {
                keyed: Some(k),
                duplicate_of,
            }) if k.id == l.id => *duplicate_of = Some(l.survivor.clone()),
            _ => {
                return Err(IoError::Read {
                    path: what.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "the duplicate {} is not the post kept at row {}",
                            l.id, l.row
                        ),
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Writes `posts` to `out_dir/keys/name`, with `footer`'s key-value pairs
/// (the unit's scrubbing figures and input, as its part has them).
pub fn write(
    out_dir: &Path,
    name: &str,
    posts: &[KeptPost],
    footer: &[(String, String)],
    options: &WriteOptions,
) -> Result<OutputFile> {
    let schema = schema();
    let plain = PlainColumns::new(&schema, &[POST_ID, KEY], &[CREATED_AT]);
    let path = out_dir.join(DIR).join(name);
    let mut writer = PartWriter::create(&path, schema.clone(), options, &plain)?;
    for (k, v) in footer {
        writer.add_metadata(k, v.clone());
    }
    for chunk in posts.chunks(BATCH_ROWS) {
        let mut ids = StringBuilder::with_capacity(chunk.len(), chunk.len() * 20);
        let mut created =
            TimestampMicrosecondBuilder::with_capacity(chunk.len()).with_timezone("UTC");
        let mut keys = FixedSizeBinaryBuilder::with_capacity(chunk.len(), 16);
        let mut of = StringBuilder::new();
        for p in chunk {
            match &p.keyed {
                Some(k) => {
                    ids.append_value(&k.id);
                    created.append_value(k.created);
                    keys.append_value(k.key.to_be_bytes())
                        .expect("a key is 16 bytes");
                }
                None => {
                    ids.append_null();
                    created.append_null();
                    keys.append_null();
                }
            }
            of.append_option(p.duplicate_of.as_deref());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids.finish()),
            Arc::new(created.finish()),
            Arc::new(keys.finish()),
            Arc::new(of.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| IoError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        writer.write(&batch)?;
    }
    let (rows, bytes, sha256) = writer.finish()?;
    Ok(OutputFile {
        path: format!("{DIR}/{name}"),
        rows,
        bytes,
        sha256,
    })
}

/// Reads a keys file whole.
pub fn read(path: &Path) -> Result<Vec<KeptPost>> {
    let src = ParquetSource::open(path)?;
    let wanted = schema();
    let names = [POST_ID, CREATED_AT, KEY, DUPLICATE_OF];
    let types = [
        "utf8",
        "timestamp[us, UTC]",
        "fixed_size_binary[16]",
        "utf8",
    ];
    let mut indices = Vec::with_capacity(names.len());
    for (k, name) in names.into_iter().enumerate() {
        let i = src.column("keys", name, name)?;
        let want = wanted.field(k).data_type();
        src.expect_type(i, types[k], |t| t == want)?;
        indices.push(i);
    }
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    let pos: Vec<usize> = indices
        .iter()
        .map(|i| crate::read::projected_position(&sorted, *i))
        .collect();
    let mut out = Vec::with_capacity(src.rows() as usize);
    for batch in src.read_columns(&sorted)? {
        let batch = batch?;
        let ids = batch.column(pos[0]).as_string::<i32>();
        let created = batch
            .column(pos[1])
            .as_primitive::<TimestampMicrosecondType>();
        let keys = batch.column(pos[2]).as_fixed_size_binary();
        let of = batch.column(pos[3]).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let keyed = if keys.is_null(i) {
                None
            } else if ids.is_null(i) || created.is_null(i) {
                return Err(IoError::ColumnType {
                    path: path.to_path_buf(),
                    column: POST_ID.to_owned(),
                    found: "a null id or creation time beside a key".to_owned(),
                    expected: "an id and a creation time for every key",
                });
            } else {
                let bytes: [u8; 16] = keys.value(i).try_into().expect("16 bytes");
                Some(Keyed {
                    key: u128::from_be_bytes(bytes),
                    created: created.value(i),
                    id: ids.value(i).to_owned(),
                })
            };
            out.push(KeptPost {
                keyed,
                duplicate_of: (!of.is_null(i)).then(|| of.value(i).to_owned()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_records_round_trip_and_a_cut_one_is_refused() {
        let mut bytes = Vec::new();
        encode_raw(&mut bytes, Some((7, -3, "p-1")));
        encode_raw(&mut bytes, None);
        encode_raw(&mut bytes, Some((u128::MAX, 9, "")));
        let back = decode_raw(&bytes).expect("decodes");
        assert_eq!(
            back,
            vec![
                Some(Keyed {
                    key: 7,
                    created: -3,
                    id: "p-1".into()
                }),
                None,
                Some(Keyed {
                    key: u128::MAX,
                    created: 9,
                    id: String::new()
                }),
            ]
        );
        assert!(decode_raw(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode_raw(&[2]).is_none());
    }

    #[test]
    fn a_keys_file_round_trips_with_its_losers() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join(DIR)).expect("mkdir");
        let kept = vec![
            Some(Keyed {
                key: 1 << 100,
                created: 10,
                id: "a".into(),
            }),
            None,
            Some(Keyed {
                key: 5,
                created: 20,
                id: "b".into(),
            }),
        ];
        let loser = Loser {
            unit: 0,
            row: 2,
            id: "b".into(),
            survivor: "z".into(),
        };
        let posts = with_losers(kept.clone(), std::slice::from_ref(&loser), dir.path())
            .expect("losers are kept posts");
        let f = write(
            dir.path(),
            "k.parquet",
            &posts,
            &[],
            &WriteOptions::default(),
        )
        .expect("write");
        assert_eq!((f.path.as_str(), f.rows), ("keys/k.parquet", 3));
        let back = read(&dir.path().join(&f.path)).expect("read");
        assert_eq!(back, posts);
        assert_eq!(back[2].duplicate_of.as_deref(), Some("z"));
        // A loser that is not the post at its row is an error.
        let wrong = Loser {
            id: "a".into(),
            ..loser
        };
        assert!(with_losers(kept, &[wrong], dir.path()).is_err());
    }
}
