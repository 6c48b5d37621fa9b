//! One work unit through the policy: decode the rule columns, evaluate
//! the rules, decode the other columns of the kept rows only, scrub their
//! text, and write them (to the unit's part file, or with dedup to its
//! spool) and the dropped posts to its ledger.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::filter::filter_record_batch;
use optgate_core::{
    DropCounts, DropReason, IdColumn, IdKey, Policy, ReasonSet, SideTables, StrColumn, country_str,
    evaluate_posts_with_regions, keep_mask,
};
use optgate_manifest::OutputFile;
use optgate_pii::{EntityCounts, Scrubbing, TextScrubber};
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};

use crate::dedup::{KeySpill, Spool, Spooled};
use crate::error::{IoError, Result};
use crate::ledger::LedgerBuilder;
use crate::posts::{BATCH_ROWS, CHUNK_ROWS, PostsFile, PostsPlan, WorkUnit};
use crate::read::projected_position;
use crate::write::{PartWriter, WriteOptions};

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
    /// With exact dedup, for a unit taken from the previous output: what it
    /// held before the global phase ([`crate::incremental::reuse_unit`]).
    pub reused: Option<crate::incremental::ReusedKeys>,
}

/// The part file name of a unit: stable, so reruns produce the same names.
pub fn part_name(unit: &WorkUnit) -> String {
    format!("part-{:05}-{:05}.parquet", unit.file, unit.row_group)
}

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
            runs: spill.runs(),
            kept: spill.kept_path(&name),
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
        dedup: keys,
        ..
    } = out;
    let kept = keys.map(|k| {
        let near = k.spill.near_layout().zip(k.spill.kept_signatures(k.unit));
        (k.kept, near)
    });
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
            let mut spooled = spool.finish()?;
            if let Some((path, near)) = kept.filter(|(k, _)| k.exists()) {
                spooled.keys = Some(path);
                spooled.near = near;
            }
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
        reused: None,
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
    /// The records' bytes on their way to the spill.
    runs: crate::dedup::Runs,
    /// Where the unit's keys are kept in order, if the spill keeps them.
    kept: PathBuf,
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
        self.spill.push_batch(
            &mut self.runs,
            &ids,
            batch.column(created_index),
            &text,
            self.unit,
            written,
            &mut self.scratch,
        );
        Ok(())
    }

    /// Hands the records to the spill.
    fn flush(&mut self) -> Result<()> {
        self.spill.write_runs(&mut self.runs, self.unit)?;
        self.spill.append_kept(&mut self.runs, &self.kept)
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
