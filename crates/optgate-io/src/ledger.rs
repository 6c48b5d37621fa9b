//! The removal ledger: one row per dropped post, with the post id, the first
//! rule it failed, every rule it failed and where it came from. No text and no
//! other personal data: the ledger answers "why is this post not in the
//! dataset" and reconciles with the manifest's counts.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use optgate_core::ReasonSet;
use optgate_manifest::OutputFile;

use crate::error::Result;
use crate::posts::{PartWriter, PlainColumns, WriteOptions};

/// Column names of a ledger file.
pub const POST_ID: &str = "post_id";
pub const REASON: &str = "reason";
pub const REASONS: &str = "reasons";
pub const INPUT_FILE: &str = "input_file";
pub const INPUT_ROW_GROUP: &str = "input_row_group";

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
    ]))
}

/// The ledger rows of one work unit, built in memory and written at its end.
#[derive(Debug)]
pub struct LedgerBuilder {
    input_file: String,
    row_group: u32,
    post_id: StringBuilder,
    reason: StringBuilder,
    reasons: ListBuilder<StringBuilder>,
    rows: usize,
}

impl LedgerBuilder {
    pub fn new(input_file: &str, row_group: usize) -> LedgerBuilder {
        LedgerBuilder {
            input_file: input_file.to_owned(),
            row_group: u32::try_from(row_group).unwrap_or(u32::MAX),
            post_id: StringBuilder::new(),
            reason: StringBuilder::new(),
            reasons: ListBuilder::new(StringBuilder::new()),
            rows: 0,
        }
    }

    /// Records a dropped post. `reasons` must not be empty.
    pub fn push(&mut self, post_id: Option<&str>, reasons: ReasonSet) {
        let first = reasons.first().expect("a dropped post failed a rule");
        self.post_id.append_option(post_id);
        self.reason.append_value(first.name());
        for r in reasons.iter() {
            self.reasons.values().append_value(r.name());
        }
        self.reasons.append(true);
        self.rows += 1;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes the rows to `dir/name`; nothing is written for an empty ledger.
    pub fn write(
        mut self,
        dir: &Path,
        name: &str,
        options: &WriteOptions,
    ) -> Result<Option<OutputFile>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let mut file = StringBuilder::new();
        let mut group = UInt32Builder::new();
        for _ in 0..self.rows {
            file.append_value(&self.input_file);
            group.append_value(self.row_group);
        }
        let schema = schema();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.post_id.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.reasons.finish()),
            Arc::new(file.finish()),
            Arc::new(group.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .expect("ledger columns match the ledger schema");
        let path = dir.join(name);
        let plain = PlainColumns::new(&schema, &[POST_ID], &[]);
        let mut writer = PartWriter::create(&path, schema, options, &plain)?;
        writer.write(&batch)?;
        let (rows, bytes, sha256) = writer.finish()?;
        Ok(Some(OutputFile {
            path: format!("ledger/{name}"),
            rows,
            bytes,
            sha256,
        }))
    }
}
