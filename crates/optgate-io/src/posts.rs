//! The posts directory planned: its files, their footers and schemas
//! checked, and the work units (file × row group) they split into, each read
//! a chunk at a time.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use optgate_core::policy::PostColumnNames;
use optgate_core::{RuleColumns, is_id_type, is_str_type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
};

use crate::discover::{PostsSource, discover_posts};
use crate::error::{IoError, Result};
use crate::read::{
    ParquetSource, TextChecked, is_timestamp, projected_position, with_bytes_as_text,
};
use crate::write::PlainColumns;

/// Rows decoded per batch (and so the batch the rules look up at once).
pub const BATCH_ROWS: usize = 16 * 1024;

/// Rows of a unit decoded, evaluated and written at a time: a row group of
/// millions of rows (one file of a warehouse table can hold one) is read in
/// chunks of this many rows, so that memory does not grow with it. A unit of
/// at most this many rows is one chunk.
pub const CHUNK_ROWS: usize = 16 * BATCH_ROWS;

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
    pub(crate) schema: SchemaRef,
    /// The batches' schema: `schema` with the label columns as dictionaries
    /// (`ParquetSource::with_label_dictionaries`).
    pub(crate) batch_schema: SchemaRef,
    /// The file's Hive partition values, one per key of the plan.
    pub(crate) partition_values: Vec<Option<String>>,
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
    pub(crate) rule_indices: Vec<usize>,
    /// Where each rule column sits in a batch projected to `rule_indices`.
    pub(crate) rule_columns: RuleColumns,
    /// Every other column (text, lang, extra columns), in file order.
    pub(crate) rest_indices: Vec<usize>,
    /// Schema positions of the text and author columns, for scrubbing.
    pub(crate) text_index: usize,
    author_index: usize,
    /// How the output columns are encoded, worked out once per file.
    pub(crate) plain: PlainColumns,
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
    pub(crate) fn with_partitions(
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
    pub(crate) fn with_rule_partitions(
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
    pub(crate) fn footer(&self) -> Result<ArrowReaderMetadata> {
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
    pub(crate) fn inconsistent(&self, row_group: usize, what: String) -> IoError {
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

/// A shared handle, so callers can keep the plan alive across threads.
pub type SharedPlan = Arc<PostsPlan>;

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
