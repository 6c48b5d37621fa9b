//! Each unit's spool (its kept posts, scrubbed, in Arrow IPC) and its part
//! written from it without its losers, with the ledger of its duplicates.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::{BooleanArray, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, SchemaRef};
use arrow_select::filter::filter_record_batch;
use optgate_manifest::OutputFile;
use optgate_pii::EntityCounts;

use crate::error::{IoError, Result};
use crate::ledger::LedgerBuilder;
use crate::posts::{PostsPlan, WorkUnit};
use crate::unit::{UNIT_INPUT_KEY, UNIT_PII_KEY, encode_unit_input, encode_unit_pii, part_name};
use crate::write::{PartWriter, WriteOptions};

use super::*;

/// A unit's kept posts, scrubbed, held until the global phase has run.
pub struct Spool {
    path: PathBuf,
    writer: StreamWriter<BufWriter<std::fs::File>>,
    /// Rows written so far.
    pub rows: u64,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("path", &self.path).finish()
    }
}

/// A finished spool: its file and rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub path: PathBuf,
    pub rows: u64,
    /// The raw keys of its rows, in order, when its keys file is to be
    /// written ([`KeySpill::kept_path`]).
    pub keys: Option<PathBuf>,
    /// In near mode, the layout of the keys file's signatures and bands,
    /// and the unit's signature file ([`KeySpill::kept_signatures`]).
    pub near: Option<(crate::keys::NearLayout, PathBuf)>,
}

fn ipc_write_err(path: &Path) -> impl Fn(arrow_schema::ArrowError) -> IoError + '_ {
    move |e| IoError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

impl Spool {
    /// Creates `path` for batches of `schema` (dictionaries may change from
    /// batch to batch: a stream, not a file, holds them).
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<Spool> {
        let file = std::fs::File::create(path).map_err(write_err(path))?;
        let writer = StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema)
            .map_err(ipc_write_err(path))?;
        Ok(Spool {
            path: path.to_path_buf(),
            writer,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).map_err(ipc_write_err(&self.path))
    }

    /// Closes the stream. It is not flushed to disk: it lives only as long
    /// as the run, and a crash removes the staging directory that holds it.
    pub fn finish(mut self) -> Result<Spooled> {
        self.writer.finish().map_err(ipc_write_err(&self.path))?;
        self.writer
            .get_mut()
            .flush()
            .map_err(write_err(&self.path))?;
        Ok(Spooled {
            path: self.path,
            rows: self.rows,
            keys: None,
            near: None,
        })
    }
}

/// The rows of a unit's losers (sorted by row), taken out of its batches
/// as they stream by.
pub(super) struct Cut<'a> {
    losers: &'a [Loser],
    /// The next loser to take out.
    next: usize,
    /// Rows seen so far.
    pub(super) row: u64,
}

impl<'a> Cut<'a> {
    pub(super) fn new(losers: &'a [Loser]) -> Cut<'a> {
        Cut {
            losers,
            next: 0,
            row: 0,
        }
    }

    /// `batch`, the rows that follow those seen, without the losers among them.
    pub(super) fn next(
        &mut self,
        batch: RecordBatch,
    ) -> std::result::Result<RecordBatch, ArrowError> {
        let start = self.row;
        let end = start + batch.num_rows() as u64;
        self.row = end;
        let ahead = |c: &Self| c.losers.get(c.next).map(|l| u64::from(l.row));
        if ahead(self).is_none_or(|r| r >= end) {
            return Ok(batch);
        }
        let keep: BooleanArray = (start..end)
            .map(|i| {
                let lose = ahead(self) == Some(i);
                if lose {
                    self.next += 1;
                }
                Some(!lose)
            })
            .collect();
        filter_record_batch(&batch, &keep)
    }

    /// Whether every loser was taken out of `rows` rows in all.
    pub(super) fn done(&self, rows: u64) -> bool {
        self.next == self.losers.len() && self.row == rows
    }
}

/// What writing a unit's spool made.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// The unit's part file; `None` when every post was a duplicate.
    pub output: Option<OutputFile>,
    /// The ledger file of its duplicates, if it had any.
    pub ledger: Option<OutputFile>,
    /// Its keys file, when the spool's keys were kept.
    pub keys: Option<OutputFile>,
    pub removed: u64,
}

/// Writes `unit`'s spool as its zstd part file under `out_dir/data`, without
/// the rows of `losers` (all of this unit, sorted by row), with the unit's
/// scrubbing figures in its footer; the losers to its ledger of
/// duplicates; and, when its keys were kept, its keys file under
/// `out_dir/keys`. The spool and its raw keys are removed.
#[allow(clippy::too_many_arguments)]
pub fn write_unit(
    plan: &PostsPlan,
    unit: &WorkUnit,
    spooled: &Spooled,
    losers: &[Loser],
    pii: &EntityCounts,
    posts_changed: u64,
    out_dir: &Path,
    options: &WriteOptions,
) -> Result<Written> {
    let f = &plan.files[unit.file];
    let path = &spooled.path;
    let read_err = |source| IoError::Read {
        path: path.clone(),
        source,
    };
    let ipc_err = |e: arrow_schema::ArrowError| read_err(std::io::Error::other(e));
    let file = std::fs::File::open(path).map_err(read_err)?;
    let reader =
        StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None).map_err(ipc_err)?;
    let name = part_name(unit);
    let footer = unit_footer(plan, unit, pii, posts_changed);
    let mut writer: Option<PartWriter> = None;
    let mut cut = Cut::new(losers);
    for batch in reader {
        let batch = cut.next(batch.map_err(ipc_err)?).map_err(ipc_err)?;
        if batch.num_rows() == 0 {
            continue;
        }
        if writer.is_none() {
            writer = Some(PartWriter::create(
                &out_dir.join("data").join(&name),
                f.schema().clone(),
                options,
                f.plain(),
            )?);
        }
        writer
            .as_mut()
            .expect("the part writer was just created")
            .write(&batch)?;
    }
    if !cut.done(spooled.rows) {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the spool holds {} rows, {} were written to it, and not every duplicate was found in it",
                cut.row, spooled.rows
            ),
        )));
    }
    let output = match writer {
        None => None,
        Some(mut w) => {
            for (k, v) in &footer {
                w.add_metadata(k, v.clone());
            }
            let (rows, bytes, sha256) = w.finish()?;
            Some(OutputFile {
                path: format!("data/{name}"),
                rows,
                bytes,
                sha256,
            })
        }
    };
    std::fs::remove_file(path).map_err(read_err)?;
    let keys = match &spooled.keys {
        None => None,
        Some(raw) => Some(crate::keys::write_raw(
            out_dir,
            &name,
            raw,
            spooled.rows,
            spooled.near.as_ref().map(|(l, p)| (*l, p.as_path())),
            losers,
            &footer,
            options,
        )?),
    };
    let ledger = write_duplicates(&f.rel_path, unit.row_group, losers, out_dir, &name, options)?;
    Ok(Written {
        output,
        ledger,
        keys,
        removed: losers.len() as u64,
    })
}

/// The key-value pairs of a unit's part and keys file: its scrubbing
/// figures and its input.
pub fn unit_footer(
    plan: &PostsPlan,
    unit: &WorkUnit,
    pii: &EntityCounts,
    posts_changed: u64,
) -> [(String, String); 2] {
    let f = &plan.files[unit.file];
    [
        (UNIT_PII_KEY.to_owned(), encode_unit_pii(pii, posts_changed)),
        (
            UNIT_INPUT_KEY.to_owned(),
            encode_unit_input(&f.rel_path, unit.row_group),
        ),
    ]
}

/// The ledger of the duplicates `losers` of the part `name` (made from the
/// input file `input` and its `row_group`): `ledger/dup-<name>`, or nothing
/// when there are none.
pub fn write_duplicates(
    input: &str,
    row_group: usize,
    losers: &[Loser],
    out_dir: &Path,
    name: &str,
    options: &WriteOptions,
) -> Result<Option<OutputFile>> {
    if losers.is_empty() {
        return Ok(None);
    }
    let mut ledger = LedgerBuilder::new(input, row_group);
    for l in losers {
        ledger.push_duplicate(&l.id, &l.survivor);
    }
    ledger.write(&out_dir.join("ledger"), &duplicates_name(name), options)
}

/// The name of the ledger file of the duplicates of the part `name`.
pub fn duplicates_name(name: &str) -> String {
    format!("dup-{name}")
}
