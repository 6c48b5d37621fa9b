//! `optgate verify OUT`: checks a published output without trusting the run
//! that wrote it, against the tables it recorded or newer ones.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::anyhow;
use optgate_core::IdKey;
use optgate_io::verify::{Claim, Finding, verify_output};
use optgate_io::{kept_post_keys, plan_posts, sha256_file};
use optgate_manifest::Assertion;
use rayon::prelude::*;
use serde_json::json;

use crate::dataset::{Dataset, TableOverrides, load_tables};
use crate::exit::Failure;

/// Arguments of `optgate verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The output directory to check.
    pub out: PathBuf,
    /// Check against this accounts file instead of the one recorded.
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Check against this objection registry (e.g. tonight's) instead of the one recorded.
    #[arg(long)]
    pub optouts: Option<PathBuf>,
    /// Check against this consent registry instead of the one recorded.
    #[arg(long)]
    pub consents: Option<PathBuf>,
    /// Also check that every output row comes from these inputs with the policy applied.
    #[arg(long)]
    pub posts: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Worker threads [default: the number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
}

fn finding(
    name: &str,
    description: &str,
    expected: u64,
    actual: u64,
    examples: Vec<String>,
) -> Finding {
    Finding {
        assertion: Assertion {
            name: name.to_owned(),
            description: description.to_owned(),
            expected,
            actual,
            passed: expected == actual,
        },
        examples,
    }
}

pub fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let ds = Dataset::open(&args.out)?;
    let threads = crate::worker_threads(args.threads);
    let pool = crate::worker_pool(threads.max(1)).map_err(Failure::runtime)?;
    let over = TableOverrides {
        accounts: args.accounts.clone(),
        optouts: args.optouts.clone(),
        consents: args.consents.clone(),
    };
    let loaded = load_tables(&ds, &over)?;
    let m = &ds.manifest;

    let mut findings = vec![
        finding(
            "manifest_digest",
            "manifest.json has the SHA-256 recorded beside it in manifest.json.sha256",
            0,
            u64::from(ds.recorded_sha256.as_deref() != Some(ds.manifest_sha256.as_str())),
            match &ds.recorded_sha256 {
                None => vec!["manifest.json.sha256 is missing".to_owned()],
                Some(r) if *r != ds.manifest_sha256 => {
                    vec![format!("recorded {r}, computed {}", ds.manifest_sha256)]
                }
                Some(_) => Vec::new(),
            },
        ),
        finding(
            "policy_digest",
            "the recorded policy has the SHA-256 the manifest gives it",
            0,
            u64::from(!ds.policy_digest_ok),
            Vec::new(),
        ),
    ];
    let counts_ok = m.counts.kept + m.counts.dropped == m.counts.rows_in
        && m.counts.dropped_by_reason.values().sum::<u64>() == m.counts.dropped;
    findings.push(finding(
        "counts_add_up",
        "kept + dropped = rows in, and the dropped posts per reason add up to dropped",
        0,
        u64::from(!counts_ok),
        Vec::new(),
    ));
    if let Some(sha) = m
        .inputs
        .optouts
        .as_ref()
        .and_then(|t| t.keys_sha256.as_ref())
    {
        let path = ds.dir.join(optgate_io::registry::OPTOUTS_KEYS);
        let problem = optgate_io::registry::read_keys(&path, sha).err();
        findings.push(finding(
            "registry_snapshot",
            "the objection registry snapshot beside the output has the key-set SHA-256 the manifest records",
            0,
            u64::from(problem.is_some()),
            problem.map(|e| e.to_string()).into_iter().collect(),
        ));
    }
    let temp = std::env::temp_dir();
    let (exact_dedup, near_dedup) = crate::dedup_checks(m)?;
    let claim = Claim {
        out_dir: &ds.dir,
        outputs: &m.outputs,
        ledger: &m.ledger,
        kept: m.counts.kept,
        dropped_by_reason: &m.counts.dropped_by_reason,
        // `--posts` compares every output key with the inputs' kept keys, so
        // it keeps them in memory; otherwise they spill to the temp directory.
        scratch: args.posts.is_none().then_some(temp.as_path()),
        exact_dedup,
        near_dedup,
        keys: m.dedup.as_ref().map_or(&[], |d| &d.keys),
    };
    let report =
        pool.install(|| verify_output(&claim, &ds.columns.posts, &ds.policy, &loaded.tables))?;
    findings.extend(report.findings);

    if let Some(posts) = &args.posts {
        findings
            .extend(pool.install(|| check_inputs(&ds, posts, &loaded.tables, &report.post_keys))?);
    }

    let passed = findings.iter().all(|f| f.assertion.passed);
    if args.json {
        let out = json!({
            "out": args.out.display().to_string(),
            "passed": passed,
            "assertions": findings.iter().map(|f| json!({
                "name": f.assertion.name,
                "description": f.assertion.description,
                "expected": f.assertion.expected,
                "actual": f.assertion.actual,
                "passed": f.assertion.passed,
                "examples": f.examples,
            })).collect::<Vec<_>>(),
            "tables": loaded.snapshots.iter().map(|(name, read, recorded)| json!({
                "table": name,
                "path": read.path,
                "distinct_ids": read.distinct_ids,
                "sha256": read.sha256,
                "recorded_sha256": recorded.as_ref().map(|r| r.sha256.clone()),
                "recorded_distinct_ids": recorded.as_ref().map(|r| r.distinct_ids),
            })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(Failure::runtime)?
        );
    } else {
        println!("optgate verify: {}", args.out.display());
        for (name, read, recorded) in &loaded.snapshots {
            let note = match recorded {
                Some(r) if r.sha256 == read.sha256 => "the one the run used".to_owned(),
                Some(r) => format!(
                    "NOT the one the run used ({} distinct ids now, {} then)",
                    read.distinct_ids, r.distinct_ids
                ),
                None => "not recorded by the run".to_owned(),
            };
            println!("  {name:<9} {} ({note})", read.path);
        }
        let width = findings
            .iter()
            .map(|f| f.assertion.name.len())
            .max()
            .unwrap_or(0);
        for f in &findings {
            let a = &f.assertion;
            let status = if a.passed { "PASS" } else { "FAIL" };
            println!(
                "  {status}  {:<width$}  {} (expected {}, found {})",
                a.name, a.description, a.expected, a.actual
            );
            if !a.passed {
                for e in &f.examples {
                    println!("          {e}");
                }
            }
        }
        let failed = findings.iter().filter(|f| !f.assertion.passed).count();
        if failed == 0 {
            println!("All {} assertions hold.", findings.len());
        } else {
            println!("{failed} of {} assertions FAILED.", findings.len());
        }
    }
    if passed {
        Ok(())
    } else {
        // The list above is the message; the exit status says it failed.
        Err(Failure::assertion_failed(anyhow!(
            "{}: verification failed",
            args.out.display()
        )))
    }
}

/// With `--posts`: the inputs are the ones recorded, and every output row is
/// a post the policy keeps from them.
fn check_inputs(
    ds: &Dataset,
    posts: &std::path::Path,
    tables: &optgate_core::SideTables,
    output_keys: &[IdKey],
) -> Result<Vec<Finding>, Failure> {
    let plan = plan_posts(posts, &ds.columns.posts)?;
    let recorded = &ds.manifest.inputs.posts;
    let hashes: Vec<(String, u64)> = plan
        .files
        .par_iter()
        .map(|f| sha256_file(&f.path))
        .collect::<Result<_, _>>()?;
    let mut differing = Vec::new();
    let found: HashSet<&str> = plan.files.iter().map(|f| f.rel_path.as_str()).collect();
    for (f, (sha, bytes)) in plan.files.iter().zip(&hashes) {
        match recorded.iter().find(|r| r.path == f.rel_path) {
            None => differing.push(format!("{}: not an input of the run", f.rel_path)),
            Some(r) if r.sha256 != *sha || r.bytes != *bytes => {
                differing.push(format!(
                    "{}: content differs from the run's input",
                    f.rel_path
                ));
            }
            Some(_) => {}
        }
    }
    for r in recorded {
        if !found.contains(r.path.as_str()) {
            differing.push(format!("{}: input of the run, missing now", r.path));
        }
    }
    let kept: Vec<Vec<IdKey>> = plan
        .units
        .par_iter()
        .map(|u| kept_post_keys(&plan, u, &ds.policy, tables))
        .collect::<Result<_, _>>()?;
    // The files read are those hashed above, to the end of the reading.
    for f in &plan.files {
        f.check_unchanged()?;
    }
    let mut kept: Vec<IdKey> = kept.into_iter().flatten().collect();
    kept.sort_unstable();
    let not_kept = output_keys
        .iter()
        .filter(|k| kept.binary_search(k).is_err())
        .count() as u64;
    let missing = kept
        .iter()
        .filter(|k| output_keys.binary_search(k).is_err())
        .count() as u64;
    // Posts dropped after the rules: their text could not be scrubbed, or
    // it duplicates another post's.
    let dropped_late: u64 = ["pii_error", "duplicate"]
        .iter()
        .map(|r| {
            ds.manifest
                .counts
                .dropped_by_reason
                .get(*r)
                .copied()
                .unwrap_or(0)
        })
        .sum();
    Ok(vec![
        finding(
            "inputs_match",
            "posts files that differ from the run's recorded inputs (missing, added or changed)",
            0,
            differing.len() as u64,
            differing.into_iter().take(20).collect(),
        ),
        finding(
            "output_from_inputs",
            "output rows that are not posts the policy keeps from the inputs",
            0,
            not_kept,
            Vec::new(),
        ),
        finding(
            "kept_posts_present",
            "posts the policy keeps from the inputs that are missing from the output (only pii_error and duplicate drops may be)",
            dropped_late,
            missing,
            Vec::new(),
        ),
    ])
}
