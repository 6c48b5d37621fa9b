//! Opening Parquet files and finding their columns, with errors that name both.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};

use crate::error::{IoError, Result};

/// A Parquet file whose footer has been read.
#[derive(Debug, Clone)]
pub struct ParquetSource {
    pub path: PathBuf,
    pub metadata: ArrowReaderMetadata,
}

impl ParquetSource {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|source| IoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let metadata =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|source| {
                IoError::Parquet {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        Ok(ParquetSource {
            path: path.to_path_buf(),
            metadata,
        })
    }

    pub fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows().max(0) as u64
    }

    pub fn row_groups(&self) -> usize {
        self.metadata.metadata().num_row_groups()
    }

    /// Position of the column `name`, or an error naming the file, table and config key.
    pub fn column(&self, table: &'static str, key: &'static str, name: &str) -> Result<usize> {
        self.metadata
            .schema()
            .index_of(name)
            .map_err(|_| IoError::MissingColumn {
                path: self.path.clone(),
                table,
                key,
                column: name.to_owned(),
            })
    }

    pub fn data_type(&self, index: usize) -> &DataType {
        self.metadata.schema().field(index).data_type()
    }

    /// Checks that column `index` has a type accepted by `accept`.
    pub fn expect_type(
        &self,
        index: usize,
        expected: &'static str,
        accept: impl Fn(&DataType) -> bool,
    ) -> Result<()> {
        let field = self.metadata.schema().field(index);
        if accept(field.data_type()) {
            Ok(())
        } else {
            Err(IoError::ColumnType {
                path: self.path.clone(),
                column: field.name().clone(),
                found: field.data_type().to_string(),
                expected,
            })
        }
    }

    /// A reader builder over a fresh handle on the file, with the footer already parsed.
    pub fn builder(&self) -> Result<ParquetRecordBatchReaderBuilder<File>> {
        self.builder_with(&self.metadata)
    }

    /// [`Self::builder`] with `metadata`, the file's footer read with other
    /// Arrow types (see [`Self::with_label_dictionaries`]).
    pub fn builder_with(
        &self,
        metadata: &ArrowReaderMetadata,
    ) -> Result<ParquetRecordBatchReaderBuilder<File>> {
        let file = File::open(&self.path).map_err(|source| IoError::Read {
            path: self.path.clone(),
            source,
        })?;
        Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
            file,
            metadata.clone(),
        ))
    }

    /// The footer with the string columns at `labels` decoded as
    /// dictionaries with `i32` keys: a label column holds a handful of
    /// values, and a key per row replaces a copy of the label per row (the
    /// rules and the writer read them through the dictionary). Columns of
    /// another type are left as they are.
    pub fn with_label_dictionaries(&self, labels: &[usize]) -> Result<ArrowReaderMetadata> {
        let schema = self.metadata.schema();
        let fields: Vec<arrow_schema::FieldRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 if labels.contains(&i) => {
                    std::sync::Arc::new(f.as_ref().clone().with_data_type(DataType::Dictionary(
                        Box::new(optgate_core::LABEL_DICTIONARY_KEY),
                        Box::new(f.data_type().clone()),
                    )))
                }
                _ => f.clone(),
            })
            .collect();
        let supplied = std::sync::Arc::new(arrow_schema::Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        ));
        ArrowReaderMetadata::try_new(
            self.metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(supplied),
        )
        .map_err(|source| IoError::Parquet {
            path: self.path.clone(),
            source,
        })
    }

    pub fn projection(&self, indices: impl IntoIterator<Item = usize>) -> ProjectionMask {
        ProjectionMask::roots(self.metadata.parquet_schema(), indices)
    }

    /// Reads whole columns of the file in batches, each batch checked for decode errors.
    pub fn read_columns(
        &self,
        indices: &[usize],
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
        self.read_columns_with(&self.metadata, indices)
    }

    /// [`Self::read_columns`] with the footer read as `metadata` (see
    /// [`Self::with_label_dictionaries`]).
    pub fn read_columns_with(
        &self,
        metadata: &ArrowReaderMetadata,
        indices: &[usize],
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
        let reader = self
            .builder_with(metadata)?
            .with_projection(self.projection(indices.iter().copied()))
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|source| IoError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        Ok(reader.map(move |b| {
            b.map_err(|e| IoError::Parquet {
                path: self.path.clone(),
                source: e.into(),
            })
        }))
    }
}

/// Position of `index` among the projected `indices`: a projected batch keeps
/// the file's column order, whatever order the projection lists them in.
pub fn projected_position(indices: &[usize], index: usize) -> usize {
    indices.iter().filter(|i| **i < index).count()
}

/// Microseconds since the epoch of row `i` of a timestamp column, or `None` if null.
pub fn timestamp_micros(array: &ArrayRef, i: usize) -> Option<i64> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => array
            .as_primitive::<TimestampSecondType>()
            .value(i)
            .saturating_mul(1_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => array
            .as_primitive::<TimestampMillisecondType>()
            .value(i)
            .saturating_mul(1_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().value(i)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => array
            .as_primitive::<TimestampNanosecondType>()
            .value(i)
            .div_euclid(1_000),
        _ => return None,
    })
}

pub fn is_timestamp(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(_, _))
}

/// RFC 3339 UTC text of a microsecond timestamp.
pub fn rfc3339_micros(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => format!("{micros}us"),
    }
}
