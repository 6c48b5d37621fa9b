//! The benchmark floor: a unit decoded and re-encoded with the run's own
//! reader, writer and settings, and nothing else (`optgate bench-floor`).

use std::path::Path;

use arrow_schema::SchemaRef;
use optgate_core::StrColumn;

use crate::error::Result;
use crate::posts::{PostsPlan, WorkUnit};
use crate::unit::part_name;
use crate::write::{PartWriter, WriteOptions};

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
