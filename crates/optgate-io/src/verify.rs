//! Verification of a written output, without trusting the run that wrote it.
//!
//! Every output file is re-read from disk: its SHA-256 and row count are
//! recomputed, and every row is checked against the policy and the side
//! tables, row by row, with code separate from the filter's batch rules
//! (`optgate_core::evaluate_posts`), so that a defect in one is caught by the
//! other. The ledger is re-read and reconciled with the manifest's counts.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use optgate_core::policy::PostColumnNames;
use optgate_core::{AgeStatus, ConsentMode, IdColumn, IdKey, Policy, SideTables, StrColumn};
use optgate_manifest::{Assertion, OutputFile};
use rayon::prelude::*;

use crate::error::{IoError, Result};
use crate::hash::sha256_file;
use crate::ledger;
use crate::read::{ParquetSource, projected_position, timestamp_micros};

/// How many violating post ids a finding keeps as examples.
const EXAMPLES: usize = 20;

/// An assertion with the post ids (or files) that broke it, a few of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub assertion: Assertion,
    /// Up to 20 post ids or file paths that violate the assertion.
    pub examples: Vec<String>,
}

/// What the output claims, and what to check it against.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The output directory (holding `data/` and `ledger/`).
    pub out_dir: &'a Path,
    pub outputs: &'a [OutputFile],
    pub ledger: &'a [OutputFile],
    pub kept: u64,
    pub dropped_by_reason: &'a BTreeMap<String, u64>,
}

/// The findings, and the keys of the output's post ids (sorted).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub post_keys: Vec<IdKey>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.assertion.passed)
    }
}

/// The row-level assertions, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    NoInvalidRow,
    AuthorHasAccount,
    AgeKnown,
    AdultAtCreation,
    NoPrivateMessage,
    NoExcludedSurface,
    PublicOnly,
    NoObjector,
    ConsentValid,
}

const RULES: [(Rule, &str, &str); 9] = [
    (
        Rule::NoInvalidRow,
        "no_invalid_row",
        "no output post with a null id, author, creation time, platform, kind or visibility",
    ),
    (
        Rule::AuthorHasAccount,
        "author_has_account",
        "no output post by an author without an account",
    ),
    (
        Rule::AgeKnown,
        "age_known",
        "no output post by an author of unknown age",
    ),
    (
        Rule::AdultAtCreation,
        "adult_at_creation",
        "no output post created before its author came of age",
    ),
    (
        Rule::NoPrivateMessage,
        "no_private_message",
        "no private message in the output",
    ),
    (
        Rule::NoExcludedSurface,
        "no_excluded_surface",
        "no output post from an excluded surface",
    ),
    (
        Rule::PublicOnly,
        "public_only",
        "no non-public post in the output where public is required",
    ),
    (
        Rule::NoObjector,
        "no_objector",
        "no output post by an author in the objection registry",
    ),
    (
        Rule::ConsentValid,
        "consent_valid",
        "no output post by an author without a valid consent (consent mode)",
    ),
];

/// Violations found in one output file.
#[derive(Debug, Default)]
struct FileTally {
    rows: u64,
    hash_ok: bool,
    unreadable: Option<String>,
    violations: [u64; 9],
    examples: [Vec<String>; 9],
    keys: Vec<IdKey>,
}

fn check_rows(
    path: &Path,
    cols: &PostColumnNames,
    policy: &Policy,
    tables: &SideTables,
    tally: &mut FileTally,
) -> Result<()> {
    let src = ParquetSource::open(path)?;
    let names = [
        ("post_id", &cols.post_id),
        ("author_id", &cols.author_id),
        ("created_at", &cols.created_at),
        ("platform", &cols.platform),
        ("kind", &cols.kind),
        ("visibility", &cols.visibility),
    ];
    let mut indices = Vec::with_capacity(6);
    for (key, name) in names {
        indices.push(src.column("posts", key, name)?);
    }
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    let pos: Vec<usize> = indices
        .iter()
        .map(|i| projected_position(&sorted, *i))
        .collect();
    for batch in src.read_columns(&sorted)? {
        let batch = batch?;
        let wrong = |column: &str| IoError::ColumnType {
            path: path.to_path_buf(),
            column: column.to_owned(),
            found: "another type".into(),
            expected: "the type of the input column",
        };
        let post = IdColumn::new(batch.column(pos[0])).ok_or_else(|| wrong(&cols.post_id))?;
        let author = IdColumn::new(batch.column(pos[1])).ok_or_else(|| wrong(&cols.author_id))?;
        let created = batch.column(pos[2]);
        let platform = StrColumn::new(batch.column(pos[3])).ok_or_else(|| wrong(&cols.platform))?;
        let kind = StrColumn::new(batch.column(pos[4])).ok_or_else(|| wrong(&cols.kind))?;
        let visibility =
            StrColumn::new(batch.column(pos[5])).ok_or_else(|| wrong(&cols.visibility))?;
        for i in 0..batch.num_rows() {
            tally.rows += 1;
            let flag = |rule: Rule, tally: &mut FileTally| {
                let k = rule as usize;
                tally.violations[k] += 1;
                if tally.examples[k].len() < EXAMPLES {
                    tally.examples[k].push(post.text(i).unwrap_or_else(|| "(null id)".into()));
                }
            };
            let (Some(post_key), Some(author_key), Some(micros), Some(p), Some(k), Some(v)) = (
                post.key(i),
                author.key(i),
                timestamp_micros(created, i),
                platform.get(i),
                kind.get(i),
                visibility.get(i),
            ) else {
                flag(Rule::NoInvalidRow, tally);
                continue;
            };
            tally.keys.push(post_key);
            match tables.accounts.lookup(author_key) {
                AgeStatus::NoAccount => flag(Rule::AuthorHasAccount, tally),
                AgeStatus::Unknown => flag(Rule::AgeKnown, tally),
                AgeStatus::AdultFrom(day) => {
                    let created_day = micros.div_euclid(86_400_000_000);
                    if created_day < i64::from(day) {
                        flag(Rule::AdultAtCreation, tally);
                    }
                }
            }
            let private = policy.private_kinds.contains(k);
            if private {
                flag(Rule::NoPrivateMessage, tally);
            }
            if policy.is_excluded_surface(p, k) {
                flag(Rule::NoExcludedSurface, tally);
            }
            let exempt = !private && policy.public_exempt_kinds.contains(k);
            if !policy.public_visibilities.contains(v) && !exempt {
                flag(Rule::PublicOnly, tally);
            }
            if tables
                .optouts
                .as_ref()
                .is_some_and(|s| s.contains(author_key))
            {
                flag(Rule::NoObjector, tally);
            }
            if policy.mode == ConsentMode::Consent
                && !tables
                    .consents
                    .as_ref()
                    .is_some_and(|s| s.contains(author_key))
            {
                flag(Rule::ConsentValid, tally);
            }
        }
    }
    Ok(())
}

fn assertion(name: &str, description: &str, expected: u64, actual: u64) -> Assertion {
    Assertion {
        name: name.to_owned(),
        description: description.to_owned(),
        expected,
        actual,
        passed: expected == actual,
    }
}

/// Re-reads and checks a written output. Errors only when the output
/// directory itself cannot be read; a damaged file is a failed assertion.
pub fn verify_output(
    claim: &Claim<'_>,
    cols: &PostColumnNames,
    policy: &Policy,
    tables: &SideTables,
) -> Result<Report> {
    let tallies: Vec<FileTally> = claim
        .outputs
        .par_iter()
        .map(|f| {
            let path = claim.out_dir.join(&f.path);
            let mut t = FileTally::default();
            match sha256_file(&path) {
                Ok((sha, bytes)) => t.hash_ok = sha == f.sha256 && bytes == f.bytes,
                Err(e) => t.unreadable = Some(e.to_string()),
            }
            if t.unreadable.is_none()
                && let Err(e) = check_rows(&path, cols, policy, tables, &mut t)
            {
                t.unreadable = Some(e.to_string());
            }
            t
        })
        .collect();

    let mut findings = Vec::new();

    // Files: present, readable, with the recorded digest and row count.
    let mut bad_files = Vec::new();
    for (f, t) in claim.outputs.iter().zip(&tallies) {
        if let Some(e) = &t.unreadable {
            bad_files.push(format!("{}: {e}", f.path));
        } else if !t.hash_ok {
            bad_files.push(format!(
                "{}: SHA-256 or size differs from the manifest",
                f.path
            ));
        } else if t.rows != f.rows {
            bad_files.push(format!(
                "{}: {} rows, the manifest says {}",
                f.path, t.rows, f.rows
            ));
        }
    }
    let listed: HashSet<&str> = claim.outputs.iter().map(|f| f.path.as_str()).collect();
    let unlisted = unlisted_files(&claim.out_dir.join("data"), "data", &listed);
    findings.push(Finding {
        assertion: assertion(
            "output_files_match",
            "output files whose SHA-256, size or rows differ from the manifest, or that it does not list",
            0,
            (bad_files.len() + unlisted.len()) as u64,
        ),
        examples: bad_files
            .into_iter()
            .chain(unlisted.into_iter().map(|p| format!("{p}: not in the manifest")))
            .take(EXAMPLES)
            .collect(),
    });
    let rows: u64 = tallies.iter().map(|t| t.rows).sum();
    findings.push(Finding {
        assertion: assertion(
            "output_rows",
            "rows in the output files equal the manifest's kept count",
            claim.kept,
            rows,
        ),
        examples: Vec::new(),
    });

    // Rows: every rule holds.
    for (rule, name, description) in RULES {
        let k = rule as usize;
        if rule == Rule::ConsentValid && policy.mode != ConsentMode::Consent {
            continue;
        }
        if rule == Rule::NoObjector && tables.optouts.is_none() {
            continue;
        }
        findings.push(Finding {
            assertion: assertion(
                name,
                description,
                0,
                tallies.iter().map(|t| t.violations[k]).sum(),
            ),
            examples: tallies
                .iter()
                .flat_map(|t| t.examples[k].iter().cloned())
                .take(EXAMPLES)
                .collect(),
        });
    }

    // Post ids: each once. Equal keys are confirmed on the ids themselves.
    let mut keys: Vec<IdKey> = tallies
        .iter()
        .flat_map(|t| t.keys.iter().copied())
        .collect();
    keys.sort_unstable();
    let mut dup_keys: Vec<IdKey> = keys
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    dup_keys.dedup();
    let (duplicates, examples) = if dup_keys.is_empty() {
        (0, Vec::new())
    } else {
        exact_duplicates(claim, cols, &dup_keys)?
    };
    findings.push(Finding {
        assertion: assertion(
            "post_ids_unique",
            "no post id appears twice in the output",
            0,
            duplicates,
        ),
        examples,
    });

    findings.extend(check_ledger(claim)?);
    Ok(Report {
        findings,
        post_keys: keys,
    })
}

/// Files under `dir` (recursively) that the manifest does not list.
fn unlisted_files(dir: &Path, prefix: &str, listed: &HashSet<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(unlisted_files(&e.path(), &name, listed));
        } else if !listed.contains(name.as_str()) {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// Counts the rows whose post id text repeats one seen before, among rows
/// whose key is in `dup_keys`.
fn exact_duplicates(
    claim: &Claim<'_>,
    cols: &PostColumnNames,
    dup_keys: &[IdKey],
) -> Result<(u64, Vec<String>)> {
    let mut seen = HashSet::new();
    let mut dups = 0u64;
    let mut examples = Vec::new();
    for f in claim.outputs {
        let src = ParquetSource::open(&claim.out_dir.join(&f.path))?;
        let index = src.column("posts", "post_id", &cols.post_id)?;
        for batch in src.read_columns(&[index])? {
            let batch = batch?;
            let Some(ids) = IdColumn::new(batch.column(0)) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                if let Some(k) = ids.key(i)
                    && dup_keys.binary_search(&k).is_ok()
                {
                    let text = ids.text(i).unwrap_or_default();
                    if !seen.insert(text.clone()) {
                        dups += 1;
                        if examples.len() < EXAMPLES {
                            examples.push(text);
                        }
                    }
                }
            }
        }
    }
    Ok((dups, examples))
}

/// Digest, size and rows of a ledger file; adds its rows per reason to `by_reason`.
fn read_ledger_file(
    path: &Path,
    by_reason: &mut BTreeMap<String, u64>,
) -> Result<(String, u64, u64)> {
    let (sha, bytes) = sha256_file(path)?;
    let src = ParquetSource::open(path)?;
    let index = src.column("ledger", "reason", ledger::REASON)?;
    let mut n = 0u64;
    for batch in src.read_columns(&[index])? {
        let batch = batch?;
        let reasons =
            batch
                .column(0)
                .as_string_opt::<i32>()
                .ok_or_else(|| IoError::ColumnType {
                    path: path.to_path_buf(),
                    column: ledger::REASON.into(),
                    found: batch.column(0).data_type().to_string(),
                    expected: "utf8",
                })?;
        for r in reasons.iter() {
            *by_reason
                .entry(r.unwrap_or("(null)").to_owned())
                .or_default() += 1;
        }
        n += reasons.len() as u64;
    }
    Ok((sha, bytes, n))
}

/// The ledger: files as recorded, rows per reason equal to the manifest.
fn check_ledger(claim: &Claim<'_>) -> Result<Vec<Finding>> {
    let mut bad_files = Vec::new();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = 0u64;
    for f in claim.ledger {
        let path = claim.out_dir.join(&f.path);
        match read_ledger_file(&path, &mut by_reason) {
            Ok((sha, bytes, n)) => {
                if sha != f.sha256 || bytes != f.bytes {
                    bad_files.push(format!(
                        "{}: SHA-256 or size differs from the manifest",
                        f.path
                    ));
                }
                rows += n;
                if n != f.rows {
                    bad_files.push(format!(
                        "{}: {n} rows, the manifest says {}",
                        f.path, f.rows
                    ));
                }
            }
            Err(e) => bad_files.push(format!("{}: {e}", f.path)),
        }
    }
    let listed: HashSet<&str> = claim.ledger.iter().map(|f| f.path.as_str()).collect();
    let unlisted = unlisted_files(&claim.out_dir.join("ledger"), "ledger", &listed);
    let dropped: u64 = claim.dropped_by_reason.values().sum();
    let mut differing = Vec::new();
    let reasons: std::collections::BTreeSet<&String> = claim
        .dropped_by_reason
        .keys()
        .chain(by_reason.keys())
        .collect();
    for r in reasons {
        let (want, got) = (
            claim.dropped_by_reason.get(r).copied().unwrap_or(0),
            by_reason.get(r).copied().unwrap_or(0),
        );
        if want != got {
            differing.push(format!("{r}: ledger {got}, manifest {want}"));
        }
    }
    Ok(vec![
        Finding {
            assertion: assertion(
                "ledger_files_match",
                "ledger files whose SHA-256, size or rows differ from the manifest, or that it does not list",
                0,
                (bad_files.len() + unlisted.len()) as u64,
            ),
            examples: bad_files
                .into_iter()
                .chain(
                    unlisted
                        .into_iter()
                        .map(|p| format!("{p}: not in the manifest")),
                )
                .take(EXAMPLES)
                .collect(),
        },
        Finding {
            assertion: assertion(
                "ledger_rows",
                "the ledger holds one row per dropped post",
                dropped,
                rows,
            ),
            examples: Vec::new(),
        },
        Finding {
            assertion: assertion(
                "ledger_reasons_match",
                "ledger rows per first-failing reason equal the manifest's dropped_by_reason",
                0,
                differing.len() as u64,
            ),
            examples: differing,
        },
    ])
}
