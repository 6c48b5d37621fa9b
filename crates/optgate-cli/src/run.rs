//! `optgate run`, its phases in order, each in a module named for it:
//!
//! | phase | where |
//! |---|---|
//! | plan: list the posts files, read their footers, check their schemas | `optgate_io::posts` ([`plan_posts`]) |
//! | load the side tables (accounts, registries) | `optgate_io::side_tables` |
//! | per work unit, in parallel: rules, then scrub the kept posts' text | `optgate_io::unit` ([`process_unit`]) |
//! | deduplicate across every unit (with `[dedup]`) | `optgate_io::dedup` ([`remove_duplicates`]) |
//! | write the part files (in the unit, or from its spool after dedup) | `optgate_io::write` |
//! | merge the counts in unit order, so that scheduling never changes the result | here |
//! | verify the written output, without trusting the run | `optgate_io::verify` |
//! | manifest, then atomic publish | here, `crate::publish` |
//!
//! A sharded run stops short of deduplication, which `optgate merge`
//! (`crate::merge`) does over every shard; an incremental one reuses the
//! previous output's parts (`optgate_io::incremental`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use optgate_core::policy::PostColumnNames;
use optgate_core::{ConsentMode, DedupMode, DropCounts, DropReason, SideTables, prefilter_pays};
use optgate_io::dedup::{KeySpill, Loser, Written, write_unit};
use optgate_io::incremental::{
    Finished, PreviousOutput, finish_reused, remove_unit_files, reuse_unit,
};
use optgate_io::read::rfc3339_micros;
use optgate_io::registry::{OPTOUTS_KEYS, diff, first_objections, read_keys, write_keys};
use optgate_io::side_tables::{
    check_accounts, check_consents, check_optouts, load_accounts, load_consents, load_optouts,
};
use optgate_io::verify::{Claim, Finding, verify_output};
use optgate_io::{IoError, UnitOutcome, WriteOptions, plan_posts, process_unit, sha256_file};
use optgate_manifest::{
    Counts, DedupRecord, Incremental, InputFile, Inputs, MANIFEST_VERSION, Manifest,
    ObjectionLatency, OutputFile, PiiRecord, PolicyRecord, PostsLayout, RegistryCheck, RunInfo,
    Shard, Timings, Tool, Verification, canonical_json_pretty, canonical_sha256,
};
use optgate_pii::{Entity, EntityCounts, Scanner};
use rayon::prelude::*;
use tracing::{debug, info};

use crate::RunArgs;
use crate::config::LoadedConfig;
use crate::dataset::Dataset;
use crate::exit::Failure;
use crate::progress::posts_bar;
use crate::publish::{OutLock, Staging, check_interrupted, out_parts, publish};

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub(crate) fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

fn required<'a>(
    path: &'a Option<PathBuf>,
    what: &str,
    flag: &str,
    key: &str,
) -> Result<&'a PathBuf, Failure> {
    path.as_ref().ok_or_else(|| {
        Failure::input(anyhow!(
            "no {what} given: pass {flag} or set inputs.{key} in the config"
        ))
    })
}

/// A run id: 16 hex digits from the start time and the process id.
pub fn new_run_id(started_micros: i64) -> String {
    format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(format!("{started_micros}-{}", std::process::id()).as_bytes())
    )
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let started_at = now_micros();
    let run_id = new_run_id(started_at);
    let result = run_inner(args, &run_id, started_at);
    if let Some(path) = &args.openlineage {
        let event = crate::openlineage::run_event(
            &run_id,
            started_at,
            &args.out,
            result.as_ref().ok(),
            result.as_ref().err(),
        );
        let text = serde_json::to_string_pretty(&event).map_err(Failure::runtime)?;
        if let Err(e) = crate::publish::write_private(path, format!("{text}\n").as_bytes()) {
            let e = Failure::runtime(anyhow::Error::new(e).context(format!(
                "{}: cannot write the OpenLineage event",
                path.display()
            )));
            // The run's own failure, if any, is what the caller must see first.
            return Err(result.err().unwrap_or(e));
        }
    }
    result.map(|_| ())
}

fn run_inner(args: &RunArgs, run_id: &str, started_at: i64) -> Result<Manifest, Failure> {
    let started = Instant::now();
    let run_id = run_id.to_owned();

    // Everything that can be wrong with the inputs is checked before any
    // output directory exists.
    let loaded = LoadedConfig::load_or_default(args.config.as_deref())?;
    let (config, policy) = (&loaded.config, &loaded.policy);
    let mut inputs = config.inputs.clone();
    for (flag, slot) in [
        (&args.posts, &mut inputs.posts),
        (&args.accounts, &mut inputs.accounts),
        (&args.optouts, &mut inputs.optouts),
        (&args.consents, &mut inputs.consents),
    ] {
        if flag.is_some() {
            slot.clone_from(flag);
        }
    }
    let posts_dir = required(&inputs.posts, "posts directory", "--posts", "posts")?;
    let accounts_path = required(&inputs.accounts, "accounts file", "--accounts", "accounts")?;
    let optouts_path = match policy.mode {
        ConsentMode::OptOut => Some(required(
            &inputs.optouts,
            "objection registry",
            "--optouts",
            "optouts",
        )?),
        ConsentMode::Consent => inputs.optouts.as_ref(),
    };
    let consents_path = match policy.mode {
        ConsentMode::Consent => Some(required(
            &inputs.consents,
            "consent registry",
            "--consents",
            "consents",
        )?),
        // Opt-out mode does not read consents, even if the config names them.
        ConsentMode::OptOut => None,
    };
    if let Some(t) = args.threads
        && t == 0
    {
        return Err(Failure::input(anyhow!("--threads must be at least 1")));
    }
    // One run per OUT at a time; the lock is held until this function returns.
    let _lock = OutLock::acquire_for_publish(&args.out, &run_id, args.overwrite)?;
    let threads = crate::worker_threads(args.threads);
    let pool = crate::worker_pool(threads).map_err(Failure::runtime)?;
    let t_plan = Instant::now();
    let mut plan = plan_posts(posts_dir, &config.columns.posts)?;
    // A sharded run: only this shard's units, from inputs that match the plan.
    let shard = match (&args.plan, args.shard) {
        (Some(path), Some(index)) => Some(crate::shard::select_shard(path, index, &mut plan)?),
        _ => None,
    };
    let dedup = config.dedup.mode;
    // One shard of a planned run leaves its duplicates to `optgate merge`,
    // which sees every shard's posts.
    let dedup_pending = dedup != DedupMode::Off && shard.is_some();
    let accounts_src = check_accounts(accounts_path, &config.columns.accounts)?;
    let optouts_src = optouts_path
        .map(|p| check_optouts(p, &config.columns.optouts))
        .transpose()?;
    let consents_src = consents_path
        .map(|p| check_consents(p, &config.columns.consents))
        .transpose()?;
    let plan_ms = millis(t_plan);
    info!(
        files = plan.files.len(),
        work_units = plan.units.len(),
        rows = plan.rows(),
        "Planned the posts."
    );

    let t_tables = Instant::now();
    let (accounts, (optouts, consents)) = pool.install(|| {
        rayon::join(
            || {
                load_accounts(
                    &accounts_src,
                    &config.columns.accounts,
                    policy.min_age_years,
                )
            },
            || {
                rayon::join(
                    || {
                        optouts_src
                            .as_ref()
                            .map(|s| {
                                load_optouts(s, &config.columns.optouts, args.allow_empty_registry)
                            })
                            .transpose()
                    },
                    || {
                        consents_src
                            .as_ref()
                            .map(|s| load_consents(s, &config.columns.consents))
                            .transpose()
                    },
                )
            },
        )
    });
    let (accounts, accounts_snap) = accounts?;
    // The key sets move into the tables and the snapshots into the manifest:
    // no second copy of a registry is held.
    let (optouts, optouts_snap) = optouts?.unzip();
    // Every post asks the objection registry, and nearly every answer is no:
    // a prefilter in front of it pays once there are enough posts per id.
    let optouts = optouts.map(|set| {
        if prefilter_pays(set.len(), plan.rows()) {
            let set = set.with_prefilter();
            info!(
                ids = set.len(),
                bytes = set.heap_bytes(),
                "Objection registry prefilter built."
            );
            set
        } else {
            set
        }
    });
    let (consents, consents_snap) = consents?.unzip();
    let tables = SideTables {
        accounts,
        optouts,
        consents,
    };
    let side_tables_ms = millis(t_tables);

    // The previous version of this output: --previous, or OUT itself when it
    // is being replaced. Its registry snapshot must not lose objections.
    let previous_dir = args.previous.clone().or_else(|| {
        (args.overwrite && args.out.join(MANIFEST_FILE).exists()).then(|| args.out.clone())
    });
    let previous = previous_dir.as_deref().map(Dataset::open).transpose()?;
    let (registry_check, previous_keys) = match (&previous, &tables.optouts, &optouts_src) {
        (Some(prev), Some(now), Some(_)) => check_registry(prev, now, args.allow_registry_shrink)?,
        _ => (None, None),
    };
    let objection_latency = match &optouts_src {
        Some(src) => Some(latency(
            &first_objections(src, &config.columns.optouts, previous_keys.as_ref())?,
            started_at,
        )),
        None => None,
    };
    // New objectors since the previous run: a reused unit must have none of them.
    let new_objectors = match (&previous_keys, &tables.optouts) {
        (Some(prev), Some(now)) => Some(optgate_core::KeySet::from_keys(
            now.keys()
                .iter()
                .copied()
                .filter(|k| !prev.contains(*k))
                .collect(),
        )),
        _ => None,
    };
    drop(previous_keys);
    info!(
        accounts = tables.accounts.distinct_ids(),
        objections = tables.optouts.as_ref().map_or(0, |s| s.len()),
        valid_consents = tables.consents.as_ref().map_or(0, |s| s.len()),
        "Loaded the side tables."
    );

    // Files a shard does not read are not hashed (nor listed in its manifest).
    let used: Vec<bool> = (0..plan.files.len())
        .map(|i| shard.is_none() || plan.units.iter().any(|u| u.file == i))
        .collect();
    let hashes: Vec<(String, u64)> = pool.install(|| {
        plan.files
            .par_iter()
            .zip(&used)
            .map(|(f, used)| {
                if *used {
                    sha256_file(&f.path)
                } else {
                    Ok((String::new(), 0))
                }
            })
            .collect::<Result<_, IoError>>()
    })?;
    if let Some(s) = &shard {
        for ((f, (sha, _)), planned) in plan.files.iter().zip(&hashes).zip(&s.files) {
            if !sha.is_empty() && *sha != planned.sha256 {
                return Err(Failure::input(anyhow!(
                    "{}: changed since the plan was made (SHA-256 differs); make a new plan",
                    f.path.display()
                )));
            }
        }
    }

    let resolved_policy = serde_json::json!({
        "policy": policy.to_config(),
        "columns": config.columns,
        "pii": config.pii,
        "output": config.output,
        "dedup": config.dedup,
    });
    let policy_sha256 = canonical_sha256(&resolved_policy).map_err(Failure::runtime)?;

    // Incremental: which input files the previous run read in exactly this form.
    let mut full_reprocess_reason = None;
    let reuse: Vec<Option<usize>> = match (&previous, args.incremental) {
        (_, false) => vec![None; plan.files.len()],
        (None, true) => {
            return Err(Failure::input(anyhow!(
                "--incremental needs the previous output: --previous DIR, or --overwrite of an existing OUT"
            )));
        }
        (Some(prev), true) => {
            let pm = &prev.manifest;
            let why = if pm.policy.sha256 != policy_sha256 {
                Some("the policy changed")
            } else if pm.inputs.accounts.sha256 != accounts_snap.sha256 {
                Some("the accounts changed")
            } else if pm.inputs.consents.as_ref().map(|c| &c.sha256)
                != consents_snap.as_ref().map(|c| &c.sha256)
            {
                Some("the consent registry changed")
            } else if tables.optouts.is_some() && new_objectors.is_none() {
                Some("the previous output has no registry snapshot")
            } else if dedup == DedupMode::Near {
                // A new post may be alike to one kept last night; reusing
                // last night's parts would need their signatures, which
                // outputs do not hold (exact mode's keys files do hold
                // what reuse needs).
                Some("near deduplication needs every post of every night")
            } else if dedup == DedupMode::Exact
                && !pm.outputs.is_empty()
                && pm.dedup.as_ref().is_none_or(|d| d.keys.is_empty())
            {
                // A repurged output, or one made before keys files were.
                Some("the previous output holds no keys files to deduplicate reused units by")
            } else {
                None
            };
            match why {
                Some(w) => {
                    info!(reason = w, "Incremental: processing everything.");
                    full_reprocess_reason = Some(w.to_owned());
                    vec![None; plan.files.len()]
                }
                None => plan
                    .files
                    .iter()
                    .zip(&hashes)
                    .map(|(f, (sha, bytes))| {
                        pm.inputs.posts.iter().position(|p| {
                            p.path == f.rel_path && p.sha256 == *sha && p.bytes == *bytes
                        })
                    })
                    .collect(),
            }
        }
    };
    let previous_output = previous.as_ref().map(|p| PreviousOutput {
        dir: &p.dir,
        files: p
            .manifest
            .outputs
            .iter()
            .chain(&p.manifest.ledger)
            .chain(p.manifest.dedup.iter().flat_map(|d| &d.keys))
            .map(|f| (f.path.as_str(), f))
            .collect(),
    });
    let reused_units = std::sync::atomic::AtomicU64::new(0);

    // From here on, a failure or a signal removes the staging directory.
    check_interrupted()?;
    let (out_parent, out_name) = out_parts(&args.out)?;
    let mut staging = Staging::create(&out_parent, &out_name, &run_id)?;

    let t_process = Instant::now();
    let bar = posts_bar(args.progress, plan.rows());
    // Workers hand each written file to a thread of its own to be flushed
    // to disk, rather than wait in fsync; all are flushed before the output
    // is verified.
    let syncer = crate::file_syncer()?;
    let write_options = WriteOptions {
        zstd_level: config.output.zstd_level,
        sync: Some(syncer.queue()),
    };
    let scanner = config.pii.enabled.then(|| Scanner::new(&config.pii));
    let spill = match dedup {
        DedupMode::Exact | DedupMode::Near if !dedup_pending => Some(pool.install(|| {
            KeySpill::create(
                &staging.dir,
                plan.rows(),
                config.dedup.near_params(),
                dedup == DedupMode::Exact,
            )
        })?),
        _ => None,
    };
    // A unit filtered, scrubbed and written (with dedup: spooled, its keys
    // in the spill given).
    let process = |unit: &optgate_io::WorkUnit, keys: Option<(&KeySpill, usize)>| {
        let scrubber = scanner
            .as_ref()
            .map(|s| s as &dyn optgate_pii::TextScrubber);
        process_unit(
            &plan,
            unit,
            policy,
            &tables,
            scrubber,
            keys,
            &staging.dir,
            &write_options,
        )
    };
    let mut outcomes: Vec<UnitOutcome> = pool.install(|| {
        plan.units
            .par_iter()
            .enumerate()
            .map(|(index, unit)| {
                check_interrupted()?;
                if let (Some(prev), Some(pf)) = (&previous_output, reuse[unit.file])
                    && let Some(o) = reuse_unit(
                        &plan,
                        unit,
                        prev,
                        pf,
                        new_objectors.as_ref(),
                        spill
                            .as_ref()
                            .filter(|_| dedup == DedupMode::Exact)
                            .map(|s| (s, index)),
                        &staging.dir,
                        write_options.sync.as_ref(),
                    )?
                {
                    reused_units.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    bar.inc(unit.rows);
                    return Ok(o);
                }
                let r = process(unit, spill.as_ref().map(|s| (s, index)));
                bar.inc(unit.rows);
                r.map_err(Failure::from)
            })
            .collect::<Result<_, Failure>>()
    })?;
    bar.finish_and_clear();
    // The global phase: duplicates across every unit.
    let Deduplicated {
        ledgers: duplicate_ledgers,
        keys,
        clusters,
        candidates,
        rewritten,
        redone,
        ..
    } = match spill {
        None => Deduplicated::none(plan.units.len()),
        Some(spill) => {
            let t_dedup = Instant::now();
            let mut done = pool.install(|| {
                remove_duplicates(
                    spill,
                    &plan,
                    &mut outcomes,
                    &config.columns.posts,
                    &staging.dir,
                    &write_options,
                )
            })?;
            if !done.redo.is_empty() {
                // Reused units that must be processed again: a post they
                // lost now survives, and only their input holds its text.
                let redo = std::mem::take(&mut done.redo);
                let rows: u64 = redo.iter().map(|(i, _)| plan.units[*i].rows).sum();
                let again = KeySpill::create(&staging.dir, rows, None, true)?;
                let redone: Vec<(usize, UnitOutcome, Written)> = pool.install(|| {
                    redo.into_par_iter()
                        .map(|(index, losers)| {
                            check_interrupted()?;
                            let unit = &plan.units[index];
                            remove_unit_files(&staging.dir, unit)?;
                            let mut o = process(unit, Some((&again, index)))?;
                            let w = write_spooled(
                                &plan,
                                unit,
                                &mut o,
                                &losers,
                                &staging.dir,
                                &write_options,
                            )?;
                            Ok((index, o, w))
                        })
                        .collect::<Result<_, Failure>>()
                })?;
                done.redone = redone.len() as u64;
                for (index, o, w) in redone {
                    outcomes[index] = o;
                    done.ledgers[index] = w.ledger;
                    done.keys[index] = w.keys;
                }
            }
            info!(
                removed = outcomes
                    .iter()
                    .map(|o| o.counts.first_failing[DropReason::Duplicate as usize])
                    .sum::<u64>(),
                clusters = done.clusters,
                ms = millis(t_dedup),
                "Removed the duplicates."
            );
            done
        }
    };
    let keys: Vec<OutputFile> = keys.into_iter().flatten().collect();
    let t_flush = Instant::now();
    let flushed = syncer.wait()?;
    debug!(
        files = flushed,
        waited_ms = millis(t_flush),
        "Flushed the written files to disk."
    );
    let process_ms = millis(t_process);
    // The inputs read are those planned and hashed, to the end: a file
    // written to while one of its units was reading it has moved since.
    for (f, _) in plan.files.iter().zip(&used).filter(|(_, used)| **used) {
        f.check_unchanged()?;
    }

    // Merged in unit order, so the thread schedule never changes the result.
    let mut counts = DropCounts::default();
    let mut pii = EntityCounts::default();
    let mut posts_changed = 0u64;
    let mut outputs = Vec::new();
    let mut ledger = Vec::new();
    for (o, duplicates) in outcomes.iter().zip(duplicate_ledgers) {
        counts.merge(&o.counts);
        pii.merge(&o.pii);
        posts_changed += o.posts_changed;
        outputs.extend(o.output.clone());
        ledger.extend(o.ledger.clone());
        ledger.extend(duplicates);
    }
    // By path, as `optgate merge` lists them: the ledgers of duplicates
    // (`dup-part-…`) before the units' own.
    ledger.sort_by(|a, b| a.path.cmp(&b.path));
    if counts.rows_in != plan.rows() || counts.kept + counts.dropped() != counts.rows_in {
        return Err(Failure::runtime(anyhow!(
            "internal check failed: footers promise {} rows, processed {}, kept {} + dropped {}",
            plan.rows(),
            counts.rows_in,
            counts.kept,
            counts.dropped()
        )));
    }

    let reason_map = |values: &[u64; 10]| -> BTreeMap<String, u64> {
        DropReason::ALL
            .iter()
            .map(|r| (r.name().to_owned(), values[*r as usize]))
            .collect()
    };
    let dropped_by_reason = reason_map(&counts.first_failing);

    check_interrupted()?;
    // Verification: the written files, re-read from disk, against the policy
    // and the side tables. A failed assertion stops the run before publishing.
    let t_verify = Instant::now();
    let claim = Claim {
        out_dir: &staging.dir,
        outputs: &outputs,
        ledger: &ledger,
        kept: counts.kept,
        dropped_by_reason: &dropped_by_reason,
        // Spill post-id keys into the staging directory rather than hold
        // them all: memory stays flat however large the output.
        scratch: Some(&staging.dir),
        exact_dedup: dedup != DedupMode::Off && !dedup_pending,
        near_dedup: config.dedup.near_params().filter(|_| !dedup_pending),
        keys: &keys,
    };
    let verification = verified(
        &pool
            .install(|| verify_output(&claim, &config.columns.posts, policy, &tables))?
            .findings,
        "written",
    )?;
    let verify_ms = millis(t_verify);
    info!(
        assertions = verification.assertions.len(),
        ms = verify_ms,
        "Verified the written output."
    );
    let supersedes = previous.as_ref().map(|p| p.manifest_sha256.clone());
    if let Some(set) = &tables.optouts {
        write_keys(&staging.dir.join(OPTOUTS_KEYS), set)?;
    }
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool: Tool {
            name: "optgate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: RunInfo {
            run_id: run_id.clone(),
            started_at: rfc3339_micros(started_at),
            finished_at: rfc3339_micros(now_micros()),
            threads,
        },
        policy: PolicyRecord {
            sha256: policy_sha256,
            resolved: resolved_policy,
        },
        inputs: Inputs {
            posts_dir: fs::canonicalize(posts_dir)
                .unwrap_or_else(|_| posts_dir.clone())
                .display()
                .to_string(),
            posts_layout: Some(PostsLayout {
                kind: if plan.partition_keys.is_empty() {
                    "plain"
                } else {
                    "hive"
                }
                .to_owned(),
                partition_keys: plan.partition_keys.clone(),
            }),
            posts: plan
                .files
                .iter()
                .zip(&hashes)
                .zip(&used)
                .filter(|(_, used)| **used)
                .map(|((f, (sha256, bytes)), _)| InputFile {
                    path: f.rel_path.clone(),
                    bytes: *bytes,
                    rows: f.rows(),
                    row_groups: f.row_groups(),
                    sha256: sha256.clone(),
                })
                .collect(),
            accounts: accounts_snap,
            optouts: optouts_snap,
            consents: consents_snap,
            allow_empty_registry: args.allow_empty_registry,
        },
        counts: Counts {
            rows_in: counts.rows_in,
            kept: counts.kept,
            dropped: counts.dropped(),
            dropped_by_reason,
            failing_by_rule: reason_map(&counts.failing),
        },
        pii: PiiRecord {
            applied: config.pii.enabled,
            entities: if config.pii.enabled {
                config
                    .pii
                    .entities
                    .iter()
                    .map(|e| e.name().to_owned())
                    .collect()
            } else {
                Vec::new()
            },
            placeholder: config.pii.placeholder.clone(),
            replacements: Entity::ALL
                .iter()
                .map(|e| (e.name().to_owned(), pii.get(*e)))
                .collect(),
            posts_changed,
        },
        outputs,
        ledger,
        verification,
        supersedes,
        registry_check,
        objection_latency,
        repurge: None,
        incremental: args.incremental.then(|| {
            let reused = reused_units.load(std::sync::atomic::Ordering::Relaxed) - redone;
            Incremental {
                previous_manifest_sha256: previous
                    .as_ref()
                    .map(|p| p.manifest_sha256.clone())
                    .unwrap_or_default(),
                reused_units: reused,
                reprocessed_units: plan.units.len() as u64 - reused,
                rewritten_units: rewritten,
                redone_units: redone,
                full_reprocess_reason,
            }
        }),
        dedup: Some(DedupRecord {
            mode: dedup.name().to_owned(),
            normalisation: optgate_core::dedup::NORMALISATION.to_owned(),
            key: optgate_core::dedup::EXACT_KEY.to_owned(),
            survivor: optgate_core::dedup::SURVIVOR.to_owned(),
            removed: counts.first_failing[DropReason::Duplicate as usize],
            clusters,
            pending: dedup_pending,
            keys,
            near: config
                .dedup
                .near_params()
                .map(|p| crate::dedup_near_record(&p, candidates)),
        }),
        shard: shard.as_ref().map(|s| Shard {
            plan_sha256: s.plan_sha256.clone(),
            shards: s.shards,
            index: Some(s.index),
            merged_manifests: Vec::new(),
        }),
        timings: Timings {
            plan_ms,
            side_tables_ms,
            process_ms,
            verify_ms,
            total_ms: millis(started),
        },
    };
    write_manifest(&staging.dir, &manifest)?;

    // The last point where a signal stops the run; the exchange is atomic.
    check_interrupted()?;
    publish(&mut staging, &args.out)?;
    let secs = started.elapsed().as_secs_f64();
    if counts.first_failing[DropReason::PiiError as usize] > 0 {
        tracing::warn!(
            posts = counts.first_failing[DropReason::PiiError as usize],
            "Dropped posts whose text could not be scrubbed."
        );
    }
    info!(
        rows_in = counts.rows_in,
        kept = counts.kept,
        dropped = counts.dropped(),
        pii_replacements = pii.total(),
        out = %args.out.display(),
        "Published the output."
    );
    if !args.quiet {
        println!("{}", summary_line(&manifest, &args.out, secs));
    }
    Ok(manifest)
}

/// What the global phase made, per unit of the plan.
struct Deduplicated {
    /// Each unit's ledger of duplicates and keys file.
    ledgers: Vec<Option<OutputFile>>,
    keys: Vec<Option<OutputFile>>,
    clusters: u64,
    candidates: u64,
    /// Reused units whose part was written again without new duplicates.
    rewritten: u64,
    /// Reused units processed again, after [`Deduplicated::redo`].
    redone: u64,
    /// Reused units to process again, with their losers: a post each lost
    /// last time now survives.
    redo: Vec<(usize, Vec<Loser>)>,
}

impl Deduplicated {
    fn none(units: usize) -> Deduplicated {
        Deduplicated {
            ledgers: vec![None; units],
            keys: vec![None; units],
            clusters: 0,
            candidates: 0,
            rewritten: 0,
            redone: 0,
            redo: Vec::new(),
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
    plan: &optgate_io::PostsPlan,
    unit: &optgate_io::WorkUnit,
    o: &mut UnitOutcome,
    losers: &[Loser],
    out_dir: &Path,
    options: &WriteOptions,
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
        plan,
        unit,
        &spooled,
        losers,
        &o.pii,
        o.posts_changed,
        out_dir,
        options,
    )?;
    o.output = w.output.clone();
    o.counts.drop_kept_n(DropReason::Duplicate, w.removed);
    Ok(w)
}

/// Resolves the spill's clusters, then, units in parallel, writes each
/// processed unit's spool (of `outcomes`, one per unit of `plan`, in order)
/// as its part file without its losers, and brings each reused unit's files
/// in line with its losers ([`finish_reused`]), or leaves it to be
/// processed again ([`Deduplicated::redo`]).
fn remove_duplicates(
    spill: KeySpill,
    plan: &optgate_io::PostsPlan,
    outcomes: &mut [UnitOutcome],
    cols: &PostColumnNames,
    out_dir: &Path,
    options: &WriteOptions,
) -> Result<Deduplicated, Failure> {
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
                    let w = write_spooled(plan, unit, o, losers, out_dir, options)?;
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
                    cols,
                    out_dir,
                    options,
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

/// One line per failed assertion, with a few of the posts or files behind it.
/// The manifest's record of a verification that passed; an error (exit 2,
/// nothing published) naming the failed assertions otherwise. `what`
/// qualifies the output: "written", "purged", "merged".
pub fn verified(findings: &[Finding], what: &str) -> Result<Verification, Failure> {
    if findings.iter().all(|f| f.assertion.passed) {
        Ok(Verification {
            passed: true,
            assertions: findings.iter().map(|f| f.assertion.clone()).collect(),
        })
    } else {
        Err(Failure::runtime(anyhow!(
            "verification of the {what} output failed, nothing published: {}",
            failed_assertions(findings)
        )))
    }
}

pub fn failed_assertions(findings: &[Finding]) -> String {
    findings
        .iter()
        .filter(|f| !f.assertion.passed)
        .map(|f| {
            let a = &f.assertion;
            let mut line = format!("{} (expected {}, found {})", a.name, a.expected, a.actual);
            if !f.examples.is_empty() {
                line.push_str(&format!(": {}", f.examples.join(", ")));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Compares the registry with the previous run's snapshot: refuses one that
/// lost ids unless allowed. Returns the check for the manifest and the
/// previous keys (to tell first-time objections).
pub(crate) fn check_registry(
    prev: &Dataset,
    now: &optgate_core::KeySet,
    allow_shrink: bool,
) -> Result<(Option<RegistryCheck>, Option<optgate_core::KeySet>), Failure> {
    let Some(sha) = prev
        .manifest
        .inputs
        .optouts
        .as_ref()
        .and_then(|t| t.keys_sha256.clone())
    else {
        return Ok((None, None));
    };
    let keys = read_keys(&prev.dir.join(OPTOUTS_KEYS), &sha).map_err(Failure::input)?;
    let (lost, added) = diff(&keys, now);
    if lost > 0 && !allow_shrink {
        return Err(Failure::input(anyhow!(
            "the objection registry lost {lost} ids since the previous run ({}, {} ids then, {} now): \
             objections must not disappear; refusing. Pass --allow-registry-shrink if this is \
             intended (the manifest records it)",
            prev.dir.display(),
            keys.len(),
            now.len()
        )));
    }
    Ok((
        Some(RegistryCheck {
            previous_manifest_sha256: prev.manifest_sha256.clone(),
            previous_ids: keys.len() as u64,
            ids: now.len() as u64,
            lost,
            added,
            allow_registry_shrink: allow_shrink,
        }),
        Some(keys),
    ))
}

/// Max and median delay, in seconds, from `objected_at` to the run's start.
pub(crate) fn latency(first_objected: &[i64], run_start_micros: i64) -> ObjectionLatency {
    let mut secs: Vec<u64> = first_objected
        .iter()
        .map(|t| (run_start_micros.saturating_sub(*t).max(0) / 1_000_000) as u64)
        .collect();
    secs.sort_unstable();
    let median = match secs.len() {
        0 => None,
        n if n % 2 == 1 => Some(secs[n / 2]),
        n => Some((secs[n / 2 - 1] + secs[n / 2]) / 2),
    };
    ObjectionLatency {
        first_applied: secs.len() as u64,
        max_seconds: secs.last().copied(),
        median_seconds: median,
    }
}

/// Writes `manifest.json` (canonical JSON, pretty) and `manifest.json.sha256`
/// (its digest, in the format of `sha256sum`) into `dir`.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<String, Failure> {
    let text = canonical_json_pretty(manifest).map_err(Failure::runtime)?;
    let digest = optgate_io::sha256_hex(text.as_bytes());
    write_synced(&dir.join(MANIFEST_FILE), text.as_bytes())?;
    write_synced(
        &dir.join(format!("{MANIFEST_FILE}.sha256")),
        format!("{digest}  {MANIFEST_FILE}\n").as_bytes(),
    )?;
    Ok(digest)
}

/// The manifest's file name in an output directory.
pub const MANIFEST_FILE: &str = "manifest.json";

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let err = |source| {
        Failure::runtime(IoError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut f = fs::File::create(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

fn summary_line(m: &Manifest, out: &Path, secs: f64) -> String {
    let reasons: Vec<String> = m
        .counts
        .dropped_by_reason
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    format!(
        "optgate: {} posts in, {} kept, {} dropped ({}); {} files in {} in {:.2} s ({:.0} posts/s)",
        m.counts.rows_in,
        m.counts.kept,
        m.counts.dropped,
        if reasons.is_empty() {
            "none".to_owned()
        } else {
            reasons.join(", ")
        },
        m.outputs.len(),
        out.display(),
        secs,
        m.counts.rows_in as f64 / secs.max(1e-9)
    )
}
