//! `optgate run`: [`run_inner`] calls its phases in order, each in a
//! module named for it.
//!
//! | phase | where |
//! |---|---|
//! | the inputs: paths, the side tables' files and schemas | [`inputs`] ([`InputPaths`], [`Sources`]) |
//! | plan: list the posts files, read their footers, check their schemas | `optgate_io::posts` ([`plan_posts`]) |
//! | load the side tables (accounts, registries); the previous output's registry | [`inputs`] ([`load_side_tables`], [`Prior`]), `optgate_io::side_tables` |
//! | hash the posts files; which of them an incremental run reuses | [`inputs`] ([`hash_inputs`]), [`incremental`] ([`reusable_files`]) |
//! | per work unit, in parallel: rules, then scrub the kept posts' text | `optgate_io::unit` ([`process_unit`]) |
//! | deduplicate across every unit (with `[dedup]`) | [`dedup`] ([`deduplicate`]), `optgate_io::dedup` |
//! | write the part files (in the unit, or from its spool after dedup) | `optgate_io::write` |
//! | merge the counts in unit order, so that scheduling never changes the result | here ([`Tally`]) |
//! | verify the written output, without trusting the run | `optgate_io::verify`, [`manifest`] ([`verified`]) |
//! | manifest, then atomic publish | [`manifest`], `crate::publish` |
//!
//! A sharded run stops short of deduplication, which `optgate merge`
//! (`crate::merge`) does over every shard; an incremental one reuses the
//! previous output's parts (`optgate_io::incremental`).

use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use optgate_core::{DedupMode, DropCounts, DropReason};
use optgate_io::dedup::KeySpill;
use optgate_io::incremental::{PreviousOutput, reuse_unit};
use optgate_io::read::rfc3339_micros;
use optgate_io::registry::{OPTOUTS_KEYS, write_keys};
use optgate_io::verify::{Claim, verify_output};
use optgate_io::{UnitOutcome, WriteOptions, plan_posts, process_unit};
use optgate_manifest::{
    Counts, DedupRecord, Incremental, InputFile, Inputs, MANIFEST_VERSION, Manifest, OutputFile,
    PiiRecord, PolicyRecord, PostsLayout, RunInfo, Shard, Timings, Tool, canonical_sha256,
};
use optgate_pii::{Entity, EntityCounts, Scanner};
use rayon::prelude::*;
use tracing::{debug, info};

use crate::RunArgs;
use crate::config::LoadedConfig;
use crate::exit::Failure;
use crate::progress::posts_bar;
use crate::publish::{OutLock, Staging, check_interrupted, out_parts, publish};

mod dedup;
mod incremental;
mod inputs;
mod manifest;

use dedup::{Deduplicated, deduplicate};
use incremental::reusable_files;
use inputs::{InputPaths, Loaded, Prior, Sources, hash_inputs, load_side_tables};
pub(crate) use inputs::{check_registry, latency};
use manifest::summary_line;
pub use manifest::{MANIFEST_FILE, verified, write_manifest};

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub(crate) fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
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

    // Inputs: everything that can be wrong with them is found before any
    // output directory exists.
    let loaded = LoadedConfig::load_or_default(args.config.as_deref())?;
    let (config, policy) = (&loaded.config, &loaded.policy);
    let paths = InputPaths::resolve(args, &loaded)?;
    if args.threads == Some(0) {
        return Err(Failure::input(anyhow!("--threads must be at least 1")));
    }
    // One run per OUT at a time; the lock is held until this function returns.
    let _lock = OutLock::acquire_for_publish(&args.out, run_id, args.overwrite)?;
    let threads = crate::worker_threads(args.threads);
    let pool = crate::worker_pool(threads).map_err(Failure::runtime)?;

    // Plan: the posts files, their footers and schemas, in work units.
    let t_plan = Instant::now();
    let mut plan = plan_posts(&paths.posts, &config.columns.posts)?;
    // A sharded run: only this shard's units, from inputs that match the plan.
    let shard = match (&args.plan, args.shard) {
        (Some(path), Some(index)) => Some(crate::shard::select_shard(path, index, &mut plan)?),
        _ => None,
    };
    let dedup = config.dedup.mode;
    // One shard of a planned run leaves its duplicates to `optgate merge`,
    // which sees every shard's posts.
    let dedup_pending = dedup != DedupMode::Off && shard.is_some();
    let sources = Sources::check(&paths, config)?;
    let plan_ms = millis(t_plan);
    info!(
        files = plan.files.len(),
        work_units = plan.units.len(),
        rows = plan.rows(),
        "Planned the posts."
    );

    // The side tables, and the previous output's registry against them.
    let t_tables = Instant::now();
    let side = pool
        .install(|| load_side_tables(&sources, &loaded, args.allow_empty_registry, plan.rows()))?;
    let tables = &side.tables;
    let side_tables_ms = millis(t_tables);
    let prior = Prior::open(args, tables, &sources, config, started_at)?;
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
    let hashes = pool.install(|| hash_inputs(&plan, &used))?;
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
    let (reuse, full_reprocess_reason) = reusable_files(
        &plan,
        &hashes,
        prior.previous.as_ref(),
        args.incremental,
        &incremental::Now {
            policy_sha256: &policy_sha256,
            accounts: &side.accounts,
            consents: side.consents.as_ref(),
            optouts: tables.optouts.is_some(),
            new_objectors_known: prior.new_objectors.is_some(),
            dedup,
        },
    )?;
    let previous_output = prior.previous.as_ref().map(|p| PreviousOutput {
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
    let reused_units = AtomicU64::new(0);

    // From here on, a failure or a signal removes the staging directory.
    check_interrupted()?;
    let (out_parent, out_name) = out_parts(&args.out)?;
    let mut staging = Staging::create(&out_parent, &out_name, run_id)?;

    // Per work unit, in parallel: the rules, then the kept posts' text
    // scrubbed, then written (with dedup: spooled, and keyed).
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
    let spill =
        match dedup {
            DedupMode::Exact | DedupMode::Near if !dedup_pending => Some(pool.install(|| {
                KeySpill::create(&staging.dir, plan.rows(), config.dedup.near_params())
            })?),
            _ => None,
        };
    let process = |unit: &optgate_io::WorkUnit, keys: Option<(&KeySpill, usize)>| {
        let scrubber = scanner
            .as_ref()
            .map(|s| s as &dyn optgate_pii::TextScrubber);
        process_unit(
            &plan,
            unit,
            policy,
            tables,
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
                        prior.new_objectors.as_ref(),
                        spill.as_ref().map(|s| (s, index)),
                        &staging.dir,
                        write_options.sync.as_ref(),
                    )?
                {
                    reused_units.fetch_add(1, Ordering::Relaxed);
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
        ms: dedup_ms,
        ..
    } = match spill {
        None => Deduplicated::none(plan.units.len()),
        Some(spill) => {
            let phase = dedup::Phase {
                plan: &plan,
                cols: &config.columns.posts,
                out_dir: &staging.dir,
                options: &write_options,
                near: config.dedup.near_params(),
            };
            pool.install(|| deduplicate(&phase, spill, &mut outcomes, &process))?
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
    let tally = Tally::of(&outcomes, duplicate_ledgers);
    let counts = &tally.counts;
    if counts.rows_in != plan.rows() || counts.kept + counts.dropped() != counts.rows_in {
        return Err(Failure::runtime(anyhow!(
            "internal check failed: footers promise {} rows, processed {}, kept {} + dropped {}",
            plan.rows(),
            counts.rows_in,
            counts.kept,
            counts.dropped()
        )));
    }
    let dropped_by_reason = reason_map(&counts.first_failing);

    // Verification: the written files, re-read from disk, against the policy
    // and the side tables. A failed assertion stops the run before publishing.
    check_interrupted()?;
    let t_verify = Instant::now();
    let claim = Claim {
        out_dir: &staging.dir,
        outputs: &tally.outputs,
        ledger: &tally.ledger,
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
            .install(|| verify_output(&claim, &config.columns.posts, policy, tables))?
            .findings,
        "written",
    )?;
    let verify_ms = millis(t_verify);
    info!(
        assertions = verification.assertions.len(),
        ms = verify_ms,
        "Verified the written output."
    );

    // The manifest, then the atomic publish.
    if let Some(set) = &tables.optouts {
        write_keys(&staging.dir.join(OPTOUTS_KEYS), set)?;
    }
    let Prior {
        previous,
        registry_check,
        objection_latency,
        ..
    } = prior;
    let manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool: Tool {
            name: "optgate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run: RunInfo {
            run_id: run_id.to_owned(),
            started_at: rfc3339_micros(started_at),
            finished_at: rfc3339_micros(now_micros()),
            threads,
        },
        policy: PolicyRecord {
            sha256: policy_sha256,
            resolved: resolved_policy,
        },
        inputs: inputs_record(
            &paths,
            &plan,
            &hashes,
            &used,
            side,
            args.allow_empty_registry,
        ),
        counts: Counts {
            rows_in: counts.rows_in,
            kept: counts.kept,
            dropped: counts.dropped(),
            dropped_by_reason,
            failing_by_rule: reason_map(&counts.failing),
        },
        pii: pii_record(&config.pii, &tally.pii, tally.posts_changed),
        outputs: tally.outputs,
        ledger: tally.ledger,
        verification,
        supersedes: previous.as_ref().map(|p| p.manifest_sha256.clone()),
        registry_check,
        objection_latency,
        repurge: None,
        incremental: args.incremental.then(|| {
            let reused = reused_units.load(Ordering::Relaxed) - redone;
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
            dedup_ms,
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
        pii_replacements = tally.pii.total(),
        out = %args.out.display(),
        "Published the output."
    );
    if !args.quiet {
        println!("{}", summary_line(&manifest, &args.out, secs));
    }
    Ok(manifest)
}

/// The units' figures and files, merged in unit order, so that the thread
/// schedule never changes the result.
struct Tally {
    counts: DropCounts,
    pii: EntityCounts,
    posts_changed: u64,
    outputs: Vec<OutputFile>,
    /// The units' ledgers and their ledgers of duplicates, by path, as
    /// `optgate merge` lists them: the duplicates' (`dup-part-…`) first.
    ledger: Vec<OutputFile>,
}

impl Tally {
    fn of(outcomes: &[UnitOutcome], duplicate_ledgers: Vec<Option<OutputFile>>) -> Tally {
        let mut t = Tally {
            counts: DropCounts::default(),
            pii: EntityCounts::default(),
            posts_changed: 0,
            outputs: Vec::new(),
            ledger: Vec::new(),
        };
        for (o, duplicates) in outcomes.iter().zip(duplicate_ledgers) {
            t.counts.merge(&o.counts);
            t.pii.merge(&o.pii);
            t.posts_changed += o.posts_changed;
            t.outputs.extend(o.output.clone());
            t.ledger.extend(o.ledger.clone());
            t.ledger.extend(duplicates);
        }
        t.ledger.sort_by(|a, b| a.path.cmp(&b.path));
        t
    }
}

/// The manifest's record of the inputs: the posts files read, with their
/// digests, and the side tables' snapshots.
fn inputs_record(
    paths: &InputPaths,
    plan: &optgate_io::PostsPlan,
    hashes: &[(String, u64)],
    used: &[bool],
    side: Loaded,
    allow_empty_registry: bool,
) -> Inputs {
    Inputs {
        posts_dir: fs::canonicalize(&paths.posts)
            .unwrap_or_else(|_| paths.posts.clone())
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
            .zip(hashes)
            .zip(used)
            .filter(|(_, used)| **used)
            .map(|((f, (sha256, bytes)), _)| InputFile {
                path: f.rel_path.clone(),
                bytes: *bytes,
                rows: f.rows(),
                row_groups: f.row_groups(),
                sha256: sha256.clone(),
            })
            .collect(),
        accounts: side.accounts,
        optouts: side.optouts,
        consents: side.consents,
        allow_empty_registry,
    }
}

/// Counts by reason, by the reasons' names.
fn reason_map(values: &[u64; 10]) -> BTreeMap<String, u64> {
    DropReason::ALL
        .iter()
        .map(|r| (r.name().to_owned(), values[*r as usize]))
        .collect()
}

/// The manifest's record of scrubbing: the types scrubbed and how often.
fn pii_record(
    config: &optgate_pii::ScannerConfig,
    pii: &EntityCounts,
    posts_changed: u64,
) -> PiiRecord {
    PiiRecord {
        applied: config.enabled,
        entities: if config.enabled {
            config
                .entities
                .iter()
                .map(|e| e.name().to_owned())
                .collect()
        } else {
            Vec::new()
        },
        placeholder: config.placeholder.clone(),
        replacements: Entity::ALL
            .iter()
            .map(|e| (e.name().to_owned(), pii.get(*e)))
            .collect(),
        posts_changed,
    }
}
