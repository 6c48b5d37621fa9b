//! The removal ledger: one row per dropped post, with the post id, the first
//! rule it failed, every rule it failed, where it came from and, for a
//! duplicate, the id of the post that was kept in its place. No text and no
//! other personal data: the ledger answers "why is this post not in the
//! dataset" and reconciles with the manifest's counts.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, ListArray, RecordBatch, StringArray, UInt32Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use optgate_core::{DropReason, ReasonSet};
use optgate_manifest::OutputFile;

use crate::error::Result;
use crate::write::{PartWriter, PlainColumns, WriteOptions};

/// Column names of a ledger file.
pub const POST_ID: &str = "post_id";
pub const REASON: &str = "reason";
pub const REASONS: &str = "reasons";
pub const INPUT_FILE: &str = "input_file";
pub const INPUT_ROW_GROUP: &str = "input_row_group";
pub const DUPLICATE_OF: &str = "duplicate_of";

/// The schema of every ledger file.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        // Null when the post's own id is null (dropped as invalid_row).
        Field::new(POST_ID, DataType::Utf8, true),
        Field::new(REASON, DataType::Utf8, false),
        Field::new(
            REASONS,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new(INPUT_FILE, DataType::Utf8, false),
        Field::new(INPUT_ROW_GROUP, DataType::UInt32, false),
        // The surviving post's id, for a post dropped as a duplicate; null
        // for every other reason.
        Field::new(DUPLICATE_OF, DataType::Utf8, true),
    ]))
}

/// The ledger rows of one work unit, built in memory and written at its end,
/// or handed to its file in the meantime with [`LedgerBuilder::spill`].
#[derive(Debug)]
pub struct LedgerBuilder {
    input_file: String,
    row_group: u32,
    post_id: StringBuilder,
    duplicate_of: StringBuilder,
    /// The rules each dropped post failed; the reason columns are built from
    /// them when the file is written.
    reasons: Vec<ReasonSet>,
    /// The file, once rows were spilled to it, and the rows it holds.
    writer: Option<PartWriter>,
    spilled: usize,
}

impl LedgerBuilder {
    pub fn new(input_file: &str, row_group: usize) -> LedgerBuilder {
        LedgerBuilder {
            input_file: input_file.to_owned(),
            row_group: u32::try_from(row_group).unwrap_or(u32::MAX),
            post_id: StringBuilder::new(),
            duplicate_of: StringBuilder::new(),
            reasons: Vec::new(),
            writer: None,
            spilled: 0,
        }
    }

    /// Records a dropped post. `reasons` must not be empty.
    pub fn push(&mut self, post_id: Option<&str>, reasons: ReasonSet) {
        assert!(!reasons.is_empty(), "a dropped post failed a rule");
        self.post_id.append_option(post_id);
        self.duplicate_of.append_null();
        self.reasons.push(reasons);
    }

    /// Records a post dropped as a duplicate of the post `survivor`.
    pub fn push_duplicate(&mut self, post_id: &str, survivor: &str) {
        let mut reasons = ReasonSet::EMPTY;
        reasons.insert(DropReason::Duplicate);
        self.post_id.append_value(post_id);
        self.duplicate_of.append_value(survivor);
        self.reasons.push(reasons);
    }

    pub fn rows(&self) -> usize {
        self.spilled + self.reasons.len()
    }

    /// Rows pushed and not yet handed to the file.
    pub fn pending(&self) -> usize {
        self.reasons.len()
    }

    /// Hands the rows pushed so far to the file `dir/name` (created at the
    /// first call), so that a unit of millions of rows does not hold its
    /// whole ledger in memory. [`LedgerBuilder::write`] must be given the
    /// same `dir` and `name`.
    pub fn spill(&mut self, dir: &Path, name: &str, options: &WriteOptions) -> Result<()> {
        if self.reasons.is_empty() {
            return Ok(());
        }
        let batch = self.take_batch();
        if self.writer.is_none() {
            self.writer = Some(create_writer(dir, name, options)?);
        }
        self.spilled += batch.num_rows();
        self.writer
            .as_mut()
            .expect("the ledger writer was just created")
            .write(&batch)
    }

    /// Writes the rows to `dir/name`; nothing is written for an empty ledger.
    ///
    /// The reason and input-file columns are handed to the writer as
    /// dictionaries (a key per row into the reason names, or into the one
    /// input file), which it writes as the string columns of [`schema`]:
    /// the file is the same as from strings, without a copy of a name per row.
    pub fn write(
        mut self,
        dir: &Path,
        name: &str,
        options: &WriteOptions,
    ) -> Result<Option<OutputFile>> {
        if self.rows() == 0 {
            return Ok(None);
        }
        self.spill(dir, name, options)?;
        let writer = self.writer.take().expect("a ledger with rows has its file");
        let (rows, bytes, sha256) = writer.finish()?;
        Ok(Some(OutputFile {
            path: format!("ledger/{name}"),
            rows,
            bytes,
            sha256,
        }))
    }

    /// The pushed rows as one batch, taken out of the builder.
    ///
    /// The reason and input-file columns are handed to the writer as
    /// dictionaries (a key per row into the reason names, or into the one
    /// input file), which it writes as the string columns of [`schema`]:
    /// the file is the same as from strings, without a copy of a name per row.
    fn take_batch(&mut self) -> RecordBatch {
        let rows = self.reasons.len();
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            DropReason::ALL.iter().map(|r| r.name()),
        ));
        let dictionary = |keys: Vec<i32>, values: &ArrayRef| -> ArrayRef {
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values.clone())
                    .expect("ledger keys index their dictionary"),
            )
        };
        // Every failed rule in order, and the first of each row's (its reason).
        let mut all: Vec<i32> = Vec::with_capacity(rows + rows / 2);
        let mut first: Vec<i32> = Vec::with_capacity(rows);
        let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
        offsets.push(0);
        for r in self.reasons.drain(..) {
            let start = all.len();
            all.extend(r.iter().map(|x| x as i32));
            // `push` takes no empty set: every row has a first reason.
            first.push(all[start]);
            offsets.push(i32::try_from(all.len()).expect("a unit's ledger fits i32 offsets"));
        }
        let item = Arc::new(Field::new(
            "item",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ));
        let reasons = ListArray::try_new(
            item,
            OffsetBuffer::new(offsets.into()),
            dictionary(all, &names),
            None,
        )
        .expect("ledger reasons form a list");
        let file: ArrayRef = Arc::new(StringArray::from(vec![self.input_file.as_str()]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.post_id.finish()),
            dictionary(first, &names),
            Arc::new(reasons),
            dictionary(vec![0; rows], &file),
            Arc::new(UInt32Array::from(vec![self.row_group; rows])),
            Arc::new(self.duplicate_of.finish()),
        ];
        // The batch's own types; the file's are `schema`'s.
        let fields: Vec<Field> = schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .expect("ledger columns match the ledger schema")
    }
}

/// The writer of a ledger file, with the ledger's encodings.
fn create_writer(dir: &Path, name: &str, options: &WriteOptions) -> Result<PartWriter> {
    let schema = schema();
    let mut plain = PlainColumns::new(&schema, &[POST_ID], &[]);
    plain.no_statistics = vec![vec![REASONS.into(), "list".into(), "item".into()]];
    PartWriter::create(&dir.join(name), schema, options, &plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    fn set(reasons: &[DropReason]) -> ReasonSet {
        let mut s = ReasonSet::EMPTY;
        reasons.iter().for_each(|r| s.insert(*r));
        s
    }

    #[test]
    fn written_ledger_reads_back_as_strings_with_every_reason_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut b = LedgerBuilder::new("posts/day=1/part-0.parquet", 7);
        b.push(
            Some("p1"),
            set(&[DropReason::OptedOut, DropReason::PrivateMessage]),
        );
        b.push(None, set(&[DropReason::InvalidRow]));
        b.push(Some("p3"), set(&[DropReason::PiiError]));
        b.push_duplicate("p4", "p0");
        let out = b
            .write(dir.path(), "l.parquet", &WriteOptions::default())
            .expect("write")
            .expect("a file");
        assert_eq!(out.rows, 4);
        let src = crate::ParquetSource::open(&dir.path().join("l.parquet")).expect("open");
        assert_eq!(src.metadata.schema().as_ref(), schema().as_ref());
        // Min/max for every column a reader can prune by; none for the post
        // ids (all distinct) or the lists of reasons (see `PlainColumns`).
        let group = src.metadata.metadata().row_group(0);
        let with_statistics: Vec<String> = group
            .columns()
            .iter()
            .filter(|c| c.statistics().is_some_and(|s| s.min_bytes_opt().is_some()))
            .map(|c| c.column_path().string())
            .collect();
        assert_eq!(
            with_statistics,
            ["reason", "input_file", "input_row_group", "duplicate_of"],
            "columns with min/max"
        );
        let all: Vec<usize> = (0..6).collect();
        let batches: Vec<RecordBatch> = src
            .read_columns(&all)
            .expect("read")
            .map(|x| x.expect("batch"))
            .collect();
        let b = &batches[0];
        let strings = |i: usize| -> Vec<Option<String>> {
            b.column(i)
                .as_string::<i32>()
                .iter()
                .map(|x| x.map(str::to_owned))
                .collect()
        };
        let some = |x: &str| Some(x.to_owned());
        assert_eq!(strings(0), vec![some("p1"), None, some("p3"), some("p4")]);
        assert_eq!(
            strings(1),
            vec![
                some("private_message"),
                some("invalid_row"),
                some("pii_error"),
                some("duplicate")
            ]
        );
        assert_eq!(strings(5), vec![None, None, None, some("p0")]);
        let lists: Vec<Vec<String>> = (0..4)
            .map(|i| {
                let l = b.column(2).as_list::<i32>().value(i);
                l.as_string::<i32>()
                    .iter()
                    .map(|x| x.expect("a reason").to_owned())
                    .collect()
            })
            .collect();
        assert_eq!(
            lists,
            vec![
                vec!["private_message".to_owned(), "opted_out".to_owned()],
                vec!["invalid_row".to_owned()],
                vec!["pii_error".to_owned()],
                vec!["duplicate".to_owned()],
            ]
        );
        assert_eq!(strings(3), vec![some("posts/day=1/part-0.parquet"); 4]);
        let groups = b.column(4).as_primitive::<arrow_array::types::UInt32Type>();
        assert_eq!(groups.values().to_vec(), vec![7, 7, 7, 7]);
        assert_eq!(b.column(1).null_count(), 0);
    }

    #[test]
    fn an_empty_ledger_writes_no_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = LedgerBuilder::new("posts/part-0.parquet", 0);
        assert!(
            b.write(dir.path(), "l.parquet", &WriteOptions::default())
                .expect("write")
                .is_none()
        );
        assert!(!dir.path().join("l.parquet").exists());
    }
}
