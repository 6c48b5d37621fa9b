//! The global phase (with `[dedup]`): once every unit is processed, the
//! duplicates across all of them are found (`optgate_io::dedup`) and each
//! unit's spool is written as its part without its losers; a reused unit
//! of an incremental run has its files brought in line, or is processed
//! again when a post it lost now survives.

use std::path::Path;
use std::time::Instant;

use anyhow::anyhow;
use optgate_core::DropReason;
use optgate_core::near::NearParams;
use optgate_core::policy::PostColumnNames;
use optgate_io::dedup::{KeySpill, Loser, Written, write_unit};
use optgate_io::incremental::{Finished, finish_reused, remove_unit_files};
use optgate_io::{IoError, PostsPlan, UnitOutcome, WorkUnit, WriteOptions};
use optgate_manifest::OutputFile;
use rayon::prelude::*;
use tracing::info;

use super::millis;
use crate::exit::Failure;
use crate::publish::check_interrupted;

/// A unit processed: filtered, scrubbed and spooled, its keys in the spill
/// given.
pub(super) type Process<'a> =
    dyn Fn(&WorkUnit, Option<(&KeySpill, usize)>) -> Result<UnitOutcome, IoError> + Sync + 'a;

/// What every step of the global phase reads: the plan, the posts' column
/// names, the staging directory, how parts are written, and in near mode
/// the parameters (a unit processed again keeps its signatures for its
/// keys file).
pub(super) struct Phase<'a> {
    pub plan: &'a PostsPlan,
    pub cols: &'a PostColumnNames,
    pub out_dir: &'a Path,
    pub options: &'a WriteOptions,
    pub near: Option<NearParams>,
}

/// Removes the duplicates that `spill` holds from the units' `outcomes`
/// (one per unit of the plan, in order), processing again with `process`
/// the reused units that must be.
pub(super) fn deduplicate(
    phase: &Phase<'_>,
    spill: KeySpill,
    outcomes: &mut [UnitOutcome],
    process: &Process<'_>,
) -> Result<Deduplicated, Failure> {
    let Phase { plan, out_dir, .. } = *phase;
    let t_dedup = Instant::now();
    let mut done = remove_duplicates(phase, spill, outcomes)?;
    if !done.redo.is_empty() {
        // Reused units that must be processed again: a post they lost now
        // survives, and only their input holds its text.
        let redo = std::mem::take(&mut done.redo);
        let rows: u64 = redo.iter().map(|(i, _)| plan.units[*i].rows).sum();
        // Its keys only, for its keys file: its duplicates are found already.
        let again = KeySpill::create(out_dir, rows, phase.near)?;
        let redone: Vec<(usize, UnitOutcome, Written)> = redo
            .into_par_iter()
            .map(|(index, losers)| {
                check_interrupted()?;
                let unit = &plan.units[index];
                remove_unit_files(out_dir, unit)?;
                let mut o = process(unit, Some((&again, index)))?;
                let w = write_spooled(phase, unit, &mut o, &losers)?;
                Ok((index, o, w))
            })
            .collect::<Result<_, Failure>>()?;
        done.redone = redone.len() as u64;
        for (index, o, w) in redone {
            outcomes[index] = o;
            done.ledgers[index] = w.ledger;
            done.keys[index] = w.keys;
        }
    }
    done.ms = Some(millis(t_dedup));
    info!(
        removed = outcomes
            .iter()
            .map(|o| o.counts.first_failing[DropReason::Duplicate as usize])
            .sum::<u64>(),
        clusters = done.clusters,
        ms = done.ms,
        "Removed the duplicates."
    );
    Ok(done)
}

/// What the global phase made, per unit of the plan.
pub(super) struct Deduplicated {
    /// Each unit's ledger of duplicates and keys file.
    pub ledgers: Vec<Option<OutputFile>>,
    pub keys: Vec<Option<OutputFile>>,
    pub clusters: u64,
    pub candidates: u64,
    /// Reused units whose part was written again without new duplicates.
    pub rewritten: u64,
    /// Reused units processed again, after [`Deduplicated::redo`].
    pub redone: u64,
    /// Reused units to process again, with their losers: a post each lost
    /// last time now survives.
    pub redo: Vec<(usize, Vec<Loser>)>,
    /// How long the phase took, in milliseconds.
    pub ms: Option<u64>,
}

impl Deduplicated {
    pub fn none(units: usize) -> Deduplicated {
        Deduplicated {
            ledgers: vec![None; units],
            keys: vec![None; units],
            clusters: 0,
            candidates: 0,
            rewritten: 0,
            redone: 0,
            redo: Vec::new(),
            ms: None,
        }
    }
}

/// What the global phase did with one unit: its ledger of duplicates and
/// keys file, whether its reused part was written again, and, for a reused
/// unit to process again, its losers.
#[derive(Default)]
struct UnitDone {
    ledger: Option<OutputFile>,
    keys: Option<OutputFile>,
    rewritten: bool,
    redo: Option<Vec<Loser>>,
}

/// Writes the spool of the processed unit `o` without its `losers`, and
/// counts them out of its kept posts.
fn write_spooled(
    phase: &Phase<'_>,
    unit: &WorkUnit,
    o: &mut UnitOutcome,
    losers: &[Loser],
) -> Result<Written, Failure> {
    let Some(spooled) = o.spooled.take() else {
        if !losers.is_empty() {
            return Err(Failure::runtime(anyhow!(
                "internal check failed: duplicates found in a unit that kept no post"
            )));
        }
        return Ok(Written::default());
    };
    let w = write_unit(
        phase.plan,
        unit,
        &spooled,
        losers,
        &o.pii,
        o.posts_changed,
        phase.out_dir,
        phase.options,
    )?;
    o.output = w.output.clone();
    o.counts.drop_kept_n(DropReason::Duplicate, w.removed);
    Ok(w)
}

/// Resolves the spill's clusters, then, units in parallel, writes each
/// processed unit's spool (of `outcomes`, one per unit of the plan, in order)
/// as its part file without its losers, and brings each reused unit's files
/// in line with its losers ([`finish_reused`]), or leaves it to be
/// processed again ([`Deduplicated::redo`]).
fn remove_duplicates(
    phase: &Phase<'_>,
    spill: KeySpill,
    outcomes: &mut [UnitOutcome],
) -> Result<Deduplicated, Failure> {
    let plan = phase.plan;
    let units = plan.units.len();
    let resolution = spill.resolve(units)?;
    resolution.refuse_repeated(|u| match plan.units.get(u as usize) {
        Some(unit) => format!(
            "{} row group {}",
            plan.files[unit.file].rel_path, unit.row_group
        ),
        None => format!("unit {u}"),
    })?;
    let mut done = Deduplicated::none(0);
    // A range of units at a time, its losers read from disk.
    for (r, range) in resolution.ranges().into_iter().enumerate() {
        let losers = resolution.losers_in(r)?;
        let by_unit = optgate_io::dedup::by_unit(&losers, range.clone());
        let written = outcomes[range.clone()]
            .par_iter_mut()
            .zip(&plan.units[range.clone()])
            .zip(by_unit)
            .map(|((o, unit), losers)| -> Result<UnitDone, Failure> {
                check_interrupted()?;
                let Some(reused) = o.reused.take() else {
                    let w = write_spooled(phase, unit, o, losers)?;
                    return Ok(UnitDone {
                        ledger: w.ledger,
                        keys: w.keys,
                        ..UnitDone::default()
                    });
                };
                let finished = finish_reused(
                    plan,
                    unit,
                    reused,
                    o.output.take(),
                    losers,
                    &o.pii,
                    o.posts_changed,
                    phase.cols,
                    phase.out_dir,
                    phase.options,
                )?;
                Ok(match finished {
                    Finished::Redo => UnitDone {
                        redo: Some(losers.to_vec()),
                        ..UnitDone::default()
                    },
                    Finished::Files {
                        output,
                        duplicates,
                        keys,
                        rewritten,
                    } => {
                        o.output = output;
                        o.counts
                            .drop_kept_n(DropReason::Duplicate, losers.len() as u64);
                        UnitDone {
                            ledger: duplicates,
                            keys: Some(keys),
                            rewritten,
                            redo: None,
                        }
                    }
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        for (index, d) in range.zip(written) {
            if let Some(losers) = d.redo {
                done.redo.push((index, losers));
            }
            done.rewritten += u64::from(d.rewritten);
            done.ledgers.push(d.ledger);
            done.keys.push(d.keys);
        }
    }
    done.clusters = resolution.clusters;
    done.candidates = resolution.candidates;
    Ok(done)
}
