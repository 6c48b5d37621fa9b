//! Reusing a previous run's work for a unit whose input did not change.
//!
//! A unit's part file and ledger file from the previous output are taken as
//! they are (renamed to the unit's current file index) when they are exactly
//! what a new run would write: the input file is unchanged, the policy and the
//! accounts are the same (the caller checks those), the files still have the
//! digests the previous manifest recorded, and none of the unit's authors is a
//! new objector. Its counts come back from the ledger and the part's footer.
//!
//! With deduplication, what the unit kept before deduplication comes back
//! from its keys file ([`crate::keys`]): its posts' keys (and in near mode
//! their signatures and band keys) go to the run's spill as a processed
//! unit's do, so the duplicates found are a full run's. Once they are, the
//! unit is in one of three cases (`CaseOf`): it loses the posts it lost
//! before, to the same survivors (its files are kept); it loses those and
//! more, or to other survivors (its part is written again without the new
//! losers, its ledger of duplicates and keys file anew); or a post it lost
//! before now survives (its survivor is gone), and only its input holds that
//! post's text: the unit is processed again.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use optgate_core::{DropCounts, DropReason, IdColumn, KeySet, ReasonSet};
use optgate_manifest::OutputFile;

use crate::dedup::{KeySpill, Loser};
use crate::error::Result;
use crate::hash::sha256_file;
use crate::keys;
use crate::ledger;
use crate::posts::{PostsPlan, WorkUnit};
use crate::read::ParquetSource;
use crate::sync::{SyncQueue, copy_flushed};
use crate::unit::{
    UNIT_INPUT_KEY, UNIT_PII_KEY, UnitOutcome, decode_unit_input, decode_unit_pii, part_name,
};

/// What a reused unit held before the global phase, with dedup.
#[derive(Debug, Clone)]
pub struct ReusedKeys {
    /// Its keys file, copied into the output.
    pub keys: OutputFile,
    /// Its ledger of duplicates, copied into the output, if it lost any.
    pub duplicates: Option<OutputFile>,
}

/// What becomes of a reused unit once the duplicates are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Case {
    /// The same losers, with the same survivors: its files stand.
    Same,
    /// Every post it lost is lost again; these posts of its part are lost
    /// too (rows of the part, sorted), and its ledger of duplicates and keys
    /// file are written anew.
    LosesMore(Vec<Loser>),
    /// A post it lost now survives: process the unit again.
    Redo,
}

/// The case of a reused unit, made as its keys file's rows stream by (each
/// row's survivor last time, in order), given its losers now (sorted by
/// row, rows numbered as the keys file's).
struct CaseOf<'l> {
    now: std::iter::Peekable<std::slice::Iter<'l, Loser>>,
    more: Vec<Loser>,
    changed: bool,
    redo: bool,
    row: usize,
    /// Rows of the part: the rows that had no survivor, in order.
    part_row: u32,
}

impl<'l> CaseOf<'l> {
    fn new(losers: &'l [Loser]) -> CaseOf<'l> {
        CaseOf {
            now: losers.iter().peekable(),
            more: Vec::new(),
            changed: false,
            redo: false,
            row: 0,
            part_row: 0,
        }
    }

    fn push(&mut self, before: Option<&str>) {
        let row = self.row;
        self.row += 1;
        if self.redo {
            return;
        }
        let lost_now = self.now.next_if(|l| l.row as usize == row);
        match (before, lost_now) {
            (Some(_), None) => self.redo = true,
            (Some(before), Some(l)) => self.changed |= before != l.survivor,
            (None, Some(l)) => self.more.push(Loser {
                row: self.part_row,
                ..l.clone()
            }),
            (None, None) => {}
        }
        if before.is_none() {
            self.part_row += 1;
        }
    }

    fn finish(mut self) -> Case {
        // A loser past the posts: not what the file said; start again.
        if self.redo || self.now.next().is_some() {
            Case::Redo
        } else if self.more.is_empty() && !self.changed {
            Case::Same
        } else {
            Case::LosesMore(self.more)
        }
    }
}

/// What the previous output holds, by path.
#[derive(Debug)]
pub struct PreviousOutput<'a> {
    pub dir: &'a Path,
    /// Recorded data and ledger files by relative path.
    pub files: HashMap<&'a str, &'a OutputFile>,
}

/// Whether any row of the unit's input is by an author in `set`.
fn has_author_in(plan: &PostsPlan, unit: &WorkUnit, set: &KeySet) -> Result<bool> {
    let f = &plan.files[unit.file];
    let err = f.decode_error::<arrow_schema::ArrowError>(unit.row_group);
    let reader = f.row_group_reader(unit.row_group, Some(&[f.author_index()]), None)?;
    for batch in reader {
        let batch = batch.map_err(&err)?;
        if let Some(ids) = IdColumn::new(batch.column(0))
            && (0..batch.num_rows()).any(|i| ids.key(i).is_some_and(|k| set.contains(k)))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Copies `rel` of the previous output to `rel_new` in `out_dir` if it has
/// the recorded digest; the copy's record. The copy is flushed to disk (by
/// `sync` when given) before the output is verified and published, as the
/// files a run writes itself are.
fn take(
    prev: &PreviousOutput<'_>,
    rel: &str,
    out_dir: &Path,
    rel_new: &str,
    sync: Option<&SyncQueue>,
) -> Result<Option<OutputFile>> {
    let Some(recorded) = prev.files.get(rel) else {
        return Ok(None);
    };
    let from = prev.dir.join(rel);
    let (sha, bytes) = sha256_file(&from)?;
    if sha != recorded.sha256 || bytes != recorded.bytes {
        return Ok(None);
    }
    copy_flushed(&from, &out_dir.join(rel_new), sync)?;
    Ok(Some(OutputFile {
        path: rel_new.to_owned(),
        rows: recorded.rows,
        bytes,
        sha256: sha,
    }))
}

/// The unit's outcome from the previous output, or `None` when it must be
/// processed again. `prev_file` is the input file's index in the previous
/// run; `new_objectors` the ids added to the registry since; `sync` where
/// the copies are handed to be flushed (else they are flushed here). With
/// `dedup` (the run's spill and the unit's index in the plan), the unit's
/// keys are added to the spill, and its outcome counts the posts it kept
/// before deduplication; in near mode its keys file must hold the
/// signatures and band keys of the spill's layout, or the unit is processed
/// again.
#[allow(clippy::too_many_arguments)]
pub fn reuse_unit(
    plan: &PostsPlan,
    unit: &WorkUnit,
    prev: &PreviousOutput<'_>,
    prev_file: usize,
    new_objectors: Option<&KeySet>,
    dedup: Option<(&KeySpill, usize)>,
    out_dir: &Path,
    sync: Option<&SyncQueue>,
) -> Result<Option<UnitOutcome>> {
    if let Some(set) = new_objectors
        && !set.is_empty()
        && has_author_in(plan, unit, set)?
    {
        return Ok(None);
    }
    let names = Names {
        old: part_name(&WorkUnit {
            file: prev_file,
            ..*unit
        }),
        new: part_name(unit),
    };
    let input = (plan.files[unit.file].rel_path.clone(), unit.row_group);
    let layout = dedup.map(|(spill, _)| spill.near_layout());
    let taken = take_unit(unit, &input, prev, &names, layout, out_dir, sync).and_then(|out| {
        // The posts of its keys file, a batch at a time, to the spill.
        if let (Some(out), Some((spill, index))) = (&out, dedup)
            && let Some(reused) = &out.reused
        {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let mut runs = spill.runs();
            let mut row = 0u32;
            keys::for_each(&out_dir.join(&reused.keys.path), |keyed, _| {
                spill.push_kept(&mut runs, keyed, index, row);
                row += 1;
                Ok(())
            })?;
            spill.write_runs(&mut runs, index)?;
        }
        Ok(out)
    });
    match taken {
        Ok(Some(out)) => Ok(Some(out)),
        other => {
            // Not reusable, or an error: none of its copies is left behind.
            for path in rel::all(&names.new) {
                let _ = fs::remove_file(out_dir.join(path));
            }
            other.map(|_| None)
        }
    }
}

/// A unit's part name in the previous output and in this one.
struct Names {
    old: String,
    new: String,
}

/// The paths, in an output, of the files of the unit whose part is `name`.
mod rel {
    pub(super) fn data(name: &str) -> String {
        format!("data/{name}")
    }

    pub(super) fn ledger(name: &str) -> String {
        format!("ledger/{name}")
    }

    pub(super) fn duplicates(name: &str) -> String {
        format!("ledger/{}", crate::dedup::duplicates_name(name))
    }

    pub(super) fn keys(name: &str) -> String {
        format!("{}/{name}", crate::keys::DIR)
    }

    /// Every file of the unit.
    pub(super) fn all(name: &str) -> [String; 4] {
        [data(name), ledger(name), duplicates(name), keys(name)]
    }
}

/// The scrubbing figures in the footer of `path` (a part or a keys file),
/// if its footer says it was made from `input` (file and row group): a file
/// of another unit is never taken for this one.
fn footer_pii(
    path: &Path,
    input: &(String, usize),
) -> Result<Option<(optgate_pii::EntityCounts, u64)>> {
    let footer = crate::dedup::optgate_footer(path)?;
    let get = |key: &str| {
        footer
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if get(UNIT_INPUT_KEY).and_then(decode_unit_input).as_ref() != Some(input) {
        return Ok(None);
    }
    Ok(get(UNIT_PII_KEY).and_then(decode_unit_pii))
}

/// Copies the unit's files from the previous output; its outcome (with
/// `dedup`, the near layout its keys file must have if any, its keys file
/// in `reused`). `None` when a file is missing or differs from what the
/// previous manifest recorded.
#[allow(clippy::option_option)]
fn take_unit(
    unit: &WorkUnit,
    input: &(String, usize),
    prev: &PreviousOutput<'_>,
    names: &Names,
    dedup: Option<Option<keys::NearLayout>>,
    out_dir: &Path,
    sync: Option<&SyncQueue>,
) -> Result<Option<UnitOutcome>> {
    let (old, new) = (&names.old, &names.new);
    let mut out = UnitOutcome::default();

    // With dedup, the posts kept before it (`rows`), and those it removed.
    let mut survivors = None;
    if let Some(layout) = dedup {
        let has = |rel: &str| prev.files.contains_key(rel);
        if has(&rel::keys(old)) {
            let Some(file) = take(prev, &rel::keys(old), out_dir, &rel::keys(new), sync)? else {
                return Ok(None);
            };
            let path = out_dir.join(&file.path);
            if keys::layout(&path)? != layout {
                // Signatures of other parameters, or none: not this run's.
                return Ok(None);
            }
            let Some((pii, changed)) = footer_pii(&path, input)? else {
                return Ok(None);
            };
            let (rows, survived) = keys::rows_and_kept(&path)?;
            let lost = rows - survived;
            let duplicates = if lost == 0 {
                None
            } else {
                match take(
                    prev,
                    &rel::duplicates(old),
                    out_dir,
                    &rel::duplicates(new),
                    sync,
                )? {
                    Some(d) if d.rows == lost => Some(d),
                    _ => return Ok(None),
                }
            };
            out.counts.rows_in += rows;
            out.counts.kept += rows;
            out.pii = pii;
            out.posts_changed = changed;
            out.reused = Some(ReusedKeys {
                keys: file,
                duplicates,
            });
            survivors = Some(survived);
        } else if has(&rel::data(old)) {
            // Kept posts and no keys: an output made without them.
            return Ok(None);
        }
    }

    // Kept posts and their scrubbing figures.
    if prev.files.contains_key(rel::data(old).as_str()) {
        let Some((pii, changed)) = footer_pii(&prev.dir.join(rel::data(old)), input)? else {
            return Ok(None);
        };
        let Some(file) = take(prev, &rel::data(old), out_dir, &rel::data(new), sync)? else {
            return Ok(None);
        };
        match survivors {
            // The part holds the posts that survived.
            Some(survived) => {
                if file.rows != survived {
                    return Ok(None);
                }
            }
            None => {
                out.counts.rows_in += file.rows;
                out.counts.kept += file.rows;
                out.pii = pii;
                out.posts_changed = changed;
            }
        }
        out.output = Some(file);
    } else if survivors.is_some_and(|survived| survived > 0) {
        return Ok(None);
    }

    // Dropped posts, rule by rule, from the ledger.
    if prev.files.contains_key(rel::ledger(old).as_str()) {
        let mut counts = DropCounts::default();
        let src = ParquetSource::open(&prev.dir.join(rel::ledger(old)))?;
        let idx = src.column("ledger", "reasons", ledger::REASONS)?;
        for batch in src.read_columns(&[idx])? {
            let batch = batch?;
            let Some(lists) = batch.column(0).as_list_opt::<i32>() else {
                return Ok(None);
            };
            for i in 0..lists.len() {
                let names = lists.value(i);
                let names = names.as_string::<i32>();
                let mut set = ReasonSet::EMPTY;
                for n in names.iter().flatten() {
                    match DropReason::ALL.iter().find(|r| r.name() == n) {
                        Some(r) => set.insert(*r),
                        None => return Ok(None),
                    }
                }
                if set.is_empty() {
                    return Ok(None);
                }
                counts.record(set);
            }
        }
        let Some(file) = take(prev, &rel::ledger(old), out_dir, &rel::ledger(new), sync)? else {
            return Ok(None);
        };
        out.counts.merge(&counts);
        out.ledger = Some(file);
    }
    if out.counts.rows_in != unit.rows {
        // Not the whole unit: something is missing; process it again.
        return Ok(None);
    }
    Ok(Some(out))
}

/// Removes every file of `unit` from the output being made (before it is
/// processed again).
pub fn remove_unit_files(out_dir: &Path, unit: &WorkUnit) -> Result<()> {
    for rel in rel::all(&part_name(unit)) {
        let path = out_dir.join(rel);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(crate::error::IoError::Write { path, source: e });
            }
            _ => {}
        }
    }
    Ok(())
}

/// A reused unit's files once the duplicates are found.
#[derive(Debug, Clone)]
pub enum Finished {
    /// Its part (`None` when none of its posts is left), ledger of
    /// duplicates and keys file; `rewritten` when its part was written again.
    Files {
        output: Option<OutputFile>,
        duplicates: Option<OutputFile>,
        keys: OutputFile,
        rewritten: bool,
    },
    /// A post it lost now survives: it must be processed again.
    Redo,
}

/// Brings a reused unit's files (`output`, its part as copied, and
/// `reused`) in line with its `losers` now (sorted by row, rows numbered as
/// its keys file's), per `CaseOf`. `pii` and `posts_changed`
/// are its scrubbing figures, for the footer of a keys file written anew.
#[allow(clippy::too_many_arguments)]
pub fn finish_reused(
    plan: &PostsPlan,
    unit: &WorkUnit,
    reused: ReusedKeys,
    output: Option<OutputFile>,
    losers: &[Loser],
    pii: &optgate_pii::EntityCounts,
    posts_changed: u64,
    cols: &optgate_core::policy::PostColumnNames,
    out_dir: &Path,
    options: &crate::write::WriteOptions,
) -> Result<Finished> {
    // Read again, a batch at a time, rather than held from `reuse_unit`:
    // holding every reused unit's posts until the duplicates are found
    // would grow with the run, and one unit's with its row group.
    let keys_path = out_dir.join(&reused.keys.path);
    let mut case = CaseOf::new(losers);
    keys::for_each_survivor(&keys_path, |before| case.push(before))?;
    let more = match case.finish() {
        Case::Redo => return Ok(Finished::Redo),
        Case::Same => {
            return Ok(Finished::Files {
                output,
                duplicates: reused.duplicates,
                keys: reused.keys,
                rewritten: false,
            });
        }
        Case::LosesMore(more) => more,
    };
    let rewritten = !more.is_empty();
    let output = match output {
        Some(part) if rewritten => {
            crate::dedup::rewrite_part(out_dir, &part, &more, cols, options)?.0
        }
        Some(part) => Some(part),
        None if rewritten => {
            return Err(crate::error::IoError::Read {
                path: keys_path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "posts of the part lost, and the unit has no part",
                ),
            });
        }
        None => None,
    };
    let f = &plan.files[unit.file];
    let name = part_name(unit);
    if let Some(d) = &reused.duplicates {
        let path = out_dir.join(&d.path);
        fs::remove_file(&path).map_err(|source| crate::error::IoError::Write { path, source })?;
    }
    let duplicates = crate::dedup::write_duplicates(
        &f.rel_path,
        unit.row_group,
        losers,
        out_dir,
        &name,
        options,
    )?;
    let footer = crate::dedup::unit_footer(plan, unit, pii, posts_changed);
    let layout = keys::layout(&keys_path)?;
    let keys = keys::rewrite_file(out_dir, &name, &keys_path, layout, losers, &footer, options)?;
    Ok(Finished::Files {
        output,
        duplicates,
        keys,
        rewritten,
    })
}
