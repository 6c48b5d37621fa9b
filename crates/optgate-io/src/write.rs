//! Writing output part files: zstd Parquet that hashes itself as it is
//! written, with the encodings chosen per column, handed to the sync queue
//! to be flushed to disk.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use optgate_core::policy::PostColumnNames;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{IoError, Result};
use crate::hash::HashingWriter;
use crate::posts::CHUNK_ROWS;
use crate::sync::SyncQueue;

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
    /// Hashes (the keys files' exact keys, and near mode's signatures and
    /// band keys): no dictionary, no statistics, and snappy rather than
    /// zstd, which spends its time looking for matches in random bytes
    /// (measured: 2.2 CPU-s of a 2M-post near run for 226 MB; snappy gives
    /// up on them at once).
    pub hashes: Vec<String>,
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
            hashes: Vec::new(),
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
        // chunk's rows (see CHUNK_ROWS), whatever the unit's size; a file
        // with hash columns (a keys file), whose bytes do not compress, a
        // quarter of that: about 250 bytes a row in near mode, 16 of them
        // plus the id and time in exact mode, where the quarter is not
        // needed but costs nothing the benchmarks show.
        let group_rows = if plain.hashes.is_empty() {
            CHUNK_ROWS
        } else {
            CHUNK_ROWS / 4
        };
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(group_rows));
        for name in plain
            .unique
            .iter()
            .chain(&plain.no_dictionary)
            .chain(&plain.hashes)
        {
            let column = parquet::schema::types::ColumnPath::from(name.as_str());
            props = props.set_column_dictionary_enabled(column, false);
        }
        for name in &plain.hashes {
            let column = parquet::schema::types::ColumnPath::from(name.as_str());
            props = props.set_column_compression(column, Compression::SNAPPY);
        }
        let unique = plain
            .unique
            .iter()
            .chain(&plain.hashes)
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
