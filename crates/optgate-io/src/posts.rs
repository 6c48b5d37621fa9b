//! The posts directory: planning work units (file × row group) and processing one.

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::filter::filter_record_batch;
use optgate_core::policy::PostColumnNames;
use optgate_core::{
    DropCounts, DropReason, IdColumn, IdKey, Policy, ReasonSet, RuleColumns, SideTables, StrColumn,
    country_str, evaluate_posts_with_regions, is_id_type, is_str_type, keep_mask,
};
use optgate_manifest::OutputFile;
use optgate_pii::{EntityCounts, Scrubbing, TextScrubber};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::dedup::{KeyRecord, KeySpill, Spool, Spooled};
use crate::discover::{PostsSource, discover_posts};
use crate::error::{IoError, Result};
use crate::hash::HashingWriter;
use crate::ledger::LedgerBuilder;
use crate::read::{
    ParquetSource, TextChecked, is_timestamp, projected_position, with_bytes_as_text,
};
use crate::sync::SyncQueue;

/// Rows decoded per batch (and so the batch the rules look up at once).
pub const BATCH_ROWS: usize = 16 * 1024;

/// One posts file, its footer read and its schema checked when the run was
/// planned. The footer itself is not kept: a work unit reads it again through
/// the plan's [`FooterCache`], so that a run over many files holds a few
/// footers at a time rather than all of them.
#[derive(Debug, Clone)]
pub struct PostsFile {
    pub path: PathBuf,
    /// Relative to the posts directory, `/`-separated.
    pub rel_path: String,
    /// Position in the plan's files, the footer cache's key.
    index: usize,
    /// The plan's footer cache, shared by all its files.
    footers: Arc<FooterCache>,
    /// The file's schema as read (dictionary text columns as their values,
    /// raw-bytes ones still binary); a footer read again must match it.
    file_schema: SchemaRef,
    /// The output's schema: `file_schema`, then a utf8 column per Hive
    /// partition key.
    schema: SchemaRef,
    /// The batches' schema: `schema` with the label columns as dictionaries
    /// (`ParquetSource::with_label_dictionaries`).
    batch_schema: SchemaRef,
    /// The file's Hive partition values, one per key of the plan.
    partition_values: Vec<Option<String>>,
    /// The rule labels the file leaves to its directories: the index of the
    /// partition key and its name, in the order they follow the file's rule
    /// columns in a rule batch.
    rule_partitions: Vec<(usize, String)>,
    /// The label columns, read as dictionaries.
    labels: Vec<usize>,
    /// The columns read as plain text whatever their Parquet type (ids,
    /// labels, text, lang): see [`ParquetSource::reading_as_text`].
    text_columns: Vec<usize>,
    /// Of those, the columns stored as raw bytes, checked to be UTF-8 as
    /// they are read ([`crate::read::TextChecked`]).
    bytes_as_text: Vec<usize>,
    /// Rows of each row group, as planned.
    group_rows: Vec<u64>,
    /// Compressed bytes of each row group, as planned.
    group_bytes: Vec<u64>,
    /// The file's size and modification time when it was planned (before
    /// its digest for the manifest was taken).
    stamp: FileStamp,
    /// Columns the rules read, in file order.
    rule_indices: Vec<usize>,
    /// Where each rule column sits in a batch projected to `rule_indices`.
    rule_columns: RuleColumns,
    /// Every other column (text, lang, extra columns), in file order.
    rest_indices: Vec<usize>,
    /// Schema positions of the text and author columns, for scrubbing.
    text_index: usize,
    author_index: usize,
    /// How the output columns are encoded, worked out once per file.
    plain: PlainColumns,
}

impl PostsFile {
    /// Schema position of the author column.
    pub fn author_index(&self) -> usize {
        self.author_index
    }

    /// Rows in the file, as planned.
    pub fn rows(&self) -> u64 {
        self.group_rows.iter().sum()
    }

    pub fn row_groups(&self) -> usize {
        self.group_rows.len()
    }

    /// Compressed bytes of a row group, as planned.
    pub fn row_group_bytes(&self, row_group: usize) -> u64 {
        self.group_bytes[row_group]
    }

    /// The file's Arrow schema, as output files are written.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// How the file's output columns are encoded.
    pub fn plain(&self) -> &PlainColumns {
        &self.plain
    }

    /// `columns` (the file's, as read) followed by the file's Hive partition
    /// values (if any), `rows` times each, as a batch of the output's schema.
    fn with_partitions(
        &self,
        mut columns: Vec<ArrayRef>,
        rows: usize,
    ) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
        for v in &self.partition_values {
            columns.push(Arc::new(arrow_array::StringArray::from(vec![
                v.as_deref();
                rows
            ])));
        }
        RecordBatch::try_new_with_options(
            self.batch_schema.clone(),
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
    }

    /// A batch of the file's rule columns followed by the labels it leaves to
    /// its directories, each a dictionary of its one value.
    fn with_rule_partitions(
        &self,
        batch: RecordBatch,
    ) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
        if self.rule_partitions.is_empty() {
            return Ok(batch);
        }
        let rows = batch.num_rows();
        let schema = batch.schema();
        let mut fields: Vec<arrow_schema::FieldRef> = schema.fields().iter().cloned().collect();
        let mut columns = batch.columns().to_vec();
        for (k, name) in &self.rule_partitions {
            let value = arrow_array::StringArray::from(vec![self.partition_values[*k].as_deref()]);
            let label = arrow_array::DictionaryArray::<arrow_array::types::Int32Type>::try_new(
                arrow_array::Int32Array::from(vec![0; rows]),
                Arc::new(value),
            )?;
            fields.push(Arc::new(arrow_schema::Field::new(
                name,
                arrow_array::Array::data_type(&label).clone(),
                true,
            )));
            columns.push(Arc::new(label));
        }
        RecordBatch::try_new(
            Arc::new(arrow_schema::Schema::new_with_metadata(
                fields,
                schema.metadata().clone(),
            )),
            columns,
        )
    }

    /// The footer as the work units read it (the label columns as
    /// dictionaries), from the cache or read again and checked against the
    /// plan: a file that changed since is an error, never read with the
    /// footer of the file it replaced.
    fn footer(&self) -> Result<ArrowReaderMetadata> {
        if let Some(m) = self.footers.get(self.index) {
            return Ok(m);
        }
        let source =
            ParquetSource::open(&self.path)?.reading_columns_as_text(&self.text_columns)?;
        let changed = |what: String| IoError::InputChanged {
            path: self.path.clone(),
            what,
        };
        if source.metadata.schema() != &self.file_schema {
            return Err(changed("its schema is not the one planned".into()));
        }
        let rows = group_rows(&source);
        if rows.len() != self.group_rows.len() {
            return Err(changed(format!(
                "{} row groups, {} planned",
                rows.len(),
                self.group_rows.len()
            )));
        }
        if let Some((i, (now, planned))) = rows
            .iter()
            .zip(&self.group_rows)
            .enumerate()
            .find(|(_, (now, planned))| now != planned)
        {
            return Err(changed(format!(
                "row group {i} has {now} rows, {planned} planned"
            )));
        }
        let read = source.with_label_dictionaries(&self.labels)?;
        self.footers.put(self.index, read.clone());
        Ok(read)
    }

    /// Whether the file is still as planned (its size and modification
    /// time), once its units have been read: a write while a unit was
    /// reading it, which the check at opening cannot see, shows here.
    pub fn check_unchanged(&self) -> Result<()> {
        let meta = fs::metadata(&self.path).map_err(|source| IoError::Read {
            path: self.path.clone(),
            source,
        })?;
        self.check_stamp(&meta, "during the run")
    }

    fn check_stamp(&self, meta: &fs::Metadata, when: &str) -> Result<()> {
        let now = FileStamp::of(meta);
        if now == self.stamp {
            return Ok(());
        }
        Err(IoError::InputChanged {
            path: self.path.clone(),
            what: format!(
                "it was written to {when} ({} bytes then, {} now)",
                self.stamp.bytes, now.bytes
            ),
        })
    }

    /// The error of a failed decode of `row_group` (a Parquet or an Arrow
    /// error), naming the file.
    pub(crate) fn decode_error<E: Into<parquet::errors::ParquetError>>(
        &self,
        row_group: usize,
    ) -> impl Fn(E) -> IoError {
        move |source| IoError::Decode {
            path: self.path.clone(),
            row_group,
            source: source.into(),
        }
    }

    /// A row group whose rows did not add up as they must: never guessed
    /// around, an error naming the file.
    fn inconsistent(&self, row_group: usize, what: String) -> IoError {
        self.decode_error(row_group)(parquet::errors::ParquetError::General(what))
    }

    /// A reader of one row group, `BATCH_ROWS` rows at a time: the columns
    /// at `columns` (every column when `None`), the rows `selection` picks
    /// (every row when `None`). The label columns come as dictionaries, which
    /// the writer takes for the file's string columns as they are.
    pub fn row_group_reader(
        &self,
        row_group: usize,
        columns: Option<&[usize]>,
        selection: Option<RowSelection>,
    ) -> Result<TextChecked<ParquetRecordBatchReader>> {
        let footer = self.footer()?;
        let read_err = |source| IoError::Read {
            path: self.path.clone(),
            source,
        };
        let file = File::open(&self.path).map_err(read_err)?;
        // The file read must be the file planned and hashed: one written to
        // since (or replaced) would put rows in the output that the
        // manifest's digest does not cover.
        self.check_stamp(
            &file.metadata().map_err(read_err)?,
            "after the run planned it",
        )?;
        let projection =
            columns.map(|c| ProjectionMask::roots(footer.parquet_schema(), c.iter().copied()));
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer)
            .with_row_groups(vec![row_group])
            .with_batch_size(BATCH_ROWS);
        if let Some(projection) = projection {
            builder = builder.with_projection(projection);
        }
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        let reader = builder.build().map_err(self.decode_error(row_group))?;
        Ok(TextChecked::new(reader, &self.bytes_as_text, columns))
    }
}

/// The footers of the files whose work units are running, read again per
/// file rather than kept for the whole run: a run over tens of thousands of
/// files would otherwise hold every footer (21 KB each for the generated
/// sample's files of 4 row groups and 11 columns). The workers take the
/// files' units in turn, so a few entries hold every file in use; the least
/// recently used one makes room.
pub struct FooterCache {
    entries: std::sync::Mutex<Vec<(usize, ArrowReaderMetadata, u64)>>,
}

/// Footers a [`FooterCache`] holds at most.
pub const FOOTERS_KEPT: usize = 8;

impl FooterCache {
    fn new() -> FooterCache {
        FooterCache {
            entries: std::sync::Mutex::new(Vec::with_capacity(FOOTERS_KEPT)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, ArrowReaderMetadata, u64)>> {
        // A worker that panicked holding the lock left the entries whole
        // (each change is one push or one assignment).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tick(entries: &[(usize, ArrowReaderMetadata, u64)]) -> u64 {
        entries.iter().map(|e| e.2).max().unwrap_or(0) + 1
    }

    fn get(&self, file: usize) -> Option<ArrowReaderMetadata> {
        let mut entries = self.lock();
        let tick = Self::tick(&entries);
        let e = entries.iter_mut().find(|e| e.0 == file)?;
        e.2 = tick;
        Some(e.1.clone())
    }

    fn put(&self, file: usize, footer: ArrowReaderMetadata) {
        let mut entries = self.lock();
        let tick = Self::tick(&entries);
        if let Some(e) = entries.iter_mut().find(|e| e.0 == file) {
            // Another worker read it meanwhile: the same footer.
            e.2 = tick;
            return;
        }
        if entries.len() >= FOOTERS_KEPT
            && let Some(oldest) = (0..entries.len()).min_by_key(|&i| entries[i].2)
        {
            entries.swap_remove(oldest);
        }
        entries.push((file, footer, tick));
    }

    /// The files whose footers are held.
    fn held(&self) -> Vec<usize> {
        let mut files: Vec<usize> = self.lock().iter().map(|e| e.0).collect();
        files.sort_unstable();
        files
    }
}

impl std::fmt::Debug for FooterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FooterCache")
            .field("held", &self.held())
            .finish()
    }
}

/// Rows of each row group of a file, by its footer.
fn group_rows(source: &ParquetSource) -> Vec<u64> {
    (source.metadata.metadata().row_groups().iter())
        .map(|g| g.num_rows().max(0) as u64)
        .collect()
}

/// A file's size and modification time, to tell that it was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    bytes: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        FileStamp {
            bytes: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// A unit of work: one row group of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkUnit {
    pub file: usize,
    pub row_group: usize,
    pub rows: u64,
}

/// Every posts file and the work units they split into, in a fixed order.
#[derive(Debug, Clone)]
pub struct PostsPlan {
    pub dir: PathBuf,
    pub files: Vec<PostsFile>,
    pub units: Vec<WorkUnit>,
    /// The Hive partition keys of the directory, outermost first (each an
    /// output column); empty for plain files.
    pub partition_keys: Vec<String>,
}

impl PostsPlan {
    pub fn rows(&self) -> u64 {
        self.units.iter().map(|u| u.rows).sum()
    }
}

/// Where a rule label comes from: a column of the file, or a Hive partition
/// key of its directories (by the key's position).
#[derive(Debug, Clone, Copy)]
enum Label {
    File(usize),
    Partition(usize),
}

impl Label {
    fn file(&self) -> Option<usize> {
        match self {
            Label::File(i) => Some(*i),
            Label::Partition(_) => None,
        }
    }
}

/// `schema` with `extra` fields after its own.
fn with_fields(schema: &SchemaRef, extra: &[arrow_schema::FieldRef]) -> SchemaRef {
    if extra.is_empty() {
        return schema.clone();
    }
    let fields: Vec<arrow_schema::FieldRef> =
        schema.fields().iter().chain(extra).cloned().collect();
    Arc::new(arrow_schema::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ))
}

/// Reads every footer and checks every schema before any data is read.
pub fn plan_posts(dir: &Path, cols: &PostColumnNames) -> Result<PostsPlan> {
    let mut files: Vec<PostsFile> = Vec::new();
    let mut units = Vec::new();
    let footers = Arc::new(FooterCache::new());
    let discovered = discover_posts(dir)?;
    let partition_fields: Vec<arrow_schema::FieldRef> = (discovered.partition_keys.iter())
        .map(|k| {
            Arc::new(arrow_schema::Field::new(
                k,
                arrow_schema::DataType::Utf8,
                true,
            ))
        })
        .collect();
    for (file_idx, found) in discovered.files.into_iter().enumerate() {
        let PostsSource {
            path,
            rel_path,
            partition_values,
        } = found;
        // Taken before the footer is read: a write in between moves the
        // file from its stamp, which the units' checks then see.
        let stamp = FileStamp::of(&fs::metadata(&path).map_err(|source| IoError::Read {
            path: path.clone(),
            source,
        })?);
        let text_names = [
            &cols.post_id,
            &cols.author_id,
            &cols.platform,
            &cols.kind,
            &cols.visibility,
            &cols.text,
            &cols.lang,
        ];
        let raw = ParquetSource::open(&path)?;
        let text_columns: Vec<usize> = (text_names.iter())
            .filter_map(|n| raw.metadata.schema().index_of(n).ok())
            .collect();
        let source = raw.reading_columns_as_text(&text_columns)?;
        let id = |key, name: &str| -> Result<usize> {
            let i = source.column("posts", key, name)?;
            source.expect_type(i, optgate_core::ID_TYPES, is_id_type)?;
            Ok(i)
        };
        let text = |key, name: &str| -> Result<usize> {
            let i = source.column("posts", key, name)?;
            source.expect_type(i, "utf8", is_str_type)?;
            Ok(i)
        };
        // A label may be left to the directories (`platform=instagram/`):
        // then each row's label is its file's partition value.
        let label = |key, name: &str| -> Result<Label> {
            let in_file = source.metadata.schema().index_of(name).is_ok();
            match discovered.partition_keys.iter().position(|k| k == name) {
                Some(k) if !in_file => Ok(Label::Partition(k)),
                _ => text(key, name).map(Label::File),
            }
        };
        let post_id = id("post_id", &cols.post_id)?;
        let author_id = id("author_id", &cols.author_id)?;
        let created_at = source.column("posts", "created_at", &cols.created_at)?;
        source.expect_type(created_at, "timestamp", is_timestamp)?;
        let platform = label("platform", &cols.platform)?;
        let kind = label("kind", &cols.kind)?;
        let visibility = label("visibility", &cols.visibility)?;
        let text_index = text("text", &cols.text)?;
        // lang is an optional hint: absent is fine, but if present it must be text.
        let lang = source.metadata.schema().index_of(&cols.lang).ok();
        if let Some(lang) = lang {
            source.expect_type(lang, "utf8", is_str_type)?;
        }
        let mut rule_indices = vec![post_id, author_id, created_at];
        rule_indices.extend([platform, kind, visibility].iter().filter_map(Label::file));
        rule_indices.sort_unstable();
        rule_indices.dedup();
        // The labels left to the directories follow the file's rule columns
        // in a rule batch.
        let mut rule_partitions: Vec<(usize, String)> = Vec::new();
        let mut label_pos = |l: Label| match l {
            Label::File(i) => projected_position(&rule_indices, i),
            Label::Partition(k) => {
                let p = match rule_partitions.iter().position(|(x, _)| *x == k) {
                    Some(p) => p,
                    None => {
                        rule_partitions.push((k, discovered.partition_keys[k].clone()));
                        rule_partitions.len() - 1
                    }
                };
                rule_indices.len() + p
            }
        };
        let (platform_pos, kind_pos, visibility_pos) =
            (label_pos(platform), label_pos(kind), label_pos(visibility));
        let pos = |i| projected_position(&rule_indices, i);
        let rule_columns = RuleColumns {
            post_id: pos(post_id),
            author_id: pos(author_id),
            created_at: pos(created_at),
            platform: platform_pos,
            kind: kind_pos,
            visibility: visibility_pos,
        };
        let n_cols = source.metadata.schema().fields().len();
        let rest_indices = (0..n_cols).filter(|i| !rule_indices.contains(i)).collect();
        let group_rows = group_rows(&source);
        let group_bytes: Vec<u64> = (source.metadata.metadata().row_groups().iter())
            .map(|g| g.compressed_size().max(0) as u64)
            .collect();
        for (rg, rows) in group_rows.iter().enumerate() {
            units.push(WorkUnit {
                file: file_idx,
                row_group: rg,
                rows: *rows,
            });
        }
        if let Some(k) = (discovered.partition_keys.iter())
            .find(|k| source.metadata.schema().index_of(k).is_ok())
        {
            return Err(IoError::Partitions {
                path: source.path,
                what: format!(
                    "the file has a column `{k}` and sits under a `{k}=` partition directory; which value holds is not clear, so the file is refused"
                ),
            });
        }
        let plain = PlainColumns::for_posts(source.metadata.schema(), cols);
        // The language tag is a label too. A column that is also an id or
        // the text stays a plain string column.
        // A column stored as raw bytes (no UTF8 annotation) stays plain:
        // Parquet's dictionary reader hands its values back as binary,
        // unvalidated, whatever type it is asked for.
        let raw_bytes = |i: &usize| source.bytes_as_text.contains(i);
        let labels: Vec<usize> = [platform.file(), kind.file(), visibility.file(), lang]
            .into_iter()
            .flatten()
            .filter(|i| ![post_id, author_id, text_index].contains(i) && !raw_bytes(i))
            .collect();
        // Files of one dataset nearly always share a schema: one copy of it.
        let (file_schema, schema, batch_schema) = match files.last() {
            Some(prev)
                if prev.file_schema == *source.metadata.schema()
                    && prev.labels == labels
                    && prev.text_columns == text_columns =>
            {
                (
                    prev.file_schema.clone(),
                    prev.schema.clone(),
                    prev.batch_schema.clone(),
                )
            }
            _ => {
                let text = |schema: &SchemaRef| with_bytes_as_text(schema, &source.bytes_as_text);
                (
                    source.metadata.schema().clone(),
                    with_fields(&text(source.metadata.schema()), &partition_fields),
                    with_fields(
                        &text(source.with_label_dictionaries(&labels)?.schema()),
                        &partition_fields,
                    ),
                )
            }
        };
        files.push(PostsFile {
            path: source.path,
            rel_path,
            index: file_idx,
            footers: Arc::clone(&footers),
            file_schema,
            schema,
            batch_schema,
            partition_values,
            rule_partitions,
            labels,
            text_columns,
            bytes_as_text: source.bytes_as_text.clone(),
            group_rows,
            group_bytes,
            stamp,
            plain,
            rule_indices,
            rule_columns,
            rest_indices,
            text_index,
            author_index: author_id,
        });
    }
    Ok(PostsPlan {
        dir: dir.to_path_buf(),
        files,
        units,
        partition_keys: discovered.partition_keys,
    })
}

/// How output part files are written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub zstd_level: i32,
    /// Where finished files go to be flushed to disk; `None` flushes each
    /// in [`PartWriter::finish`].
    pub sync: Option<SyncQueue>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            zstd_level: 3,
            sync: None,
        }
    }
}

/// The columns of a part file that the writer encodes plainly: values that
/// are (nearly) all distinct, for which a dictionary only grows until the
/// writer gives up on it. Measured, dictionaries and statistics on these
/// columns cost a fifth of the writer's time (see `benches/HISTORY.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainColumns {
    /// No dictionary and no min/max statistics: min/max of free text or of
    /// random ids prunes nothing (the post id, the text).
    pub unique: Vec<String>,
    /// No dictionary, statistics kept: a reader prunes row groups by their
    /// min/max (the creation time).
    pub no_dictionary: Vec<String>,
    /// Dictionary kept, no statistics, by the column's path (a list's
    /// values are `name.list.item`): the min/max of the ledger's lists of
    /// reasons prunes nothing that the first reason's does not, and costs a
    /// comparison per value.
    pub no_statistics: Vec<Vec<String>>,
}

impl PlainColumns {
    /// Only the names that `schema` has are kept.
    pub fn new(schema: &arrow_schema::Schema, unique: &[&str], no_dictionary: &[&str]) -> Self {
        let present = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .filter(|n| schema.field_with_name(n).is_ok())
                .map(|n| (*n).to_owned())
                .collect()
        };
        PlainColumns {
            unique: present(unique),
            no_dictionary: present(no_dictionary),
            no_statistics: Vec::new(),
        }
    }

    /// The posts' columns: the post id and the text are unique; the author
    /// and the creation time have no dictionary (in a dump ordered by time,
    /// a row group holds about as many authors as posts).
    pub fn for_posts(schema: &arrow_schema::Schema, cols: &PostColumnNames) -> Self {
        PlainColumns::new(
            schema,
            &[&cols.post_id, &cols.text],
            &[&cols.author_id, &cols.created_at],
        )
    }
}

/// The keys of the post ids of one work unit that the policy keeps (before
/// scrubbing), for `optgate verify --posts`: which output rows the inputs
/// account for.
pub fn kept_post_keys(
    plan: &PostsPlan,
    unit: &WorkUnit,
    policy: &Policy,
    tables: &SideTables,
) -> Result<Vec<IdKey>> {
    let f = &plan.files[unit.file];
    let mut keys = Vec::new();
    for evaluated in evaluated_batches(f, unit, policy, tables)? {
        let (batch, r, _) = evaluated?;
        let ids = IdColumn::new(batch.column(f.rule_columns.post_id));
        for (i, x) in r.iter().enumerate() {
            if x.is_empty()
                && let Some(k) = ids.and_then(|c| c.key(i))
            {
                keys.push(k);
            }
        }
    }
    Ok(keys)
}

/// The rule columns of one work unit, batch by batch, with the rules each row fails.
fn evaluated_batches<'a>(
    f: &'a PostsFile,
    unit: &WorkUnit,
    policy: &'a Policy,
    tables: &'a SideTables,
) -> Result<impl Iterator<Item = Result<Evaluated>> + 'a> {
    let row_group = unit.row_group;
    let decode = f.decode_error(row_group);
    let reader = f.row_group_reader(row_group, Some(&f.rule_indices), None)?;
    Ok(reader.map(move |batch| {
        let batch = batch.map_err(&decode)?;
        let batch = f.with_rule_partitions(batch).map_err(&decode)?;
        let (r, regions) = evaluate_posts_with_regions(&batch, &f.rule_columns, policy, tables)
            .map_err(|source| IoError::Stage {
                path: f.path.clone(),
                row_group,
                source,
            })?;
        Ok((batch, r, regions))
    }))
}

/// A batch of rule columns, the rules each row fails, and each row's author
/// country (the scrubber's region hint).
type Evaluated = (RecordBatch, Vec<ReasonSet>, Vec<[u8; 2]>);

/// Footer key of a part file's scrubbing figures.
pub const UNIT_PII_KEY: &str = "optgate.pii";

/// Footer key of where a part file's posts come from: `<row group> <input
/// file>`, the input file relative to the posts directory (see
/// [`encode_unit_input`]).
pub const UNIT_INPUT_KEY: &str = "optgate.input";

pub fn encode_unit_input(rel_path: &str, row_group: usize) -> String {
    format!("{row_group} {rel_path}")
}

/// The input file and row group of a part, from its footer value.
pub fn decode_unit_input(s: &str) -> Option<(String, usize)> {
    let (g, path) = s.split_once(' ')?;
    Some((path.to_owned(), g.parse().ok()?))
}

/// `r0,r1,…,r9;changed`: replacements per entity type (in `Entity::ALL`
/// order) and posts changed.
pub fn encode_unit_pii(pii: &EntityCounts, posts_changed: u64) -> String {
    let r: Vec<String> = pii.0.iter().map(u64::to_string).collect();
    format!("{};{posts_changed}", r.join(","))
}

pub fn decode_unit_pii(s: &str) -> Option<(EntityCounts, u64)> {
    let (r, changed) = s.split_once(';')?;
    let mut counts = EntityCounts::default();
    let values: Vec<u64> = r
        .split(',')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if values.len() != counts.0.len() {
        return None;
    }
    counts.0.copy_from_slice(&values);
    Some((counts, changed.parse().ok()?))
}

/// The result of one work unit.
#[derive(Debug, Clone, Default)]
pub struct UnitOutcome {
    pub counts: DropCounts,
    /// Personal data replaced in the kept posts, per entity type.
    pub pii: EntityCounts,
    /// Kept posts whose text the scrubbing changed.
    pub posts_changed: u64,
    /// The part file written, if any post was kept.
    pub output: Option<OutputFile>,
    /// The ledger file written, if any post was dropped.
    pub ledger: Option<OutputFile>,
    /// With dedup: the kept posts, spooled for the global phase to write.
    pub spooled: Option<Spooled>,
}

/// The part file name of a unit: stable, so reruns produce the same names.
pub fn part_name(unit: &WorkUnit) -> String {
    format!("part-{:05}-{:05}.parquet", unit.file, unit.row_group)
}

/// Rows of a unit decoded, evaluated and written at a time: a row group of
/// millions of rows (one file of a warehouse table can hold one) is read in
/// chunks of this many rows, so that memory does not grow with it. A unit of
/// at most this many rows is one chunk.
pub const CHUNK_ROWS: usize = 16 * BATCH_ROWS;

/// Processes one work unit: decodes the rule columns, evaluates the rules,
/// then decodes the remaining columns of kept rows only and writes them to
/// `out_dir/data/part-….parquet`, and the dropped posts to
/// `out_dir/ledger/part-….parquet`. Both directories must exist. A unit of
/// more than [`CHUNK_ROWS`] rows is processed a chunk at a time. With
/// `dedup`, the key of every post written goes to its spill (the unit
/// being the plan's unit at that index), for the global phase.
#[allow(clippy::too_many_arguments)]
pub fn process_unit(
    plan: &PostsPlan,
    unit: &WorkUnit,
    policy: &Policy,
    tables: &SideTables,
    scanner: Option<&dyn TextScrubber>,
    dedup: Option<(&KeySpill, usize)>,
    out_dir: &Path,
    options: &WriteOptions,
) -> Result<UnitOutcome> {
    let f = &plan.files[unit.file];
    let mut ledger = LedgerBuilder::new(&f.rel_path, unit.row_group);
    let decode = f.decode_error::<arrow_schema::ArrowError>(unit.row_group);
    let name = part_name(unit);
    let mut out = UnitWriter {
        f,
        unit,
        scanner,
        path: out_dir.join("data").join(&name),
        options,
        writer: None,
        counts: DropCounts::default(),
        pii: EntityCounts::default(),
        posts_changed: 0,
        ledger: &mut ledger,
        dedup: dedup.map(|(spill, index)| Keys {
            spill,
            unit: u32::try_from(index).unwrap_or(u32::MAX),
            records: Vec::new(),
            scratch: Vec::new(),
        }),
    };
    let mut rules = evaluated_batches(f, unit, policy, tables)?;
    let mut chunk_start = 0usize;
    loop {
        let mut reasons: Vec<ReasonSet> = Vec::new();
        let mut kept_rules = Vec::new();
        // The author country of each kept row, in kept order.
        let mut kept_regions: Vec<[u8; 2]> = Vec::new();
        while reasons.len() < CHUNK_ROWS {
            let Some(evaluated) = rules.next() else {
                break;
            };
            let (batch, r, regions) = evaluated?;
            let ids = IdColumn::new(batch.column(f.rule_columns.post_id));
            let mut id_text = itoa::Buffer::new();
            out.counts.record_all(&r);
            for (i, x) in r.iter().enumerate() {
                if x.is_empty() {
                    kept_regions.push(regions[i]);
                } else {
                    out.ledger
                        .push(ids.as_ref().and_then(|c| c.text_in(i, &mut id_text)), *x);
                }
            }
            let mask = keep_mask(&r);
            kept_rules.push(filter_record_batch(&batch, &mask).map_err(&decode)?);
            reasons.extend(r);
        }
        if reasons.is_empty() {
            break;
        }
        if !kept_regions.is_empty() {
            out.write_chunk(chunk_start, &reasons, &kept_rules, &kept_regions)?;
            if let Some(keys) = out.dedup.as_mut() {
                keys.flush()?;
            }
        }
        chunk_start += reasons.len();
        // A unit of millions of rows hands its ledger to the file a chunk's
        // worth at a time; a smaller one writes it whole at the end.
        if out.ledger.pending() >= CHUNK_ROWS / 2 {
            out.ledger.spill(&out_dir.join("ledger"), &name, options)?;
        }
    }
    if chunk_start as u64 != unit.rows {
        // The footer promised a row count the decoder did not deliver: never
        // guess which rows went missing.
        return Err(f.inconsistent(
            unit.row_group,
            format!("footer says {} rows, decoded {chunk_start}", unit.rows),
        ));
    }
    let UnitWriter {
        writer,
        counts,
        pii,
        posts_changed,
        ..
    } = out;
    let build_err = |what: String| f.inconsistent(unit.row_group, what);
    let dropped = counts.dropped();
    if ledger.rows() as u64 != dropped {
        return Err(build_err(format!(
            "ledger holds {} rows but {dropped} posts were dropped",
            ledger.rows()
        )));
    }
    let ledger = ledger.write(&out_dir.join("ledger"), &name, options)?;
    let (output, spooled) = match writer {
        None => (None, None),
        Some(Sink::Spool(spool)) => {
            let spooled = spool.finish()?;
            if spooled.rows != counts.kept {
                return Err(build_err(format!(
                    "spooled {} rows but counted {} kept",
                    spooled.rows, counts.kept
                )));
            }
            (None, Some(spooled))
        }
        Some(Sink::Part(mut writer)) => {
            // The part carries its own scrubbing figures, so a later
            // incremental run that reuses it can add them up without the text.
            writer.add_metadata(UNIT_PII_KEY, encode_unit_pii(&pii, posts_changed));
            writer.add_metadata(
                UNIT_INPUT_KEY,
                encode_unit_input(&f.rel_path, unit.row_group),
            );
            let (rows, bytes, sha256) = writer.finish()?;
            if rows != counts.kept {
                return Err(build_err(format!(
                    "wrote {rows} rows but counted {} kept",
                    counts.kept
                )));
            }
            let output = OutputFile {
                path: format!("data/{name}"),
                rows,
                bytes,
                sha256,
            };
            (Some(output), None)
        }
    };
    Ok(UnitOutcome {
        counts,
        pii,
        posts_changed,
        output,
        ledger,
        spooled,
    })
}

/// The writing half of a unit: its part file (created at its first kept
/// row), counts, scrubbing figures and ledger, fed a chunk at a time.
struct UnitWriter<'a> {
    f: &'a PostsFile,
    unit: &'a WorkUnit,
    scanner: Option<&'a dyn TextScrubber>,
    path: PathBuf,
    options: &'a WriteOptions,
    writer: Option<Sink>,
    counts: DropCounts,
    pii: EntityCounts,
    posts_changed: u64,
    ledger: &'a mut LedgerBuilder,
    dedup: Option<Keys<'a>>,
}

/// Where a unit's kept posts go: its part file, or with dedup its spool.
// One per unit, on the stack of its worker: the variants' sizes matter not.
#[allow(clippy::large_enum_variant)]
enum Sink {
    Part(PartWriter),
    Spool(Spool),
}

impl Sink {
    fn rows(&self) -> u64 {
        match self {
            Sink::Part(w) => w.rows,
            Sink::Spool(s) => s.rows,
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Part(w) => w.write(batch),
            Sink::Spool(s) => s.write(batch),
        }
    }
}

/// The keys of a unit's written posts, on their way to the global phase's spill.
struct Keys<'a> {
    spill: &'a KeySpill,
    unit: u32,
    records: Vec<KeyRecord>,
    scratch: Vec<u8>,
}

impl Keys<'_> {
    /// Records the key of each row of `batch`, which is about to be written
    /// after the `written` rows before it. A post with no text has no key.
    fn add(&mut self, f: &PostsFile, batch: &RecordBatch, written: u64) -> Result<()> {
        let wrong = |column: usize| IoError::ColumnType {
            path: f.path.clone(),
            column: f.schema.field(column).name().clone(),
            found: batch.column(column).data_type().to_string(),
            expected: "the type of the input column",
        };
        let post_index = f.rule_indices[f.rule_columns.post_id];
        let created_index = f.rule_indices[f.rule_columns.created_at];
        let ids = IdColumn::new(batch.column(post_index)).ok_or_else(|| wrong(post_index))?;
        let text = StrColumn::new(batch.column(f.text_index)).ok_or_else(|| wrong(f.text_index))?;
        let created = batch.column(created_index);
        for i in 0..batch.num_rows() {
            let (Some(t), Some(id), Some(micros)) = (
                text.get(i),
                ids.text(i),
                crate::read::timestamp_micros(created, i),
            ) else {
                continue;
            };
            self.records.push(KeyRecord {
                key: optgate_core::dedup::exact_key(t, &mut self.scratch),
                created: micros,
                unit: self.unit,
                row: u32::try_from(written + i as u64).unwrap_or(u32::MAX),
                id,
            });
        }
        Ok(())
    }

    /// Hands the records to the spill.
    fn flush(&mut self) -> Result<()> {
        self.spill.add(&self.records)?;
        self.records.clear();
        Ok(())
    }
}

impl UnitWriter<'_> {
    /// Writes the kept rows of the chunk of rows starting at `start`
    /// (`reasons` one per row of the chunk, `kept_rules` its kept rows'
    /// rule columns, `kept_regions` their authors' countries): decodes their
    /// other columns, scrubs the text, and drops (to the ledger, as
    /// `pii_error`) a post whose text could not be scrubbed.
    fn write_chunk(
        &mut self,
        start: usize,
        reasons: &[ReasonSet],
        kept_rules: &[RecordBatch],
        kept_regions: &[[u8; 2]],
    ) -> Result<()> {
        let f = self.f;
        let row_group = self.unit.row_group;
        let decode = f.decode_error::<arrow_schema::ArrowError>(row_group);
        let rule_schema = kept_rules
            .first()
            .map(|b| b.schema())
            .expect("a chunk with kept rows decoded at least one batch");
        let kept_rules = concat_batches(&rule_schema, kept_rules).map_err(&decode)?;
        if self.writer.is_none() {
            self.writer = Some(match &self.dedup {
                Some(keys) => Sink::Spool(Spool::create(
                    &keys.spill.spool_path(&part_name(self.unit)),
                    &f.batch_schema,
                )?),
                None => Sink::Part(PartWriter::create(
                    &self.path,
                    f.schema.clone(),
                    self.options,
                    &f.plain,
                )?),
            });
        }
        let batch_schema: SchemaRef = f.batch_schema.clone();
        let post_index = f.rule_indices[f.rule_columns.post_id];
        let file_columns = batch_schema.fields().len() - f.partition_values.len();
        let assemble = |rules: &RecordBatch, rest: Option<&RecordBatch>| -> Result<RecordBatch> {
            let columns: Vec<ArrayRef> = (0..file_columns)
                .map(|i| match f.rule_indices.binary_search(&i) {
                    Ok(p) => rules.column(p).clone(),
                    Err(_) => {
                        let rest = rest.expect("a non-rule column comes from the rest batch");
                        rest.column(projected_position(&f.rest_indices, i)).clone()
                    }
                })
                .collect();
            f.with_partitions(columns, rules.num_rows())
                .map_err(&decode)
        };
        let mut scrub_and_write = |batch: RecordBatch, offset: usize| -> Result<()> {
            let batch = match self.scanner {
                None => batch,
                Some(scanner) => {
                    let regions = &kept_regions[offset..offset + batch.num_rows()];
                    let s = scrub_text(&batch, f.text_index, scanner, regions).map_err(&decode)?;
                    self.pii.merge(&s.counts);
                    self.posts_changed += s.changed;
                    if s.failed.iter().any(|x| *x) {
                        // Fail closed: a post whose text could not be
                        // scrubbed is dropped.
                        let ids = IdColumn::new(s.batch.column(post_index));
                        let mut pii_error = ReasonSet::EMPTY;
                        pii_error.insert(DropReason::PiiError);
                        let mut id_text = itoa::Buffer::new();
                        for (i, _) in s.failed.iter().enumerate().filter(|(_, x)| **x) {
                            self.counts.drop_kept(DropReason::PiiError);
                            self.ledger.push(
                                ids.as_ref().and_then(|c| c.text_in(i, &mut id_text)),
                                pii_error,
                            );
                        }
                        let keep: BooleanArray = s.failed.iter().map(|x| Some(!x)).collect();
                        filter_record_batch(&s.batch, &keep).map_err(&decode)?
                    } else {
                        s.batch
                    }
                }
            };
            let writer = self
                .writer
                .as_mut()
                .expect("the part writer was created above");
            if let Some(keys) = self.dedup.as_mut() {
                keys.add(f, &batch, writer.rows())?;
            }
            writer.write(&batch)
        };

        if f.rest_indices.is_empty() {
            let mut offset = 0;
            while offset < kept_rules.num_rows() {
                let n = BATCH_ROWS.min(kept_rules.num_rows() - offset);
                scrub_and_write(assemble(&kept_rules.slice(offset, n), None)?, offset)?;
                offset += n;
            }
            return Ok(());
        }
        // The chunk's kept rows, after the rows of the chunks before it.
        let mut selectors = Vec::new();
        if start > 0 {
            selectors.push(RowSelector::skip(start));
        }
        selectors.extend(Vec::<RowSelector>::from(RowSelection::from_filters(&[
            keep_mask(reasons),
        ])));
        let rest_reader =
            f.row_group_reader(row_group, Some(&f.rest_indices), Some(selectors.into()))?;
        let mut offset = 0;
        for rest in rest_reader {
            let rest = rest.map_err(&decode)?;
            let n = rest.num_rows();
            if offset + n > kept_rules.num_rows() {
                return Err(f.inconsistent(row_group, "more rows selected than were kept".into()));
            }
            scrub_and_write(assemble(&kept_rules.slice(offset, n), Some(&rest))?, offset)?;
            offset += n;
        }
        if offset != kept_rules.num_rows() {
            return Err(f.inconsistent(
                row_group,
                format!(
                    "kept {} rows but decoded {} of their other columns",
                    kept_rules.num_rows(),
                    offset
                ),
            ));
        }
        Ok(())
    }
}

/// The text column of a batch, scrubbed.
struct ScrubbedBatch {
    batch: RecordBatch,
    /// Rows whose scrubbing failed (their text is null in `batch`).
    failed: Vec<bool>,
    counts: EntityCounts,
    changed: u64,
}

/// Scrubs column `text_index` of `batch`, with each row's author country
/// (`regions`, one per row) as the region hint. A panic in the scanner fails
/// that row only.
fn scrub_text(
    batch: &RecordBatch,
    text_index: usize,
    scanner: &dyn TextScrubber,
    regions: &[[u8; 2]],
) -> std::result::Result<ScrubbedBatch, arrow_schema::ArrowError> {
    let column = batch.column(text_index);
    let wrong = || arrow_schema::ArrowError::SchemaError("text column changed type".into());
    let text = StrColumn::new(column).ok_or_else(wrong)?;
    let n = batch.num_rows();
    let texts: Vec<Option<&str>> = (0..n).map(|i| text.get(i)).collect();
    let regions: Vec<Option<&str>> = regions[..n].iter().map(country_str).collect();
    let scrubbed = scanner.scrub_texts(&texts, &regions);
    let failed: Vec<bool> = scrubbed
        .texts
        .iter()
        .map(|s| matches!(s, Scrubbing::Failed))
        .collect();
    let values: Vec<Option<&str>> = scrubbed
        .texts
        .iter()
        .map(|s| match s {
            Scrubbing::Done(t) => Some(t.as_ref()),
            Scrubbing::Null | Scrubbing::Failed => None,
        })
        .collect();
    let array: ArrayRef = match column.data_type() {
        arrow_schema::DataType::LargeUtf8 => Arc::new(string_array::<i64>(&values)),
        arrow_schema::DataType::Utf8View => Arc::new(
            values
                .iter()
                .copied()
                .collect::<arrow_array::StringViewArray>(),
        ),
        _ => Arc::new(string_array::<i32>(&values)),
    };
    let mut columns = batch.columns().to_vec();
    columns[text_index] = array;
    Ok(ScrubbedBatch {
        batch: RecordBatch::try_new(batch.schema(), columns)?,
        failed,
        counts: scrubbed.counts,
        changed: scrubbed.changed,
    })
}

/// A string column of `values`, sized up front: it is as large as the text
/// of the batch, and growing it by doubling copied it over and over (a
/// percent of a run).
fn string_array<O: arrow_array::OffsetSizeTrait>(
    values: &[Option<&str>],
) -> arrow_array::GenericStringArray<O> {
    let bytes: usize = values.iter().flatten().map(|v| v.len()).sum();
    let mut b = arrow_array::builder::GenericStringBuilder::<O>::with_capacity(values.len(), bytes);
    values.iter().for_each(|v| b.append_option(*v));
    b.finish()
}

/// A zstd Parquet part file that hashes itself as it is written.
pub struct PartWriter {
    path: PathBuf,
    writer: ArrowWriter<HashingWriter<BufWriter<File>>>,
    /// Rows written so far.
    pub rows: u64,
    sync: Option<SyncQueue>,
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl PartWriter {
    /// Creates `path`, which must not exist yet, writing the columns that
    /// `plain` names without dictionary (and statistics, for the unique ones).
    pub fn create(
        path: &Path,
        schema: SchemaRef,
        options: &WriteOptions,
        plain: &PlainColumns,
    ) -> Result<Self> {
        let write_err = |source| IoError::Write {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(write_err)?;
        let level =
            ZstdLevel::try_new(options.zstd_level).map_err(|source| IoError::WriteParquet {
                path: path.to_path_buf(),
                source,
            })?;
        // A row group is held in memory until it is complete: at most a
        // chunk's rows (see CHUNK_ROWS), whatever the unit's size.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(CHUNK_ROWS));
        for name in plain.unique.iter().chain(&plain.no_dictionary) {
            let column = parquet::schema::types::ColumnPath::from(name.as_str());
            props = props.set_column_dictionary_enabled(column, false);
        }
        let unique = plain
            .unique
            .iter()
            .map(|name| parquet::schema::types::ColumnPath::from(name.as_str()));
        let nested = plain
            .no_statistics
            .iter()
            .map(|path| parquet::schema::types::ColumnPath::new(path.clone()));
        for column in unique.chain(nested) {
            props = props.set_column_statistics_enabled(
                column,
                parquet::file::properties::EnabledStatistics::None,
            );
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(
            HashingWriter::new(BufWriter::with_capacity(1 << 20, file)),
            schema,
            Some(props),
        )
        .map_err(|source| IoError::WriteParquet {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(PartWriter {
            path: path.to_path_buf(),
            writer,
            rows: 0,
            sync: options.sync.clone(),
        })
    }

    /// Adds a key-value pair to the file's footer.
    pub fn add_metadata(&mut self, key: &str, value: String) {
        self.writer
            .append_key_value_metadata(parquet::file::metadata::KeyValue::new(
                key.to_owned(),
                value,
            ));
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|source| IoError::WriteParquet {
                path: self.path.clone(),
                source,
            })
    }

    /// Closes the file and flushes it to disk, or hands it to the options'
    /// sync queue to be; returns rows, bytes and hex SHA-256.
    pub fn finish(self) -> Result<(u64, u64, String)> {
        let write_err = |source| IoError::Write {
            path: self.path.clone(),
            source,
        };
        let hashing = self
            .writer
            .into_inner()
            .map_err(|source| IoError::WriteParquet {
                path: self.path.clone(),
                source,
            })?;
        let (buffered, sha256, bytes) = hashing.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| write_err(e.into_error()))?;
        match &self.sync {
            Some(queue) => queue.sync(&self.path, file)?,
            None => crate::sync::flush(&self.path, &file)?,
        }
        Ok((self.rows, bytes, sha256))
    }
}

/// A shared handle, so callers can keep the plan alive across threads.
pub type SharedPlan = Arc<PostsPlan>;

/// What the benchmark floor did with one work unit.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloorOutcome {
    pub rows: u64,
    /// Bytes of post text decoded.
    pub text_bytes: u64,
}

/// The benchmark floor for one work unit: decodes every column of every row
/// with the reader `process_unit` uses and re-encodes them to zstd Parquet
/// with the same writer and settings, into `out_dir/part-….parquet`, and
/// nothing else (no rules, no scrubbing, no ledger). A run is compared with
/// the sum of these over the same posts.
pub fn floor_unit(
    plan: &PostsPlan,
    unit: &WorkUnit,
    out_dir: &Path,
    options: &WriteOptions,
) -> Result<FloorOutcome> {
    let f = &plan.files[unit.file];
    let decode = f.decode_error::<arrow_schema::ArrowError>(unit.row_group);
    let reader = f.row_group_reader(unit.row_group, None, None)?;
    let schema: SchemaRef = f.schema.clone();
    let mut writer = PartWriter::create(&out_dir.join(part_name(unit)), schema, options, &f.plain)?;
    let mut outcome = FloorOutcome::default();
    for batch in reader {
        let batch = batch.map_err(&decode)?;
        let rows = batch.num_rows();
        let batch = f
            .with_partitions(batch.columns().to_vec(), rows)
            .map_err(&decode)?;
        if let Some(text) = StrColumn::new(batch.column(f.text_index)) {
            outcome.text_bytes += (0..batch.num_rows())
                .filter_map(|i| text.get(i))
                .map(|t| t.len() as u64)
                .sum::<u64>();
        }
        writer.write(&batch)?;
    }
    let (rows, _, _) = writer.finish()?;
    outcome.rows = rows;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{SampleOptions, generate};

    fn sample(dir: &Path, opts: SampleOptions) -> PostsPlan {
        generate(dir, &opts).expect("sample");
        plan_posts(&dir.join("posts"), &PostColumnNames::default()).expect("plan")
    }

    /// Rows of a unit read through its file's footer.
    fn read_unit(plan: &PostsPlan, unit: &WorkUnit) -> Result<u64> {
        let f = &plan.files[unit.file];
        let mut rows = 0;
        for batch in f.row_group_reader(unit.row_group, None, None)? {
            rows += batch.expect("decodes").num_rows() as u64;
        }
        Ok(rows)
    }

    /// Every footer is read at planning and again by the units, which keep
    /// only the last `FOOTERS_KEPT`: memory does not grow with the files.
    #[test]
    fn a_plan_holds_a_few_footers_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = sample(
            dir.path(),
            SampleOptions {
                posts: 1200,
                files: Some(12),
                row_group_rows: Some(50),
                ..SampleOptions::default()
            },
        );
        assert_eq!((plan.files.len(), plan.units.len()), (12, 24));
        assert!(
            plan.files[0].footers.held().is_empty(),
            "planning keeps no footer"
        );
        let mut rows = 0;
        for unit in &plan.units {
            let n = read_unit(&plan, unit).expect("reads");
            assert_eq!(n, unit.rows);
            rows += n;
        }
        assert_eq!(rows, plan.rows());
        // The files were read in order: the last FOOTERS_KEPT stay.
        let last: Vec<usize> = (12 - FOOTERS_KEPT..12).collect();
        assert_eq!(plan.files[0].footers.held(), last);
        // A file read again comes back, and the least recently used goes.
        read_unit(&plan, &plan.units[0]).expect("reads");
        let held = plan.files[0].footers.held();
        assert_eq!(held.len(), FOOTERS_KEPT);
        assert!(held.contains(&0) && !held.contains(&(12 - FOOTERS_KEPT)));
    }

    /// A file replaced after planning is an error that names it, whether its
    /// rows or its schema changed; its rows are never read with the old
    /// footer, and the other files still read.
    #[test]
    fn a_posts_file_changed_after_planning_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = SampleOptions {
            posts: 400,
            files: Some(2),
            ..SampleOptions::default()
        };
        let plan = sample(dir.path(), opts.clone());
        let other = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("posts/part-00001.parquet");
        for (replacement, what) in [
            (
                SampleOptions {
                    posts: 600,
                    ..opts.clone()
                },
                "rows",
            ),
            (
                SampleOptions {
                    int_ids: true,
                    ..opts.clone()
                },
                "schema",
            ),
        ] {
            generate(other.path(), &replacement).expect("sample");
            fs::copy(other.path().join("posts/part-00001.parquet"), &target).expect("copy");
            let unit = plan.units.iter().find(|u| u.file == 1).expect("a unit");
            match read_unit(&plan, unit) {
                Err(IoError::InputChanged { path, what: said }) => {
                    assert_eq!(path, target);
                    assert!(said.contains(what), "{what}: {said}");
                }
                other => panic!("{what}: expected InputChanged, got {other:?}"),
            }
            assert!(
                plan.files[0].footers.held().iter().all(|f| *f != 1),
                "a footer that does not match is not kept"
            );
            let first = plan.units.iter().find(|u| u.file == 0).expect("a unit");
            assert_eq!(read_unit(&plan, first).expect("reads"), first.rows);
        }
    }

    /// A file written to after planning (and so after its digest was taken)
    /// is an error even when its footer is unchanged, and even when a unit
    /// of it was read before (its footer in the cache).
    #[test]
    fn a_posts_file_written_to_after_planning_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = sample(
            dir.path(),
            SampleOptions {
                posts: 400,
                files: Some(2),
                ..SampleOptions::default()
            },
        );
        let units: Vec<&WorkUnit> = plan.units.iter().filter(|u| u.file == 1).collect();
        assert_eq!(read_unit(&plan, units[0]).expect("reads"), units[0].rows);
        assert!(plan.files[0].footers.held().contains(&1));
        plan.files[1].check_unchanged().expect("as planned so far");
        // The same bytes written again: only the modification time moves.
        let target = dir.path().join("posts/part-00001.parquet");
        let bytes = fs::read(&target).expect("read");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&target, &bytes).expect("write");
        match read_unit(&plan, units[1]) {
            Err(IoError::InputChanged { path, what }) => {
                assert_eq!(path, target);
                assert!(what.contains("written to"), "{what}");
            }
            other => panic!("expected InputChanged, got {other:?}"),
        }
        // Once the units are read, the check at the end of a run sees it
        // too (the write could have come while the last unit was reading),
        // and only in that file.
        match plan.files[1].check_unchanged() {
            Err(IoError::InputChanged { path, what }) => {
                assert_eq!(path, target);
                assert!(what.contains("during the run"), "{what}");
            }
            other => panic!("expected InputChanged, got {other:?}"),
        }
        plan.files[0].check_unchanged().expect("not written to");
    }

    /// Parquet data under another name (Hive's `000000_0`) and links to
    /// directories are errors naming them; other files are left out, as
    /// are names starting with `_` or `.`.
    #[test]
    fn posts_the_run_would_not_read_are_an_error_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = sample(
            dir.path(),
            SampleOptions {
                posts: 200,
                files: Some(2),
                ..SampleOptions::default()
            },
        );
        let posts = dir.path().join("posts");
        let listed = |plan: &PostsPlan| plan.files.len();
        fs::write(posts.join("README.txt"), "posts of 2026-11-30\n").expect("write");
        fs::write(posts.join("empty"), "").expect("write");
        let parquet = posts.join("part-00001.parquet");
        fs::copy(&parquet, posts.join("_000000_0")).expect("copy");
        let cols = PostColumnNames::default();
        assert_eq!(
            listed(&plan_posts(&posts, &cols).expect("plan")),
            listed(&plan)
        );

        let hive = posts.join("sub/000000_0");
        fs::create_dir_all(hive.parent().expect("parent")).expect("mkdir");
        fs::copy(&parquet, &hive).expect("copy");
        match plan_posts(&posts, &cols) {
            Err(IoError::NotPostsFile { path, why }) => {
                assert_eq!(path, hive);
                assert!(why.contains("not named *.parquet"), "{why}");
            }
            other => panic!("expected NotPostsFile, got {other:?}"),
        }
        fs::remove_dir_all(hive.parent().expect("parent")).expect("rm");

        let other = dir.path().join("more-posts");
        fs::create_dir_all(&other).expect("mkdir");
        let link = posts.join("more");
        std::os::unix::fs::symlink(&other, &link).expect("symlink");
        match plan_posts(&posts, &cols) {
            Err(e @ IoError::NotPostsFile { .. }) => {
                assert!(e.is_input_error());
                let text = e.to_string();
                assert!(
                    text.contains("more") && text.contains("does not follow"),
                    "{text}"
                );
            }
            other => panic!("expected NotPostsFile, got {other:?}"),
        }
    }
}
