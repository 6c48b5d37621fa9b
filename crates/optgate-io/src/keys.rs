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
//! With `mode = "near"`, a keys file also holds each keyed post's MinHash
//! signature (`signature`, a byte a bin, [`optgate_core::near::Signature`])
//! and its band keys (`bands`, 8 bytes each, little-endian): a night finds
//! the clusters of last night's posts and tonight's from them, without
//! reading last night's input again ([`NearLayout`]; about 230 bytes a post
//! with the default parameters).
//!
//! While a unit is processed, its keys are appended to a raw file beside its
//! spool (`encode_raw`); once the global phase has found the duplicates,
//! `write_raw` turns that file and the unit's losers into the Parquet file.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeBinaryBuilder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use optgate_core::near::NearParams;
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
pub const SIGNATURE: &str = "signature";
pub const BANDS: &str = "bands";

/// The widths of a near-mode keys file's two more columns: a post's
/// signature (a byte a bin) and its band keys (8 bytes a band). In a raw
/// record (`encode_raw`) the band keys follow the id; the signatures are
/// in the unit's signature file, which the near spill wrote for the
/// clusters ([`crate::near::NearSpill::create`]), a post at its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearLayout {
    pub signature: usize,
    pub bands: usize,
}

impl NearLayout {
    pub fn of(params: &NearParams) -> NearLayout {
        NearLayout {
            signature: params.signature_bytes(),
            bands: params.bands as usize,
        }
    }

    /// Bytes a keyed post's signature and band keys take.
    pub fn bytes(&self) -> usize {
        self.signature + self.band_bytes()
    }

    fn band_bytes(&self) -> usize {
        8 * self.bands
    }
}

/// Rows per batch written.
const BATCH_ROWS: usize = 64 * 1024;

/// The schema of a keys file, with `near` its near-mode columns.
pub fn schema(near: Option<NearLayout>) -> SchemaRef {
    let mut fields = vec![
        Field::new(POST_ID, DataType::Utf8, true),
        Field::new(
            CREATED_AT,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new(KEY, DataType::FixedSizeBinary(16), true),
        Field::new(DUPLICATE_OF, DataType::Utf8, true),
    ];
    if let Some(n) = near {
        let width = |w: usize| DataType::FixedSizeBinary(i32::try_from(w).unwrap_or(i32::MAX));
        fields.push(Field::new(SIGNATURE, width(n.signature), true));
        fields.push(Field::new(BANDS, width(n.band_bytes()), true));
    }
    Arc::new(Schema::new(fields))
}

/// A kept post's exact key, creation time (µs since the epoch) and id, as
/// the tests hold it.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    pub key: u128,
    pub created: i64,
    pub id: String,
    /// In near mode, its signature then its band keys ([`NearLayout`]);
    /// else empty.
    pub near: Vec<u8>,
}

/// One row of a keys file, as the tests hold it.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeptPost {
    /// `None` for a post with no key.
    pub keyed: Option<Keyed>,
    /// The survivor's id, for a post removed as a duplicate.
    pub duplicate_of: Option<String>,
}

/// Appends a kept post's raw record (a flag byte, then for a keyed post its
/// key, creation time and id) to `out`; in near mode, the caller appends a
/// keyed post's band keys after it ([`NearLayout`]).
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

/// A keyed post as a keys file row: its key, creation time, id, and in
/// near mode its signature and band keys (else two empty slices).
pub type Raw<'a> = (u128, i64, &'a str, (&'a [u8], &'a [u8]));

/// The next record [`encode_raw`] wrote, from `r` (with `bands.len()`
/// bytes of band keys after a keyed one): `None` at the end; a keyed post's
/// key and creation time, its id in `id` and its band keys in `bands`. An
/// error when a record is cut short or malformed.
#[allow(clippy::option_option)]
fn read_raw(
    r: &mut impl std::io::BufRead,
    id: &mut Vec<u8>,
    bands: &mut [u8],
) -> std::io::Result<Option<Option<(u128, i64)>>> {
    if r.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let mut head = [0u8; 29];
    r.read_exact(&mut head[..1])?;
    match head[0] {
        0 => Ok(Some(None)),
        1 => {
            r.read_exact(&mut head[1..])?;
            let key = u128::from_le_bytes(head[1..17].try_into().expect("16 bytes"));
            let created = i64::from_le_bytes(head[17..25].try_into().expect("8 bytes"));
            let len = u32::from_le_bytes(head[25..29].try_into().expect("4 bytes"));
            id.resize(len as usize, 0);
            r.read_exact(id)?;
            r.read_exact(bands)?;
            Ok(Some(Some((key, created))))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a key record's flag is neither 0 nor 1",
        )),
    }
}

/// The records [`encode_raw`] wrote; `None` when a record is cut short.
#[cfg(test)]
fn decode_raw(mut bytes: &[u8], near: usize) -> Option<Vec<Option<Keyed>>> {
    let (mut out, mut id, mut bands) = (Vec::new(), Vec::new(), vec![0u8; near]);
    while let Some(record) = read_raw(&mut bytes, &mut id, &mut bands).ok()? {
        let text = String::from_utf8(id.clone()).ok()?;
        out.push(record.map(|(key, created)| Keyed {
            key,
            created,
            id: text,
            near: bands.clone(),
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
/// With [`write`], the tests' plain oracle of [`WithLosers`].
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
    near: Option<NearLayout>,
    footer: &[(String, String)],
    options: &WriteOptions,
) -> Result<OutputFile> {
    let mut w = KeysWriter::create(out_dir, name, near, footer, options)?;
    for p in posts {
        let keyed = p.keyed.as_ref().map(|k| k.raw(near));
        w.push(keyed, p.duplicate_of.as_deref())?;
    }
    w.finish()
}

#[cfg(test)]
impl Keyed {
    /// As a row of a keys file of layout `near`: its near bytes cut into
    /// signature and band keys (all of them the signature's when they are
    /// too short, which the writer refuses).
    fn raw(&self, near: Option<NearLayout>) -> Raw<'_> {
        let at = near.map_or(0, |n| n.signature).min(self.near.len());
        (
            self.key,
            self.created,
            self.id.as_str(),
            self.near.split_at(at),
        )
    }
}

/// A keys file from the raw records at `raw` ([`encode_raw`], of `rows`
/// posts) and the unit's `losers` (sorted by row), read as a stream (a unit
/// can hold millions of posts); in near mode (`near`: the layout and the
/// unit's signature file, a signature per post at its row) with each keyed
/// post's signature and band keys. `raw` and the signature file are removed
/// once the keys file is written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_raw(
    out_dir: &Path,
    name: &str,
    raw: &Path,
    rows: u64,
    near: Option<(NearLayout, &Path)>,
    losers: &[Loser],
    footer: &[(String, String)],
    options: &WriteOptions,
) -> Result<OutputFile> {
    use std::io::{BufRead, BufReader, Read};

    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(|f| BufReader::with_capacity(1 << 20, f))
            .map_err(|source| IoError::Read {
                path: path.to_path_buf(),
                source,
            })
    };
    let layout = near.map(|(l, _)| l);
    let sig_path = near.map_or(raw, |(_, p)| p);
    let mut records = open(raw)?;
    let mut signatures = near.map(|(_, path)| open(path)).transpose()?;
    let (sig_bytes, band_bytes) = layout.map_or((0, 0), |l| (l.signature, l.band_bytes()));
    let cut =
        |e: std::io::Error| invalid(raw, format!("a key record is cut short or malformed: {e}"));
    let mut id = Vec::new();
    let (mut bands, mut sig) = (vec![0u8; band_bytes], vec![0u8; sig_bytes]);
    let mut w = WithLosers::create(out_dir, name, layout, losers, footer, options, raw)?;
    while let Some(record) = read_raw(&mut records, &mut id, &mut bands).map_err(cut)? {
        if let Some(s) = signatures.as_mut() {
            s.read_exact(&mut sig).map_err(|_| {
                invalid(sig_path, format!("fewer signatures than the {rows} posts"))
            })?;
        }
        let keyed = match record {
            None => None,
            Some((key, created)) => {
                let id = std::str::from_utf8(&id).map_err(|e| cut(std::io::Error::other(e)))?;
                Some((key, created, id, (sig.as_slice(), bands.as_slice())))
            }
        };
        w.push(keyed)?;
    }
    if let Some(s) = signatures.as_mut()
        && s.fill_buf().is_ok_and(|b| !b.is_empty())
    {
        return Err(invalid(
            sig_path,
            format!("more signatures than the {rows} posts"),
        ));
    }
    let file = w.finish(rows)?;
    let remove = |path: &Path| {
        std::fs::remove_file(path).map_err(|source| IoError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    remove(raw)?;
    if let Some((_, path)) = near {
        remove(path)?;
    }
    Ok(file)
}

/// `out_dir/keys/name` being written from a unit's kept posts in order,
/// with its `losers` (sorted by row) taken in as their rows come: each loser
/// must be the keyed post at its row, and every loser a row; anything else
/// is an error naming `what`.
struct WithLosers<'l> {
    w: KeysWriter,
    losers: std::iter::Peekable<std::slice::Iter<'l, Loser>>,
    row: u64,
    what: &'l Path,
}

impl<'l> WithLosers<'l> {
    fn create(
        out_dir: &Path,
        name: &str,
        near: Option<NearLayout>,
        losers: &'l [Loser],
        footer: &[(String, String)],
        options: &WriteOptions,
        what: &'l Path,
    ) -> Result<WithLosers<'l>> {
        Ok(WithLosers {
            w: KeysWriter::create(out_dir, name, near, footer, options)?,
            losers: losers.iter().peekable(),
            row: 0,
            what,
        })
    }

    /// The next kept post.
    fn push(&mut self, keyed: Option<Raw<'_>>) -> Result<()> {
        let row = self.row;
        let lost = self.losers.next_if(|l| u64::from(l.row) == row);
        if let Some(l) = lost
            && keyed.is_none_or(|(_, _, id, _)| id != l.id)
        {
            return Err(not_kept_at(self.what, l));
        }
        self.w.push(keyed, lost.map(|l| l.survivor.as_str()))?;
        self.row += 1;
        Ok(())
    }

    /// The file, once `rows` posts were pushed and every loser met.
    fn finish(mut self, rows: u64) -> Result<OutputFile> {
        if self.row != rows {
            return Err(invalid(
                self.what,
                format!("keys of {} posts kept for {rows} posts", self.row),
            ));
        }
        if let Some(l) = self.losers.next() {
            return Err(not_kept_at(self.what, l));
        }
        self.w.finish()
    }
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
    /// In near mode, the signatures and band keys.
    near: Option<(NearLayout, FixedSizeBinaryBuilder, FixedSizeBinaryBuilder)>,
    pending: usize,
}

impl KeysWriter {
    fn create(
        out_dir: &Path,
        name: &str,
        near: Option<NearLayout>,
        footer: &[(String, String)],
        options: &WriteOptions,
    ) -> Result<KeysWriter> {
        let schema = schema(near);
        let mut plain = PlainColumns::new(&schema, &[POST_ID], &[CREATED_AT]);
        plain.hashes = vec![KEY.to_owned()];
        if near.is_some() {
            plain
                .hashes
                .extend([SIGNATURE.to_owned(), BANDS.to_owned()]);
        }
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
            near: near.map(|n| {
                let builder = |w: usize| {
                    FixedSizeBinaryBuilder::with_capacity(
                        BATCH_ROWS,
                        i32::try_from(w).unwrap_or(i32::MAX),
                    )
                };
                (n, builder(n.signature), builder(8 * n.bands))
            }),
            pending: 0,
        })
    }

    fn push(&mut self, keyed: Option<Raw<'_>>, duplicate_of: Option<&str>) -> Result<()> {
        match keyed {
            Some((key, created, id, (sig, band_keys))) => {
                self.ids.append_value(id);
                self.created.append_value(created);
                self.keys
                    .append_value(key.to_be_bytes())
                    .expect("a key is 16 bytes");
                let expected = self
                    .near
                    .as_ref()
                    .map_or((0, 0), |(l, _, _)| (l.signature, l.band_bytes()));
                if (sig.len(), band_keys.len()) != expected {
                    return Err(invalid(
                        &self.path,
                        format!(
                            "post {id}: {} bytes of signature and {} of band keys, the keys file takes {} and {}",
                            sig.len(),
                            band_keys.len(),
                            expected.0,
                            expected.1
                        ),
                    ));
                }
                if let Some((_, sigs, bands)) = &mut self.near {
                    let fits = sigs.append_value(sig).and(bands.append_value(band_keys));
                    fits.expect("widths checked against the layout");
                }
            }
            None => {
                self.ids.append_null();
                self.created.append_null();
                self.keys.append_null();
                if let Some((_, sigs, bands)) = &mut self.near {
                    sigs.append_null();
                    bands.append_null();
                }
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
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.ids.finish()),
            Arc::new(self.created.finish()),
            Arc::new(self.keys.finish()),
            Arc::new(self.of.finish()),
        ];
        if let Some((_, sigs, bands)) = &mut self.near {
            columns.push(Arc::new(sigs.finish()));
            columns.push(Arc::new(bands.finish()));
        }
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
    let (mut rows, mut kept) = (0u64, 0u64);
    for_each_survivor_batch(path, |column| {
        rows += column.len() as u64;
        kept += column.null_count() as u64;
    })?;
    Ok((rows, kept))
}

/// Calls `f` on each row's survivor (`duplicate_of`) in order, from that
/// column alone, a batch at a time.
pub fn for_each_survivor(path: &Path, mut f: impl FnMut(Option<&str>)) -> Result<()> {
    for_each_survivor_batch(path, |column| column.iter().for_each(&mut f))
}

fn for_each_survivor_batch(
    path: &Path,
    mut f: impl FnMut(&arrow_array::StringArray),
) -> Result<()> {
    let src = ParquetSource::open(path)?;
    let i = src.column("keys", DUPLICATE_OF, DUPLICATE_OF)?;
    src.expect_type(i, "utf8", |t| *t == DataType::Utf8)?;
    for batch in src.read_columns(&[i])? {
        f(batch?.column(0).as_string::<i32>());
    }
    Ok(())
}

/// A keys file's near-mode layout, from its footer.
pub fn layout(path: &Path) -> Result<Option<NearLayout>> {
    layout_of(&ParquetSource::open(path)?, path)
}

/// The near-mode layout of a keys file's columns: `None` when it has
/// neither near column; an error when it has one and not the other.
fn layout_of(src: &ParquetSource, path: &Path) -> Result<Option<NearLayout>> {
    let width = |name: &'static str| {
        let i = src.column("keys", name, name).ok()?;
        Some(match src.data_type(i) {
            DataType::FixedSizeBinary(w) => usize::try_from(*w).ok(),
            _ => None,
        })
    };
    match (width(SIGNATURE), width(BANDS)) {
        (None, None) => Ok(None),
        (Some(Some(signature)), Some(Some(bands))) if bands % 8 == 0 => Ok(Some(NearLayout {
            signature,
            bands: bands / 8,
        })),
        _ => Err(invalid(
            path,
            format!(
                "the columns {SIGNATURE} and {BANDS} must both be fixed-size binary, bands a multiple of 8 bytes, or both absent"
            ),
        )),
    }
}

/// Reads a keys file whole, and its near-mode layout (the tests' way: a
/// run reads keys files as streams, [`for_each`]).
#[cfg(test)]
pub fn read(path: &Path) -> Result<(Vec<KeptPost>, Option<NearLayout>)> {
    let mut out = Vec::new();
    let near = for_each(path, |keyed, duplicate_of| {
        out.push(KeptPost {
            keyed: keyed.map(|(key, created, id, (sig, bands))| Keyed {
                key,
                created,
                id: id.to_owned(),
                near: [sig, bands].concat(),
            }),
            duplicate_of: duplicate_of.map(str::to_owned),
        });
        Ok(())
    })?;
    Ok((out, near))
}

/// Calls `f` on each row of a keys file in order (a keyed post as a
/// [`Raw`], with its signature and band keys in near mode, and its
/// survivor), a batch at a time rather than the file whole: a unit can
/// hold millions of posts. Returns the file's near-mode layout.
pub fn for_each(
    path: &Path,
    mut f: impl FnMut(Option<Raw<'_>>, Option<&str>) -> Result<()>,
) -> Result<Option<NearLayout>> {
    let src = ParquetSource::open(path)?;
    let near = layout_of(&src, path)?;
    let wanted = schema(near);
    let mut names = vec![POST_ID, CREATED_AT, KEY, DUPLICATE_OF];
    let mut types = vec![
        "utf8",
        "timestamp[us, UTC]",
        "fixed_size_binary[16]",
        "utf8",
    ];
    if near.is_some() {
        names.extend([SIGNATURE, BANDS]);
        types.extend(["fixed_size_binary", "fixed_size_binary"]);
    }
    let mut indices = Vec::with_capacity(names.len());
    for (k, name) in names.iter().enumerate() {
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
    for batch in src.read_columns(&sorted)? {
        let batch = batch?;
        let ids = batch.column(pos[0]).as_string::<i32>();
        let created = batch
            .column(pos[1])
            .as_primitive::<TimestampMicrosecondType>();
        let keys = batch.column(pos[2]).as_fixed_size_binary();
        let of = batch.column(pos[3]).as_string::<i32>();
        let near_columns = near.map(|_| {
            (
                batch.column(pos[4]).as_fixed_size_binary(),
                batch.column(pos[5]).as_fixed_size_binary(),
            )
        });
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
                let near: (&[u8], &[u8]) = match near_columns {
                    None => (&[], &[]),
                    Some((sigs, bands)) if sigs.is_valid(i) && bands.is_valid(i) => {
                        (sigs.value(i), bands.value(i))
                    }
                    Some(_) => {
                        return Err(IoError::ColumnType {
                            path: path.to_path_buf(),
                            column: SIGNATURE.to_owned(),
                            found: "a null signature or bands beside a key".to_owned(),
                            expected: "a signature and bands for every key",
                        });
                    }
                };
                Some((
                    u128::from_be_bytes(bytes),
                    created.value(i),
                    ids.value(i),
                    near,
                ))
            };
            f(keyed, (!of.is_null(i)).then(|| of.value(i)))?;
        }
    }
    Ok(near)
}

/// The keys file `path` (of layout `near`, of the unit whose part is
/// `name`) written again with the unit's `losers` now (sorted by row) in
/// place of the survivors it had, read and written as a stream: the new
/// file is written beside it, then renamed over it.
#[allow(clippy::too_many_arguments)]
pub fn rewrite_file(
    out_dir: &Path,
    name: &str,
    path: &Path,
    near: Option<NearLayout>,
    losers: &[Loser],
    footer: &[(String, String)],
    options: &WriteOptions,
) -> Result<OutputFile> {
    let staged = format!("{name}.rewritten");
    let mut w = WithLosers::create(out_dir, &staged, near, losers, footer, options, path)?;
    let mut rows = 0u64;
    for_each(path, |keyed, _| {
        rows += 1;
        w.push(keyed)
    })?;
    let mut file = w.finish(rows)?;
    let from = out_dir.join(DIR).join(&staged);
    std::fs::rename(&from, path).map_err(|source| IoError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    file.path = format!("{DIR}/{name}");
    Ok(file)
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
        let back = decode_raw(&bytes, 0).expect("decodes");
        assert_eq!(
            back,
            vec![
                Some(Keyed {
                    key: 7,
                    created: -3,
                    id: "p-1".into(),
                    near: Vec::new(),
                }),
                None,
                Some(Keyed {
                    key: u128::MAX,
                    created: 9,
                    id: String::new(),
                    near: Vec::new(),
                }),
            ]
        );
        assert!(decode_raw(&bytes[..bytes.len() - 1], 0).is_none());
        assert!(decode_raw(&[2], 0).is_none());
        // Near bytes follow a keyed record only; one short is refused.
        let mut near = Vec::new();
        encode_raw(&mut near, Some((7, -3, "p-1")));
        near.extend_from_slice(&[1, 2, 3]);
        encode_raw(&mut near, None);
        let back = decode_raw(&near, 3).expect("decodes");
        assert_eq!(
            back[0].as_ref().map(|k| k.near.as_slice()),
            Some(&[1, 2, 3][..])
        );
        assert_eq!(back[1], None);
        assert!(decode_raw(&near[..near.len() - 2], 3).is_none());
    }

    #[test]
    fn a_keys_file_round_trips_with_its_losers() {
        // As exact mode writes it, and as near mode does (a signature of 4
        // bins and 2 band keys after each key).
        let near = NearLayout {
            signature: 4,
            bands: 2,
        };
        for layout in [None, Some(near)] {
            let dir = tempfile::tempdir().expect("tmp");
            std::fs::create_dir(dir.path().join(DIR)).expect("mkdir");
            let bytes = |b: u8| layout.map_or_else(Vec::new, |l| vec![b; l.bytes()]);
            let kept = vec![
                Some(Keyed {
                    key: 1 << 100,
                    created: 10,
                    id: "a".into(),
                    near: bytes(7),
                }),
                None,
                Some(Keyed {
                    key: 5,
                    created: 20,
                    id: "b".into(),
                    near: bytes(9),
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
            let opts = WriteOptions::default();
            let f = write(dir.path(), "k.parquet", &posts, layout, &[], &opts).expect("write");
            assert_eq!((f.path.as_str(), f.rows), ("keys/k.parquet", 3));
            let back = read(&dir.path().join(&f.path)).expect("read");
            assert_eq!(back, (posts.clone(), layout));
            assert_eq!(back.0[2].duplicate_of.as_deref(), Some("z"));
            // A loser that is not the post at its row is an error.
            let wrong = Loser {
                id: "a".into(),
                ..loser
            };
            assert!(with_losers(kept, &[wrong], dir.path()).is_err());
            // Near bytes that are not the layout's: refused, not written.
            let mut short = posts.clone();
            if let Some(k) = short[0].keyed.as_mut() {
                k.near.push(0);
            }
            assert!(write(dir.path(), "short.parquet", &short, layout, &[], &opts).is_err());
        }
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
            None,
            &[loser(2, "b")],
            &[],
            &opts,
        )
        .expect("written");
        let kept = decode_raw(&bytes, 0).expect("decodes");
        let posts = with_losers(kept, &[loser(2, "b")], &raw).expect("losers");
        assert_eq!(
            read(&dir.path().join(&f.path)).expect("read"),
            (posts, None)
        );
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
            assert!(write_raw(dir.path(), &name, &raw, rows, None, &losers, &[], &opts).is_err());
        }
    }

    #[test]
    fn near_raw_keys_take_their_signatures_from_the_unit_s_signature_file() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join(DIR)).expect("mkdir");
        let layout = NearLayout {
            signature: 2,
            bands: 1,
        };
        // Two keyed posts around one without a key; the band keys follow
        // each keyed record, the signatures are a row each in their file
        // (zeros for the post with no key).
        let mut bytes = Vec::new();
        encode_raw(&mut bytes, Some((3, 10, "a")));
        bytes.extend_from_slice(&[1; 8]);
        encode_raw(&mut bytes, None);
        encode_raw(&mut bytes, Some((4, 20, "b")));
        bytes.extend_from_slice(&[2; 8]);
        let (raw, sigs) = (dir.path().join("raw"), dir.path().join("sigs"));
        let opts = WriteOptions::default();
        let write = |name: &str, signatures: &[u8]| {
            std::fs::write(&raw, &bytes).expect("write");
            std::fs::write(&sigs, signatures).expect("write");
            let near = Some((layout, sigs.as_path()));
            write_raw(dir.path(), name, &raw, 3, near, &[], &[], &opts)
        };
        let f = write("n.parquet", &[7, 7, 0, 0, 9, 9]).expect("written");
        let (posts, got) = read(&dir.path().join(&f.path)).expect("read");
        assert_eq!(got, Some(layout));
        let near: Vec<Option<Vec<u8>>> = posts
            .iter()
            .map(|p| p.keyed.as_ref().map(|k| k.near.clone()))
            .collect();
        let row = |s: u8, b: u8| Some([vec![s; 2], vec![b; 8]].concat());
        assert_eq!(near, vec![row(7, 1), None, row(9, 2)]);
        // Both files are gone once the keys file is written.
        assert!(!raw.exists() && !sigs.exists());
        // A signature file of another length than the rows': refused.
        assert!(write("short.parquet", &[7, 7, 0, 0, 9]).is_err());
    }
}
