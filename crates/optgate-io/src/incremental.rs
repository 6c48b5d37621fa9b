//! Reusing a previous run's work for a unit whose input did not change.
//!
//! A unit's part file and ledger file from the previous output are taken as
//! they are (renamed to the unit's current file index) when they are exactly
//! what a new run would write: the input file is unchanged, the policy and the
//! accounts are the same (the caller checks those), the files still have the
//! digests the previous manifest recorded, and none of the unit's authors is a
//! new objector. Its counts come back from the ledger and the part's footer.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use optgate_core::{DropCounts, DropReason, IdColumn, KeySet, ReasonSet};
use optgate_manifest::OutputFile;

use crate::error::Result;
use crate::hash::sha256_file;
use crate::ledger;
use crate::posts::{PostsPlan, WorkUnit};
use crate::read::ParquetSource;
use crate::sync::{SyncQueue, copy_flushed};
use crate::unit::{UNIT_PII_KEY, UnitOutcome, decode_unit_pii, part_name};

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
/// the copies are handed to be flushed (else they are flushed here).
pub fn reuse_unit(
    plan: &PostsPlan,
    unit: &WorkUnit,
    prev: &PreviousOutput<'_>,
    prev_file: usize,
    new_objectors: Option<&KeySet>,
    out_dir: &Path,
    sync: Option<&SyncQueue>,
) -> Result<Option<UnitOutcome>> {
    if let Some(set) = new_objectors
        && !set.is_empty()
        && has_author_in(plan, unit, set)?
    {
        return Ok(None);
    }
    let old_name = part_name(&WorkUnit {
        file: prev_file,
        ..*unit
    });
    let new_name = part_name(unit);
    let (old_data, old_ledger) = (format!("data/{old_name}"), format!("ledger/{old_name}"));
    let mut out = UnitOutcome::default();

    // Kept posts and their scrubbing figures.
    if prev.files.contains_key(old_data.as_str()) {
        let src = ParquetSource::open(&prev.dir.join(&old_data))?;
        let Some((pii, changed)) = src
            .metadata
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == UNIT_PII_KEY))
            .and_then(|k| k.value.as_deref())
            .and_then(decode_unit_pii)
        else {
            return Ok(None);
        };
        let Some(file) = take(prev, &old_data, out_dir, &format!("data/{new_name}"), sync)? else {
            return Ok(None);
        };
        out.counts.rows_in += file.rows;
        out.counts.kept += file.rows;
        out.pii = pii;
        out.posts_changed = changed;
        out.output = Some(file);
    }

    // Dropped posts, rule by rule, from the ledger.
    if prev.files.contains_key(old_ledger.as_str()) {
        let mut counts = DropCounts::default();
        let src = ParquetSource::open(&prev.dir.join(&old_ledger))?;
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
        let Some(file) = take(
            prev,
            &old_ledger,
            out_dir,
            &format!("ledger/{new_name}"),
            sync,
        )?
        else {
            return Ok(None);
        };
        out.counts.merge(&counts);
        out.ledger = Some(file);
    }
    if out.counts.rows_in != unit.rows {
        // Not the whole unit: something is missing; process it again.
        for f in [&out.output, &out.ledger].into_iter().flatten() {
            let _ = fs::remove_file(out_dir.join(&f.path));
        }
        return Ok(None);
    }
    Ok(Some(out))
}
