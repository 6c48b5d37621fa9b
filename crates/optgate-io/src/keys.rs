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

/// The next record [`encode_raw`] wrote at the head of `bytes`, which it
/// advances past it; `None` when it is cut short or malformed.
#[allow(clippy::option_option)]
fn take_raw<'a>(bytes: &mut &'a [u8]) -> Option<Option<(u128, i64, &'a str)>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = bytes.split_at_checked(n)?;
        *bytes = tail;
        Some(head)
    }
    match take(bytes, 1)?[0] {
        0 => Some(None),
        1 => {
            let key = u128::from_le_bytes(take(bytes, 16)?.try_into().ok()?);
            let created = i64::from_le_bytes(take(bytes, 8)?.try_into().ok()?);
            let len = u32::from_le_bytes(take(bytes, 4)?.try_into().ok()?) as usize;
            let id = std::str::from_utf8(take(bytes, len)?).ok()?;
            Some(Some((key, created, id)))
        }
        _ => None,
    }
}

/// The records [`encode_raw`] wrote; `None` when a record is cut short.
#[cfg(test)]
fn decode_raw(mut bytes: &[u8]) -> Option<Vec<Option<Keyed>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(take_raw(&mut bytes)?.map(|(key, created, id)| Keyed {
            key,
            created,
            id: id.to_owned(),
        }));
    }
    Some(out)
}

fn invalid(path: &Path, what: String) -> IoError {
    IoError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
    }
}

/// The unit's kept posts, each with the survivor it lost to among `losers`
/// (sorted by row, rows numbered as `kept`). A loser must be a keyed post
/// with the loser's id: anything else is an internal error, named by `what`.
/// With [`write`], the tests' plain oracle of [`write_with_losers`].
#[cfg(test)]
fn with_losers(kept: Vec<Option<Keyed>>, losers: &[Loser], what: &Path) -> Result<Vec<KeptPost>> {
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
            _ => return Err(not_kept_at(what, l)),
        }
    }
    Ok(out)
}

fn not_kept_at(path: &Path, l: &Loser) -> IoError {
    invalid(
        path,
        format!(
            "the duplicate {} is not the post kept at row {}",
            l.id, l.row
        ),
    )
}

/// Writes `posts` to `out_dir/keys/name`, with `footer`'s key-value pairs
/// (the unit's scrubbing figures and input, as its part has them): the
/// tests' plain way.
#[cfg(test)]
fn write(
    out_dir: &Path,
    name: &str,
    posts: &[KeptPost],
    footer: &[(String, String)],
    options: &WriteOptions,
) -> Result<OutputFile> {
    let mut w = KeysWriter::create(out_dir, name, footer, options)?;
    for p in posts {
        let keyed = p.keyed.as_ref().map(|k| (k.key, k.created, k.id.as_str()));
        w.push(keyed, p.duplicate_of.as_deref())?;
    }
    w.finish()
}

/// A keys file from the raw records at `raw` ([`encode_raw`], of `rows`
/// posts) and the unit's `losers` (sorted by row), without holding the
/// posts; `raw` is removed once the keys file is written.
pub(crate) fn write_raw(
    out_dir: &Path,
    name: &str,
    raw: &Path,
    rows: u64,
    losers: &[Loser],
    footer: &[(String, String)],
    options: &WriteOptions,
) -> Result<OutputFile> {
    let bytes = std::fs::read(raw).map_err(|source| IoError::Read {
        path: raw.to_path_buf(),
        source,
    })?;
    let mut rest = bytes.as_slice();
    let records = std::iter::from_fn(|| {
        (!rest.is_empty()).then(|| {
            take_raw(&mut rest)
                .ok_or_else(|| invalid(raw, "a key record is cut short or malformed".to_owned()))
        })
    });
    let file = write_with_losers(out_dir, name, records, rows, losers, footer, options, raw)?;
    std::fs::remove_file(raw).map_err(|source| IoError::Write {
        path: raw.to_path_buf(),
        source,
    })?;
    Ok(file)
}

/// A keys file's `posts` written again with the unit's `losers` now
/// (sorted by row), in place of the survivors they had; `what` names the
/// file they were read from, for errors.
pub fn rewrite(
    out_dir: &Path,
    name: &str,
    posts: &[KeptPost],
    losers: &[Loser],
    footer: &[(String, String)],
    options: &WriteOptions,
    what: &Path,
) -> Result<OutputFile> {
    let records = posts
        .iter()
        .map(|p| Ok(p.keyed.as_ref().map(|k| (k.key, k.created, k.id.as_str()))));
    let rows = posts.len() as u64;
    write_with_losers(out_dir, name, records, rows, losers, footer, options, what)
}

/// Writes `out_dir/keys/name` from a unit's kept posts in order (`records`,
/// `rows` of them) and its `losers` (sorted by row): each loser must be the
/// keyed post at its row, and every loser a row; anything else is an error
/// naming `what`.
#[allow(clippy::too_many_arguments)]
fn write_with_losers<'a>(
    out_dir: &Path,
    name: &str,
    records: impl Iterator<Item = Result<Option<(u128, i64, &'a str)>>>,
    rows: u64,
    losers: &[Loser],
    footer: &[(String, String)],
    options: &WriteOptions,
    what: &Path,
) -> Result<OutputFile> {
    let mut w = KeysWriter::create(out_dir, name, footer, options)?;
    let mut losers = losers.iter().peekable();
    let mut row = 0u64;
    for keyed in records {
        let keyed = keyed?;
        let lost = losers.next_if(|l| u64::from(l.row) == row);
        if let Some(l) = lost
            && keyed.is_none_or(|(_, _, id)| id != l.id)
        {
            return Err(not_kept_at(what, l));
        }
        w.push(keyed, lost.map(|l| l.survivor.as_str()))?;
        row += 1;
    }
    if row != rows {
        return Err(invalid(
            what,
            format!("keys of {row} posts kept for {rows} posts"),
        ));
    }
    if let Some(l) = losers.next() {
        return Err(not_kept_at(what, l));
    }
    w.finish()
}

/// A keys file being written, a batch of rows at a time.
struct KeysWriter {
    path: std::path::PathBuf,
    schema: SchemaRef,
    writer: PartWriter,
    ids: StringBuilder,
    created: TimestampMicrosecondBuilder,
    keys: FixedSizeBinaryBuilder,
    of: StringBuilder,
    pending: usize,
}

impl KeysWriter {
    fn create(
        out_dir: &Path,
        name: &str,
        footer: &[(String, String)],
        options: &WriteOptions,
    ) -> Result<KeysWriter> {
        let schema = schema();
        let plain = PlainColumns::new(&schema, &[POST_ID, KEY], &[CREATED_AT]);
        let path = out_dir.join(DIR).join(name);
        let mut writer = PartWriter::create(&path, schema.clone(), options, &plain)?;
        for (k, v) in footer {
            writer.add_metadata(k, v.clone());
        }
        Ok(KeysWriter {
            path,
            schema,
            writer,
            ids: StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 20),
            created: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
            keys: FixedSizeBinaryBuilder::with_capacity(BATCH_ROWS, 16),
            of: StringBuilder::new(),
            pending: 0,
        })
    }

    fn push(&mut self, keyed: Option<(u128, i64, &str)>, duplicate_of: Option<&str>) -> Result<()> {
        match keyed {
            Some((key, created, id)) => {
                self.ids.append_value(id);
                self.created.append_value(created);
                self.keys
                    .append_value(key.to_be_bytes())
                    .expect("a key is 16 bytes");
            }
            None => {
                self.ids.append_null();
                self.created.append_null();
                self.keys.append_null();
            }
        }
        self.of.append_option(duplicate_of);
        self.pending += 1;
        if self.pending == BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending == 0 {
            return Ok(());
        }
        self.pending = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.created.finish()),
            Arc::new(self.keys.finish()),
            Arc::new(self.of.finish()),
        ];
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| IoError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })?;
        self.writer.write(&batch)
    }

    fn finish(mut self) -> Result<OutputFile> {
        self.flush()?;
        let (rows, bytes, sha256) = self.writer.finish()?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        Ok(OutputFile {
            path: format!("{DIR}/{}", name.unwrap_or_default()),
            rows,
            bytes,
            sha256,
        })
    }
}

/// The rows of a keys file, and those with no survivor (the posts in its
/// part), from its `duplicate_of` column alone.
pub fn rows_and_kept(path: &Path) -> Result<(u64, u64)> {
    let src = ParquetSource::open(path)?;
    let i = src.column("keys", DUPLICATE_OF, DUPLICATE_OF)?;
    src.expect_type(i, "utf8", |t| *t == DataType::Utf8)?;
    let (mut rows, mut kept) = (0u64, 0u64);
    for batch in src.read_columns(&[i])? {
        let column = batch?.column(0).clone();
        rows += column.len() as u64;
        kept += column.null_count() as u64;
    }
    Ok((rows, kept))
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

    #[test]
    fn raw_keys_are_written_as_the_posts_are_and_a_wrong_loser_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join(DIR)).expect("mkdir");
        let mut bytes = Vec::new();
        encode_raw(&mut bytes, Some((3, 10, "a")));
        encode_raw(&mut bytes, None);
        encode_raw(&mut bytes, Some((3, 20, "b")));
        let raw = dir.path().join("raw");
        std::fs::write(&raw, &bytes).expect("write");
        let loser = |row: u32, id: &str| Loser {
            unit: 0,
            row,
            id: id.into(),
            survivor: "a".into(),
        };
        let opts = WriteOptions::default();
        let f = write_raw(
            dir.path(),
            "r.parquet",
            &raw,
            3,
            &[loser(2, "b")],
            &[],
            &opts,
        )
        .expect("written");
        let kept = decode_raw(&bytes).expect("decodes");
        let posts = with_losers(kept, &[loser(2, "b")], &raw).expect("losers");
        assert_eq!(read(&dir.path().join(&f.path)).expect("read"), posts);
        assert_eq!(
            rows_and_kept(&dir.path().join(&f.path)).expect("count"),
            (3, 2)
        );
        // A loser at a row without a key, with another id, or past the end;
        // and a count that is not the spool's: errors, nothing guessed.
        for (i, (losers, rows)) in [
            (vec![loser(1, "b")], 3),
            (vec![loser(0, "b")], 3),
            (vec![loser(3, "c")], 3),
            (vec![], 4),
        ]
        .into_iter()
        .enumerate()
        {
            let name = format!("bad-{i}.parquet");
            std::fs::write(&raw, &bytes).expect("write");
            assert!(write_raw(dir.path(), &name, &raw, rows, &losers, &[], &opts).is_err());
        }
    }
}
