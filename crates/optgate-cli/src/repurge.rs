//! `optgate repurge --from OUT_PREV --optouts NEW --out OUT_NEW`: applies new
//! objections to a published output without the original dumps. Every row of
//! every author now in the registry is removed; the removed posts join the
//! ledger (reason `opted_out`); the new version is verified against the new
//! registry before it is published, and supersedes the old one.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use anyhow::anyhow;
use arrow_array::{BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;
use optgate_core::{IdColumn, ReasonSet};
use optgate_io::ledger::LedgerBuilder;
use optgate_io::registry::{OPTOUTS_KEYS, write_keys};
use optgate_io::verify::{Claim, verify_output};
use optgate_io::write::PlainColumns;
use optgate_io::{ParquetSource, PartWriter, WriteOptions, copy_flushed};
use optgate_manifest::{OutputFile, Repurge};
use tracing::info;

use crate::dataset::{Dataset, TableOverrides, load_tables};
use crate::exit::Failure;
use crate::publish::{OutLock, Staging, check_interrupted, out_parts, publish};
use crate::run::{verified, write_manifest};

/// Arguments of `optgate repurge`.
#[derive(Debug, clap::Args)]
pub struct RepurgeArgs {
    /// The published output to purge.
    #[arg(long)]
    pub from: PathBuf,
    /// The objection registry to apply (tonight's).
    #[arg(long)]
    pub optouts: PathBuf,
    /// Where to publish the purged version (may be --from itself with --overwrite).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Accept a registry that lost ids since the output was made (recorded).
    #[arg(long)]
    pub allow_registry_shrink: bool,
}

pub fn repurge(args: &RepurgeArgs) -> Result<(), Failure> {
    let started_at = chrono::Utc::now();
    let run_id = crate::run::new_run_id(started_at.timestamp_micros());
    let _lock = OutLock::acquire_for_publish(&args.out, &run_id, args.overwrite)?;
    let ds = Dataset::open(&args.from)?;
    ds.require_intact()?;
    let loaded = load_tables(
        &ds,
        &TableOverrides {
            optouts: Some(args.optouts.clone()),
            ..TableOverrides::default()
        },
    )?;
    let objectors = loaded
        .tables
        .optouts
        .as_ref()
        .ok_or_else(|| Failure::input(anyhow!("no objection registry loaded")))?;
    let new_snapshot = loaded
        .snapshots
        .iter()
        .find(|(t, _, _)| *t == "optouts")
        .map(|(_, s, _)| s.clone())
        .expect("the registry was loaded");
    let (registry_check, _) =
        crate::run::check_registry(&ds, objectors, args.allow_registry_shrink)?;

    let (parent, name) = out_parts(&args.out)?;
    let mut staging = Staging::create(&parent, &name, &run_id)?;
    // Every file of the new version, written or copied, is flushed to disk
    // on a thread of its own, and all are before it is verified.
    let syncer = crate::file_syncer()?;
    let options = WriteOptions {
        zstd_level: ds
            .manifest
            .policy
            .resolved
            .pointer("/output/zstd_level")
            .and_then(|v| v.as_i64())
            .unwrap_or(3) as i32,
        sync: Some(syncer.queue()),
    };
    let author_col = &ds.columns.posts.author_id;
    let post_col = &ds.columns.posts.post_id;
    let mut outputs = Vec::new();
    let mut ledger: Vec<OutputFile> = Vec::new();
    let mut removed_rows = 0u64;
    let mut removed_authors = HashSet::new();
    let mut opted_out = ReasonSet::EMPTY;
    opted_out.insert(optgate_core::DropReason::OptedOut);
    for f in &ds.manifest.outputs {
        check_interrupted()?;
        let path = ds.dir.join(&f.path);
        let src = ParquetSource::open(&path)?;
        let file_name = f.path.trim_start_matches("data/").to_owned();
        // The part's input file and row group, from its name.
        let (input_file, row_group) = part_origin(&file_name, &ds);
        let mut ledger_rows = LedgerBuilder::new(&input_file, row_group);
        let author_idx = src.column("posts", "author_id", author_col)?;
        let post_idx = src.column("posts", "post_id", post_col)?;
        let all: Vec<usize> = (0..src.metadata.schema().fields().len()).collect();
        let mut kept_batches: Vec<RecordBatch> = Vec::new();
        let mut removed_here = 0u64;
        for batch in src.read_columns(&all)? {
            let batch = batch?;
            let authors = IdColumn::new(batch.column(author_idx));
            let posts = IdColumn::new(batch.column(post_idx));
            let mut keep = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let key = authors.and_then(|a| a.key(i));
                let objected = key.is_some_and(|k| objectors.contains(k));
                if objected {
                    removed_here += 1;
                    removed_authors.insert(key);
                    let mut id_text = itoa::Buffer::new();
                    ledger_rows.push(
                        posts.as_ref().and_then(|p| p.text_in(i, &mut id_text)),
                        opted_out,
                    );
                }
                keep.push(Some(!objected));
            }
            let mask = BooleanArray::from(keep);
            kept_batches.push(filter_record_batch(&batch, &mask).map_err(|e| {
                Failure::runtime(anyhow!("{}: cannot filter: {e}", path.display()))
            })?);
        }
        removed_rows += removed_here;
        let target = staging.dir.join(&f.path);
        if removed_here == 0 {
            // Untouched: the same bytes, the same digest.
            copy_flushed(&path, &target, options.sync.as_ref())?;
            outputs.push(f.clone());
        } else if f.rows > removed_here {
            let schema = src.metadata.schema().clone();
            let plain = PlainColumns::for_posts(&schema, &ds.columns.posts);
            let mut w = PartWriter::create(&target, schema, &options, &plain)?;
            for b in kept_batches.iter().filter(|b| b.num_rows() > 0) {
                w.write(b)?;
            }
            let (rows, bytes, sha256) = w.finish()?;
            outputs.push(OutputFile {
                path: f.path.clone(),
                rows,
                bytes,
                sha256,
            });
        }
        if let Some(l) = ledger_rows.write(
            &staging.dir.join("ledger"),
            &format!("repurge-{run_id}-{file_name}"),
            &options,
        )? {
            ledger.push(l);
        }
    }
    // The previous ledger files, as they were.
    for l in &ds.manifest.ledger {
        copy_flushed(
            &ds.dir.join(&l.path),
            &staging.dir.join(&l.path),
            options.sync.as_ref(),
        )?;
    }
    let mut all_ledger = ds.manifest.ledger.clone();
    all_ledger.extend(ledger);
    write_keys(&staging.dir.join(OPTOUTS_KEYS), objectors)?;

    let mut m = ds.manifest.clone();
    m.counts.kept -= removed_rows;
    m.counts.dropped += removed_rows;
    *m.counts
        .dropped_by_reason
        .entry("opted_out".into())
        .or_insert(0) += removed_rows;
    *m.counts
        .failing_by_rule
        .entry("opted_out".into())
        .or_insert(0) += removed_rows;
    let dropped_by_reason: BTreeMap<String, u64> = m.counts.dropped_by_reason.clone();
    let (exact_dedup, near_dedup) = crate::dedup_checks(&m)?;
    let claim = Claim {
        out_dir: &staging.dir,
        outputs: &outputs,
        ledger: &all_ledger,
        kept: m.counts.kept,
        dropped_by_reason: &dropped_by_reason,
        // Spill post-id keys into the staging directory rather than hold
        // them all: memory stays flat however large the output.
        scratch: Some(&staging.dir),
        exact_dedup,
        near_dedup,
        // Not carried over (see below).
        keys: &[],
    };
    syncer.wait()?;
    check_interrupted()?;
    let report = verify_output(&claim, &ds.columns.posts, &ds.policy, &loaded.tables)?;
    let verification = verified(&report.findings, "purged")?;
    m.verification = verification;
    m.outputs = outputs;
    m.ledger = all_ledger;
    m.inputs.optouts = Some(new_snapshot);
    m.supersedes = Some(ds.manifest_sha256.clone());
    m.registry_check = registry_check;
    m.objection_latency = None;
    m.incremental = None;
    // The keys files are not carried over: they list the purged authors'
    // posts that were removed as duplicates, which the part files do not
    // show, so the next incremental run processes every unit again.
    if let Some(d) = m.dedup.as_mut() {
        d.keys.clear();
    }
    // The purged version is no longer exactly what the shards wrote.
    m.shard = None;
    m.repurge = Some(Repurge {
        from_manifest_sha256: ds.manifest_sha256.clone(),
        removed_rows,
        removed_authors: removed_authors.len() as u64,
    });
    m.run.run_id = run_id;
    m.run.started_at = started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    m.run.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    write_manifest(&staging.dir, &m)?;
    check_interrupted()?;
    publish(&mut staging, &args.out)?;
    info!(
        removed_rows,
        removed_authors = removed_authors.len(),
        "Published the purged output."
    );
    println!(
        "optgate repurge: removed {removed_rows} rows of {} authors; {} rows kept in {}",
        removed_authors.len(),
        m.counts.kept,
        args.out.display()
    );
    Ok(())
}

/// `part-FFFFF-GGGGG.parquet` → (input file path, row group).
fn part_origin(file_name: &str, ds: &Dataset) -> (String, usize) {
    let parse = || -> Option<(usize, usize)> {
        let stem = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let (f, g) = stem.split_once('-')?;
        Some((f.parse().ok()?, g.parse().ok()?))
    };
    match parse() {
        Some((f, g)) => (
            ds.manifest
                .inputs
                .posts
                .get(f)
                .map_or_else(|| file_name.to_owned(), |p| p.path.clone()),
            g,
        ),
        None => (file_name.to_owned(), 0),
    }
}
