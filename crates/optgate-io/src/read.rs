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
use arrow_schema::{DataType, SchemaRef, TimeUnit};
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
    /// Columns stored as raw bytes (no UTF8 annotation) and read as text:
    /// Parquet does not check that their values are UTF-8 (it checks only
    /// annotated columns), so every batch read is checked here.
    pub bytes_as_text: Vec<usize>,
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
        let source = ParquetSource {
            path: path.to_path_buf(),
            metadata,
            bytes_as_text: Vec::new(),
        };
        source.check_decodable()?;
        source.int96_as_micros()
    }

    /// The file with its INT96 timestamps (Spark's and Hive's default) read
    /// as microseconds. Without a unit in the file's own Arrow schema,
    /// Parquet reads them as nanoseconds, and wraps an instant outside
    /// 1677-2262 around silently to another one: a post dated 1600 by a bad
    /// clock would come out dated 2184, its author then an adult.
    /// Microseconds hold any date of the calendar.
    fn int96_as_micros(self) -> Result<Self> {
        let roots = self.metadata.parquet_schema().root_schema().get_fields();
        let int96 = |i: usize| {
            roots.get(i).is_some_and(|t| {
                t.is_primitive() && t.get_physical_type() == parquet::basic::Type::INT96
            })
        };
        let micros = retyped(self.metadata.schema(), |i, t| match t {
            DataType::Timestamp(TimeUnit::Nanosecond, zone) if int96(i) => {
                Some(DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))
            }
            _ => None,
        });
        match micros {
            None => Ok(self),
            Some(schema) => Ok(ParquetSource {
                metadata: self.read_as(schema)?,
                ..self
            }),
        }
    }

    /// Checks, from the footer alone, that every column chunk of the file
    /// can be decoded: a codec this build cannot read (LZO, which no Parquet
    /// library for Rust implements) is refused when the file is opened,
    /// naming the file and the column, so while planning, before any row of
    /// any file is processed.
    fn check_decodable(&self) -> Result<()> {
        use parquet::basic::Compression;
        for group in self.metadata.metadata().row_groups() {
            for chunk in group.columns() {
                let supported = match chunk.compression() {
                    Compression::UNCOMPRESSED
                    | Compression::SNAPPY
                    | Compression::GZIP(_)
                    | Compression::BROTLI(_)
                    | Compression::LZ4
                    | Compression::ZSTD(_)
                    | Compression::LZ4_RAW => true,
                    Compression::LZO => false,
                };
                if !supported {
                    return Err(IoError::Unsupported {
                        path: self.path.clone(),
                        column: chunk.column_path().string(),
                        what: format!(
                            "compressed with {}, which optgate cannot decompress; rewrite the file with snappy, gzip, lz4, brotli or zstd",
                            chunk.compression()
                        ),
                    });
                }
            }
        }
        Ok(())
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
        let read_as = if self.bytes_as_text.contains(&index) {
            text_type(field.data_type())
        } else {
            field.data_type().clone()
        };
        if accept(&read_as) {
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

    /// The file read with the columns named `names` (those absent are left
    /// out; the caller checks for them) as plain text: a `BYTE_ARRAY` column
    /// without the UTF8 annotation (older Hive and Impala files) is read as
    /// utf8 and each value is validated as UTF-8 when decoded (a value that is
    /// not fails the read, naming the file), and a dictionary column (as
    /// pandas categoricals and some writers store strings) is read as its
    /// values. Other columns keep the types the footer gives them.
    pub fn reading_as_text(self, names: &[&str]) -> Result<Self> {
        let indices: Vec<usize> = (names.iter())
            .filter_map(|n| self.metadata.schema().index_of(n).ok())
            .collect();
        self.reading_columns_as_text(&indices)
    }

    /// [`Self::reading_as_text`] by column position.
    pub fn reading_columns_as_text(self, text: &[usize]) -> Result<Self> {
        let bytes_as_text = stored_as_bytes(self.metadata.schema(), text);
        let plain = retyped(self.metadata.schema(), |i, t| {
            let plain = as_text(t);
            (text.contains(&i) && &plain != t).then_some(plain)
        });
        let metadata = match plain {
            None => self.metadata,
            Some(schema) => self.read_as(schema)?,
        };
        Ok(ParquetSource {
            path: self.path,
            metadata,
            bytes_as_text,
        })
    }

    /// The footer read with the Arrow types of `schema`, which Parquet
    /// checks against the file's own types.
    fn read_as(&self, schema: SchemaRef) -> Result<ArrowReaderMetadata> {
        ArrowReaderMetadata::try_new(
            self.metadata.metadata().clone(),
            ArrowReaderOptions::new().with_schema(schema),
        )
        .map_err(|source| IoError::Parquet {
            path: self.path.clone(),
            source,
        })
    }

    /// The footer with the string columns at `labels` decoded as
    /// dictionaries with `i32` keys: a label column holds a handful of
    /// values, and a key per row replaces a copy of the label per row (the
    /// rules and the writer read them through the dictionary). Columns of
    /// another type are left as they are.
    pub fn with_label_dictionaries(&self, labels: &[usize]) -> Result<ArrowReaderMetadata> {
        let dictionaries = retyped(self.metadata.schema(), |i, t| match t {
            DataType::Utf8 | DataType::LargeUtf8 if labels.contains(&i) => {
                Some(DataType::Dictionary(
                    Box::new(optgate_core::LABEL_DICTIONARY_KEY),
                    Box::new(t.clone()),
                ))
            }
            _ => None,
        });
        match dictionaries {
            None => Ok(self.metadata.clone()),
            Some(schema) => self.read_as(schema),
        }
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
        let checked = TextChecked::new(reader, &self.bytes_as_text, Some(indices));
        Ok(checked.map(move |b| {
            b.map_err(|e| IoError::Parquet {
                path: self.path.clone(),
                source: e.into(),
            })
        }))
    }
}

/// Of the columns at `indices`, those stored as raw bytes (read as binary
/// by default), which `as_text` reads as strings.
pub fn stored_as_bytes(schema: &arrow_schema::Schema, indices: &[usize]) -> Vec<usize> {
    let bytes = |t: &DataType| match t {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => true,
        DataType::Dictionary(_, v) => {
            matches!(
                **v,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            )
        }
        _ => false,
    };
    (indices.iter().copied())
        .filter(|i| bytes(schema.field(*i).data_type()))
        .collect()
}

/// A reader whose batches have the columns stored as raw bytes but read as
/// text checked to be UTF-8, value by value, before anything reads them as
/// strings; a batch that fails is an error naming the column.
#[derive(Debug)]
pub struct TextChecked<R> {
    inner: R,
    /// Positions in the batch, and the names, of the columns to check.
    check: Vec<usize>,
}

impl<R> TextChecked<R> {
    /// `bytes_as_text` are file column indices; `projection` the file
    /// columns the batches hold (every column when `None`).
    pub fn new(inner: R, bytes_as_text: &[usize], projection: Option<&[usize]>) -> Self {
        let check = match projection {
            None => bytes_as_text.to_vec(),
            Some(p) => {
                let mut sorted = p.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                (bytes_as_text.iter())
                    .filter(|c| sorted.contains(c))
                    .map(|&c| projected_position(&sorted, c))
                    .collect()
            }
        };
        TextChecked { inner, check }
    }
}

impl<R> Iterator for TextChecked<R>
where
    R: Iterator<Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>>,
{
    type Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.inner.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        if self.check.is_empty() {
            return Some(Ok(batch));
        }
        let mut columns = batch.columns().to_vec();
        for &c in &self.check {
            match bytes_to_text(&columns[c]) {
                Ok(text) => columns[c] = text,
                Err(row) => {
                    return Some(Err(arrow_schema::ArrowError::ParseError(format!(
                        "column `{}` holds a value that is not UTF-8 ({row} rows into the batch); it is stored as bytes without the UTF8 annotation, which optgate reads as text only when it is valid UTF-8",
                        batch.schema().field(c).name(),
                    ))));
                }
            }
        }
        let schema = with_bytes_as_text(&batch.schema(), &self.check);
        Some(RecordBatch::try_new(schema, columns))
    }
}

/// A binary column as strings, each value checked to be UTF-8; the first
/// row that is not, if one is not.
fn bytes_to_text(array: &ArrayRef) -> std::result::Result<ArrayRef, usize> {
    use arrow_array::GenericStringArray;
    fn first_bad<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> usize {
        values
            .enumerate()
            .find(|(_, v)| v.is_some_and(|b| simdutf8::basic::from_utf8(b).is_err()))
            .map_or(0, |(i, _)| i)
    }
    Ok(match array.data_type() {
        DataType::Binary => {
            let b = array.as_binary::<i32>();
            std::sync::Arc::new(
                GenericStringArray::<i32>::try_from_binary(b.clone())
                    .map_err(|_| first_bad(b.iter()))?,
            )
        }
        DataType::LargeBinary => {
            let b = array.as_binary::<i64>();
            std::sync::Arc::new(
                GenericStringArray::<i64>::try_from_binary(b.clone())
                    .map_err(|_| first_bad(b.iter()))?,
            )
        }
        DataType::BinaryView => {
            let b = array.as_binary_view();
            std::sync::Arc::new(
                b.clone()
                    .to_string_view()
                    .map_err(|_| first_bad(b.iter()))?,
            )
        }
        _ => array.clone(),
    })
}

/// The type a text column is decoded as: a dictionary as its values. Raw
/// bytes stay binary here: Parquet reads bytes asked for as utf8 without
/// checking them (it checks only annotated columns; a debug build panics),
/// so [`TextChecked`] turns them into strings, checked.
fn as_text(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Dictionary(_, values) => as_text(values),
        other => other.clone(),
    }
}

/// The string type of the same layout as a binary type; others unchanged.
pub fn text_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Binary => DataType::Utf8,
        DataType::LargeBinary => DataType::LargeUtf8,
        DataType::BinaryView => DataType::Utf8View,
        other => other.clone(),
    }
}

/// `schema` with the columns at `bytes_as_text` as their string types: the
/// schema of the batches [`TextChecked`] hands out.
pub fn with_bytes_as_text(schema: &SchemaRef, bytes_as_text: &[usize]) -> SchemaRef {
    retyped(schema, |i, t| {
        bytes_as_text.contains(&i).then(|| text_type(t))
    })
    .unwrap_or_else(|| schema.clone())
}

/// `schema` with the type of each column `i` for which `retype(i, type)`
/// gives one, or `None` when it gives none (nothing to change).
fn retyped(
    schema: &SchemaRef,
    retype: impl Fn(usize, &DataType) -> Option<DataType>,
) -> Option<SchemaRef> {
    let mut changed = false;
    let fields: Vec<arrow_schema::FieldRef> = (schema.fields().iter().enumerate())
        .map(|(i, f)| match retype(i, f.data_type()) {
            Some(t) => {
                changed = true;
                std::sync::Arc::new(f.as_ref().clone().with_data_type(t))
            }
            None => f.clone(),
        })
        .collect();
    changed.then(|| {
        std::sync::Arc::new(arrow_schema::Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        ))
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// INT96 timestamps as Spark writes them (no Arrow schema in the
    /// footer), outside what nanoseconds hold: read as the instants written,
    /// never wrapped around to others.
    #[test]
    fn int96_dates_outside_the_nanosecond_range_are_read_as_written() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/golden/int96-far-dates.parquet");
        let source = ParquetSource::open(&path).expect("open");
        assert_eq!(
            source.data_type(0),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        let batches: Vec<RecordBatch> = source
            .read_columns(&[0])
            .expect("reader")
            .collect::<Result<_>>()
            .expect("batches");
        let at = batches[0].column(0);
        let text: Vec<String> = (0..at.len())
            .map(|i| rfc3339_micros(timestamp_micros(at, i).expect("not null")))
            .collect();
        assert_eq!(
            text,
            [
                "1600-01-01T00:00:00Z",
                "2300-06-01T12:00:00Z",
                "2025-05-27T00:00:00Z"
            ]
        );
    }
}
