//! `optgate merge SHARD_OUT... --out OUT`: publishes the shards of one plan as
//! one dataset. Every shard must be present once, come from the same plan,
//! policy, tool version and side tables, and have passed its own
//! verification; the merged output is then verified as a whole, as a run's
//! is, before it is published atomically.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use optgate_core::DropReason;
use optgate_io::dedup::dedup_parts;
use optgate_io::registry::{OPTOUTS_KEYS, first_objections};
use optgate_io::side_tables::check_optouts;
use optgate_io::verify::{Claim, verify_output};
use optgate_io::{SyncQueue, WriteOptions, copy_flushed, flush_file};
use optgate_manifest::{InputFile, OutputFile, Shard, Timings};
use tracing::info;

use crate::dataset::{Dataset, TableOverrides, load_tables};
use crate::exit::Failure;
use crate::publish::{OutLock, Staging, check_interrupted, out_parts, publish};
use crate::run::{check_registry, latency, millis, verified, write_manifest};

/// Arguments of `optgate merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard outputs (`optgate run --plan --shard`), all of one plan, in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Where to publish the merged dataset.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing --out (only once the merged output is complete).
    #[arg(long)]
    pub overwrite: bool,
    /// Accept an objection registry that lost ids since the output being
    /// replaced was made (recorded in the manifest).
    #[arg(long)]
    pub allow_registry_shrink: bool,
}

pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let started_at = chrono::Utc::now();
    let run_id = crate::run::new_run_id(started_at.timestamp_micros());
    let _lock = OutLock::acquire_for_publish(&args.out, &run_id, args.overwrite)?;
    let shards = open_shards(&args.shards)?;
    let first = &shards[0];
    let m0 = &first.manifest;

    let (parent, name) = out_parts(&args.out)?;
    let mut staging = Staging::create(&parent, &name, &run_id)?;
    // Copies (where a hard link cannot be made) are flushed to disk on a
    // thread of their own, and all are before the output is verified.
    let syncer = crate::file_syncer()?;
    let sync = syncer.queue();
    let mut outputs: Vec<OutputFile> = Vec::new();
    let mut ledger: Vec<OutputFile> = Vec::new();
    for ds in &shards {
        check_interrupted()?;
        for f in ds.manifest.outputs.iter().chain(&ds.manifest.ledger) {
            link_or_copy(&ds.dir.join(&f.path), &staging.dir.join(&f.path), &sync)?;
        }
        outputs.extend(ds.manifest.outputs.iter().cloned());
        ledger.extend(ds.manifest.ledger.iter().cloned());
    }
    // Part names are the input file and row group, so they are the names a
    // single run gives, and they cannot collide between shards of one plan.
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    ledger.sort_by(|a, b| a.path.cmp(&b.path));
    for w in outputs.windows(2).chain(ledger.windows(2)) {
        if w[0].path == w[1].path {
            return Err(Failure::input(anyhow!(
                "{} is in two shards: these are not shards of one plan",
                w[0].path
            )));
        }
    }
    if m0.inputs.optouts.is_some() {
        link_or_copy(
            &first.dir.join(OPTOUTS_KEYS),
            &staging.dir.join(OPTOUTS_KEYS),
            &sync,
        )?;
    }
    syncer.wait()?;

    let mut m = m0.clone();
    m.counts.rows_in = 0;
    m.counts.kept = 0;
    m.counts.dropped = 0;
    for v in m
        .counts
        .dropped_by_reason
        .values_mut()
        .chain(m.counts.failing_by_rule.values_mut())
    {
        *v = 0;
    }
    for v in m.pii.replacements.values_mut() {
        *v = 0;
    }
    m.pii.posts_changed = 0;
    let mut inputs: BTreeMap<String, InputFile> = BTreeMap::new();
    for ds in &shards {
        let c = &ds.manifest.counts;
        m.counts.rows_in += c.rows_in;
        m.counts.kept += c.kept;
        m.counts.dropped += c.dropped;
        for (k, v) in &c.dropped_by_reason {
            *m.counts.dropped_by_reason.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &c.failing_by_rule {
            *m.counts.failing_by_rule.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &ds.manifest.pii.replacements {
            *m.pii.replacements.entry(k.clone()).or_insert(0) += v;
        }
        m.pii.posts_changed += ds.manifest.pii.posts_changed;
        for f in &ds.manifest.inputs.posts {
            // A file split across shards is listed by each with one digest.
            if let Some(seen) = inputs.get(&f.path)
                && seen != f
            {
                return Err(Failure::input(anyhow!(
                    "input {} differs between shards (SHA-256, size or rows)",
                    f.path
                )));
            }
            inputs.insert(f.path.clone(), f.clone());
        }
    }
    m.inputs.posts = inputs.into_values().collect();

    // The shards left their duplicates to the merge, which sees every post.
    let dedup_ms = if m.dedup.as_ref().is_some_and(|d| d.pending) {
        check_interrupted()?;
        let t_dedup = std::time::Instant::now();
        let options = WriteOptions {
            zstd_level: m0
                .policy
                .resolved
                .pointer("/output/zstd_level")
                .and_then(|v| v.as_i64())
                .unwrap_or(3) as i32,
            sync: None,
        };
        let near = crate::near_params_of(m.dedup.as_ref()).map_err(Failure::input)?;
        let done = dedup_parts(&staging.dir, &outputs, &first.columns.posts, &options, near)?;
        outputs = done.outputs.into_iter().flatten().collect();
        ledger.extend(done.ledgers);
        ledger.sort_by(|a, b| a.path.cmp(&b.path));
        let n = done.removed;
        m.counts.kept -= n;
        m.counts.dropped += n;
        for by in [
            &mut m.counts.dropped_by_reason,
            &mut m.counts.failing_by_rule,
        ] {
            *by.entry(DropReason::Duplicate.name().to_owned())
                .or_insert(0) += n;
        }
        if let Some(d) = m.dedup.as_mut() {
            d.removed = n;
            d.clusters = done.clusters;
            d.pending = false;
            d.keys = done.keys;
            d.keys.sort_by(|a, b| a.path.cmp(&b.path));
            if let Some(n) = d.near.as_mut() {
                n.candidates = done.candidates;
            }
        }
        let ms = millis(t_dedup);
        info!(
            removed = n,
            clusters = done.clusters,
            ms,
            "Removed the duplicates across the shards."
        );
        Some(ms)
    } else {
        None
    };

    // The merged output, verified as one: every row against the policy and
    // the side tables the shards recorded, post ids unique across shards.
    check_interrupted()?;
    let t_verify = std::time::Instant::now();
    let loaded = load_tables(first, &TableOverrides::default())?;
    for (table, read, recorded) in &loaded.snapshots {
        if recorded.as_ref().is_some_and(|r| r.sha256 != read.sha256) {
            return Err(Failure::input(anyhow!(
                "the {table} file {} changed since the shards ran; cannot verify the merge against it",
                read.path
            )));
        }
    }
    // Against the output being replaced, as a run does: objections must not
    // disappear, and the latency of those applied for the first time.
    let previous = fs::symlink_metadata(&args.out)
        .is_ok()
        .then(|| Dataset::open(&args.out))
        .transpose()?;
    let mut previous_keys = None;
    m.registry_check = None;
    if let (Some(prev), Some(now)) = (&previous, &loaded.tables.optouts) {
        let (check, keys) = check_registry(prev, now, args.allow_registry_shrink)?;
        m.registry_check = check;
        previous_keys = keys;
    }
    m.objection_latency = match &m0.inputs.optouts {
        Some(snap) => {
            let src = check_optouts(Path::new(&snap.path), &first.columns.optouts)?;
            Some(latency(
                &first_objections(&src, &first.columns.optouts, previous_keys.as_ref())?,
                started_at.timestamp_micros(),
            ))
        }
        None => None,
    };
    drop(previous_keys);
    let (exact_dedup, near_dedup) = crate::dedup_checks(&m)?;
    let claim = Claim {
        out_dir: &staging.dir,
        outputs: &outputs,
        ledger: &ledger,
        kept: m.counts.kept,
        dropped_by_reason: &m.counts.dropped_by_reason,
        scratch: Some(&staging.dir),
        exact_dedup,
        near_dedup,
        keys: m.dedup.as_ref().map_or(&[], |d| &d.keys),
    };
    let report = verify_output(&claim, &first.columns.posts, &first.policy, &loaded.tables)?;
    let verification = verified(&report.findings, "merged")?;
    let verify_ms = millis(t_verify);
    m.verification = verification;
    m.outputs = outputs;
    m.ledger = ledger;
    m.supersedes = previous.as_ref().map(|p| p.manifest_sha256.clone());
    m.repurge = None;
    m.incremental = None;
    m.shard = Some(Shard {
        plan_sha256: m0
            .shard
            .as_ref()
            .map(|s| s.plan_sha256.clone())
            .unwrap_or_default(),
        shards: shards.len() as u32,
        index: None,
        merged_manifests: shards.iter().map(|d| d.manifest_sha256.clone()).collect(),
    });
    m.run.run_id = run_id;
    m.run.started_at = started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    m.run.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    // The shards' work, summed; verification and the total are the merge's own.
    m.timings = Timings {
        plan_ms: shards.iter().map(|d| d.manifest.timings.plan_ms).sum(),
        side_tables_ms: shards
            .iter()
            .map(|d| d.manifest.timings.side_tables_ms)
            .sum(),
        process_ms: shards
            .iter()
            .map(|d| d.manifest.timings.process_ms)
            .sum::<u64>()
            + dedup_ms.unwrap_or(0),
        dedup_ms,
        verify_ms,
        total_ms: millis(started),
    };
    if m.counts.kept + m.counts.dropped != m.counts.rows_in {
        return Err(Failure::runtime(anyhow!(
            "internal check failed: the shards' counts do not add up ({} kept + {} dropped != {} in)",
            m.counts.kept,
            m.counts.dropped,
            m.counts.rows_in
        )));
    }
    write_manifest(&staging.dir, &m)?;
    check_interrupted()?;
    publish(&mut staging, &args.out)?;
    info!(
        shards = shards.len(),
        rows_in = m.counts.rows_in,
        kept = m.counts.kept,
        "Published the merged output."
    );
    println!(
        "optgate merge: {} shards, {} posts in, {} kept, {} dropped ({}) -> {}",
        shards.len(),
        m.counts.rows_in,
        m.counts.kept,
        m.counts.dropped,
        m.counts
            .dropped_by_reason
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        args.out.display()
    );
    Ok(())
}

/// Opens every shard output and checks that together they are one plan's
/// shards, each once, all verified, from the same policy, tool and tables.
/// Returns them in shard order.
fn open_shards(dirs: &[PathBuf]) -> Result<Vec<Dataset>, Failure> {
    let mut by_index: HashMap<u32, Dataset> = HashMap::new();
    let mut plan: Option<(String, u32)> = None;
    for dir in dirs {
        let ds = Dataset::open(dir)?;
        let where_ = dir.display();
        ds.require_intact()?;
        let shard = match &ds.manifest.shard {
            Some(s) if s.index.is_some() => s.clone(),
            _ => {
                return Err(Failure::input(anyhow!(
                    "{where_}: not a shard output (made without optgate run --plan --shard)"
                )));
            }
        };
        let index = shard.index.expect("checked above");
        if !ds.manifest.verification.passed || !ds.policy_digest_ok {
            return Err(Failure::input(anyhow!(
                "{where_}: shard {index} did not pass its verification"
            )));
        }
        match &plan {
            None => plan = Some((shard.plan_sha256.clone(), shard.shards)),
            Some((sha, n)) if *sha != shard.plan_sha256 || *n != shard.shards => {
                return Err(Failure::input(anyhow!(
                    "{where_}: shard of another plan ({} of {}, plan {}), not of plan {} ({n} shards)",
                    index,
                    shard.shards,
                    &shard.plan_sha256[..12.min(shard.plan_sha256.len())],
                    &sha[..12.min(sha.len())]
                )));
            }
            Some(_) => {}
        }
        if let Some(other) = by_index.get(&index) {
            return Err(Failure::input(anyhow!(
                "shard {index} is given twice: {} and {where_}",
                other.dir.display()
            )));
        }
        by_index.insert(index, ds);
    }
    let (_, n) = plan.expect("at least one shard");
    let missing: Vec<String> = (0..n)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Failure::input(anyhow!(
            "the plan has {n} shards; missing: shard {}",
            missing.join(", shard ")
        )));
    }
    let shards: Vec<Dataset> = (0..n)
        .map(|i| by_index.remove(&i).expect("all present"))
        .collect();
    let m0 = &shards[0].manifest;
    for ds in &shards[1..] {
        let m = &ds.manifest;
        let i = m.shard.as_ref().and_then(|s| s.index).unwrap_or(0);
        let mismatch = |what: &str| {
            Failure::input(anyhow!(
                "shard {i} ({}) differs from shard 0 in its {what}: shards must share it",
                ds.dir.display()
            ))
        };
        if m.policy.sha256 != m0.policy.sha256 {
            return Err(mismatch("policy"));
        }
        if m.tool != m0.tool {
            return Err(mismatch("optgate version"));
        }
        if m.inputs.accounts.sha256 != m0.inputs.accounts.sha256 {
            return Err(mismatch("accounts file"));
        }
        let table = |t: &Option<optgate_manifest::TableSnapshot>| {
            t.as_ref()
                .map(|s| (s.sha256.clone(), s.keys_sha256.clone()))
        };
        if table(&m.inputs.optouts) != table(&m0.inputs.optouts) {
            return Err(mismatch("objection registry"));
        }
        if table(&m.inputs.consents) != table(&m0.inputs.consents) {
            return Err(mismatch("consent registry"));
        }
        if m.pii.applied != m0.pii.applied {
            return Err(mismatch("scrubbing setting"));
        }
    }
    Ok(shards)
}

/// Hard-links `from` to `to` (same file system, no copy), else copies it;
/// either way hands the file to `sync` to be flushed. A file a shard's run
/// wrote is on disk already, and flushing it costs next to nothing, but
/// shards copied from elsewhere may not be.
fn link_or_copy(from: &Path, to: &Path, sync: &SyncQueue) -> Result<(), Failure> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))
            .map_err(Failure::runtime)?;
    }
    if fs::hard_link(from, to).is_ok() {
        flush_file(to, Some(sync))?;
        return Ok(());
    }
    copy_flushed(from, to, Some(sync))?;
    Ok(())
}
