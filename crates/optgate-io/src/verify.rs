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
use arrow_array::types::Int32Type;
use optgate_core::policy::PostColumnNames;
use optgate_core::{AgeStatus, ConsentMode, IdColumn, IdKey, Policy, SideTables, StrColumn};
use optgate_manifest::{Assertion, OutputFile};
use rayon::prelude::*;

use crate::error::{IoError, Result};
use crate::hash::sha256_file;
use crate::ledger;
use crate::near::NearSpill;
use crate::read::{ParquetSource, projected_position, timestamp_micros};
use crate::spill::{MAX_OPEN_FILES, Partitions, take_partition};

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
    /// Where the post-id keys may be spilled when there are more than
    /// [`KEYS_IN_MEMORY`]: verification then holds at most that many at
    /// once, whatever the size of the output. `None` keeps them all in
    /// memory and returns them in [`Report::post_keys`].
    pub scratch: Option<&'a Path>,
    /// Whether the output claims to hold no exact duplicates (`[dedup]
    /// mode = "exact"`): checked on the text column, keyed anew.
    pub exact_dedup: bool,
    /// Near mode's settings, when no two kept posts may be near duplicates.
    pub near_dedup: Option<optgate_core::NearParams>,
    /// The keys files (exact mode, [`crate::keys`]).
    pub keys: &'a [OutputFile],
}

/// At most this many post-id keys (8 bytes each, 8 MiB) are held at once
/// when a scratch directory is given.
pub const KEYS_IN_MEMORY: usize = 1 << 20;

/// The findings, and the keys of the output's post ids (sorted), when they
/// were kept in memory (see [`Claim::scratch`]).
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
    /// 64-bit keys of the normalised texts, when exact duplicates are checked.
    text_keys: Vec<IdKey>,
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
    // The labels through their dictionaries, as the run reads them; a
    // column that is also an id stays a plain string column.
    let [post_id, author_id, _, platform, kind, visibility] = indices[..] else {
        unreachable!("one index per name");
    };
    let labels: Vec<usize> = [platform, kind, visibility]
        .into_iter()
        .filter(|i| ![post_id, author_id].contains(i))
        .collect();
    let metadata = src.with_label_dictionaries(&labels)?;
    for batch in src.read_columns_with(&metadata, &sorted)? {
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
        // Lookups in tight loops of their own, one table at a time, so that
        // their cache misses overlap (as in the filter's rules).
        let n = batch.num_rows();
        let authors: Vec<Option<IdKey>> = (0..n).map(|i| author.key(i)).collect();
        let ages = tables.accounts.lookup_each(&authors);
        let objected = tables
            .optouts
            .as_ref()
            .map_or_else(|| vec![false; n], |s| s.contains_each(&authors));
        let consented = match policy.mode {
            ConsentMode::Consent => tables
                .consents
                .as_ref()
                .map_or_else(|| vec![false; n], |s| s.contains_each(&authors)),
            ConsentMode::OptOut => vec![true; n],
        };
        for i in 0..n {
            tally.rows += 1;
            let flag = |rule: Rule, tally: &mut FileTally| {
                let k = rule as usize;
                tally.violations[k] += 1;
                if tally.examples[k].len() < EXAMPLES {
                    tally.examples[k].push(post.text(i).unwrap_or_else(|| "(null id)".into()));
                }
            };
            let (Some(post_key), Some(_), Some(micros), Some(p), Some(k), Some(v)) = (
                post.key(i),
                authors[i],
                timestamp_micros(created, i),
                platform.get(i),
                kind.get(i),
                visibility.get(i),
            ) else {
                flag(Rule::NoInvalidRow, tally);
                continue;
            };
            tally.keys.push(post_key);
            match ages[i].0 {
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
            if objected[i] {
                flag(Rule::NoObjector, tally);
            }
            if !consented[i] {
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
    verify_output_with(claim, cols, policy, tables, KEYS_IN_MEMORY)
}

/// [`verify_output`] with the in-memory key budget as a parameter, so tests
/// can exercise the spilling path on small outputs.
pub fn verify_output_with(
    claim: &Claim<'_>,
    cols: &PostColumnNames,
    policy: &Policy,
    tables: &SideTables,
    keys_in_memory: usize,
) -> Result<Report> {
    let spill = match claim.scratch {
        // Partitions are checked one per thread at a time, so each gets an
        // equal share of the budget.
        Some(dir) if claim.kept > keys_in_memory as u64 => Some(KeySpill::create(
            dir,
            claim
                .kept
                .div_ceil((keys_in_memory / rayon::current_num_threads()).max(1) as u64),
        )?),
        _ => None,
    };
    let text_spill = match &spill {
        Some(_) if claim.exact_dedup => Some(KeySpill::create(
            claim.scratch.expect("a spill has a scratch directory"),
            claim
                .kept
                .div_ceil((keys_in_memory / rayon::current_num_threads()).max(1) as u64),
        )?),
        _ => None,
    };
    // Near mode: every output post's signature, made again from the file.
    let near_dir = match claim.near_dedup {
        Some(_) => {
            let scratch = claim
                .scratch
                .map_or_else(std::env::temp_dir, Path::to_path_buf);
            Some(
                tempfile::Builder::new()
                    .prefix(".optgate-verify-near-")
                    .tempdir_in(&scratch)
                    .map_err(|source| IoError::Write {
                        path: scratch.clone(),
                        source,
                    })?,
            )
        }
        None => None,
    };
    let near_spill = match (claim.near_dedup, &near_dir) {
        (Some(params), Some(dir)) => Some(NearSpill::create(dir.path(), claim.kept, params, None)?),
        _ => None,
    };
    let tallies: Vec<FileTally> = claim
        .outputs
        .par_iter()
        .enumerate()
        .map(|(index, f)| {
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
            let near = near_spill
                .as_ref()
                .map(|n| (n, u32::try_from(index).unwrap_or(u32::MAX)));
            if claim.exact_dedup && t.unreadable.is_none() {
                match text_keys(&path, &cols.text, None, near) {
                    Ok(keys) => t.text_keys = keys.into_iter().map(|(k, _)| k).collect(),
                    Err(e) => t.unreadable = Some(e.to_string()),
                }
            }
            if let Some(spill) = &spill {
                spill.add(std::mem::take(&mut t.keys))?;
            }
            if let Some(spill) = &text_spill {
                spill.add(std::mem::take(&mut t.text_keys))?;
            }
            Ok(t)
        })
        .collect::<Result<_>>()?;

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
    findings.push(no_repeats(
        "post_ids_unique",
        "no post id appears twice in the output",
        &repeated_of(spill, &mut keys)?,
        |dup_keys| exact_duplicates(claim, cols, dup_keys),
    )?);

    if claim.exact_dedup {
        // Texts: none twice, after normalisation. Equal 64-bit keys are
        // confirmed on the normalised texts themselves.
        let mut text_keys: Vec<IdKey> = tallies
            .iter()
            .flat_map(|t| t.text_keys.iter().copied())
            .collect();
        findings.push(no_repeats(
            "no_exact_duplicates",
            "no two output posts have the same text after normalisation ([dedup] mode exact or near)",
            &repeated_of(text_spill, &mut text_keys)?,
            |dup_keys| exact_text_duplicates(claim, cols, dup_keys),
        )?);
    }

    if let Some(spill) = near_spill {
        let params = *spill.params();
        let (pairs, shown) = spill.similar_pairs(claim.outputs.len(), EXAMPLES)?;
        let at =
            |(unit, row): (u32, u32)| format!("{} row {row}", claim.outputs[unit as usize].path);
        findings.push(Finding {
            assertion: assertion(
                "no_near_duplicates",
                &format!(
                    "no two output posts share a band of their signatures (made again) and agree on {} of the bins filled in either ({} when all {} are; [dedup] mode near)",
                    params.threshold,
                    params.agreeing_needed(),
                    params.permutations
                ),
                0,
                pairs,
            ),
            examples: shown
                .into_iter()
                .map(|(a, b)| format!("{} and {}", at(a), at(b)))
                .collect(),
        });
    }
    drop(near_dir);

    findings.extend(check_ledger(claim)?);
    if !claim.keys.is_empty() || claim.exact_dedup {
        findings.push(check_keys(claim)?);
    }
    Ok(Report {
        findings,
        post_keys: keys,
    })
}

/// The finding `name`: no repeat among the rows whose keys repeat
/// (`dup_keys`), as `confirm` counts them (the repeats, and examples).
fn no_repeats(
    name: &str,
    description: &str,
    dup_keys: &[IdKey],
    confirm: impl FnOnce(&[IdKey]) -> Result<(u64, Vec<String>)>,
) -> Result<Finding> {
    let (repeats, examples) = if dup_keys.is_empty() {
        (0, Vec::new())
    } else {
        confirm(dup_keys)?
    };
    Ok(Finding {
        assertion: assertion(name, description, 0, repeats),
        examples,
    })
}

/// The keys that occur more than once: those of `spill`, when the keys went
/// there (`held` is then empty), else of `held`, sorted in place.
fn repeated_of(spill: Option<KeySpill>, held: &mut [IdKey]) -> Result<Vec<IdKey>> {
    match spill {
        Some(spill) => spill.repeated_keys(),
        None => {
            held.par_sort_unstable();
            Ok(repeated(held))
        }
    }
}

/// The keys that occur more than once in sorted `keys`, each once.
fn repeated(keys: &[IdKey]) -> Vec<IdKey> {
    let mut dup: Vec<IdKey> = keys
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    dup.dedup();
    dup
}

/// Post-id keys spilled to disk in partitions by their top bits, so that
/// repeats are found one partition at a time. Keys are uniform hashes, so
/// partitions hold about the same number.
struct KeySpill {
    dir: tempfile::TempDir,
    bits: u32,
    parts: Partitions,
}

impl KeySpill {
    /// At least `partitions` partitions (rounded up to a power of two, at
    /// most [`MAX_OPEN_FILES`]) in a new temporary directory under `scratch`.
    fn create(scratch: &Path, partitions: u64) -> Result<KeySpill> {
        let dir = tempfile::Builder::new()
            .prefix(".optgate-keys-")
            .tempdir_in(scratch)
            .map_err(|source| IoError::Write {
                path: scratch.to_path_buf(),
                source,
            })?;
        let n = partitions.clamp(1, MAX_OPEN_FILES).next_power_of_two();
        let parts = Partitions::create(dir.path(), "keys", n as usize)?;
        Ok(KeySpill {
            dir,
            bits: n.ilog2(),
            parts,
        })
    }

    fn partition(&self, key: IdKey) -> usize {
        if self.bits == 0 {
            0
        } else {
            (key >> (64 - self.bits)) as usize
        }
    }

    /// Appends one file's keys, each partition's in one write (grouped in a
    /// single pass: a partition's keys are sorted when it is read back).
    fn add(&self, keys: Vec<IdKey>) -> Result<()> {
        let mut counts = vec![0usize; self.parts.len()];
        for k in &keys {
            counts[self.partition(*k)] += 1;
        }
        let mut runs: Vec<Vec<u8>> = counts.iter().map(|c| Vec::with_capacity(c * 8)).collect();
        for k in keys {
            runs[self.partition(k)].extend_from_slice(&k.to_le_bytes());
        }
        self.parts.append_runs(&mut runs)
    }

    /// The keys that occur more than once, reading one partition per
    /// thread at a time.
    fn repeated_keys(self) -> Result<Vec<IdKey>> {
        let KeySpill { dir, parts, .. } = self;
        let per_part: Vec<Vec<IdKey>> = parts
            .finish()?
            .into_par_iter()
            .map(|path| {
                let mut keys = take_partition(&path, |bytes| {
                    (bytes.len() % 8 == 0).then(|| {
                        bytes
                            .chunks_exact(8)
                            .map(|c| IdKey::from_le_bytes(c.try_into().expect("8 bytes")))
                            .collect::<Vec<IdKey>>()
                    })
                })?;
                keys.sort_unstable();
                Ok(repeated(&keys))
            })
            .collect::<Result<_>>()?;
        drop(dir);
        let mut dup: Vec<IdKey> = per_part.into_iter().flatten().collect();
        dup.sort_unstable();
        Ok(dup)
    }
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

/// The 64-bit key of each row's normalised text (xxh3-64, a hash of its own
/// rather than the run's), with the row's post id and, for rows whose key
/// is in `only`, the normalised text; rows with a null text have no key.
fn text_keys(
    path: &Path,
    text: &str,
    only: Option<&[IdKey]>,
    near: Option<(&NearSpill, u32)>,
) -> Result<Vec<(IdKey, Option<String>)>> {
    let src = ParquetSource::open(path)?;
    let index = src.column("posts", "text", text)?;
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let mut near_runs = near.map(|(n, _)| n.runs());
    let mut near_scratch = optgate_core::near::SignatureScratch::default();
    let mut sig = optgate_core::near::Signature::default();
    let mut row = 0u32;
    for batch in src.read_columns(&[index])? {
        let batch = batch?;
        let column = StrColumn::new(batch.column(0)).ok_or_else(|| IoError::ColumnType {
            path: path.to_path_buf(),
            column: text.to_owned(),
            found: batch.column(0).data_type().to_string(),
            expected: "utf8",
        })?;
        for i in 0..batch.num_rows() {
            let this_row = row;
            row += 1;
            let Some(t) = column.get(i) else {
                if let (Some((n, _)), Some(runs)) = (near, near_runs.as_mut()) {
                    n.push_none(runs);
                }
                continue;
            };
            optgate_core::dedup::normalize_bytes(t, &mut scratch);
            if let (Some((n, unit)), Some(runs)) = (near, near_runs.as_mut()) {
                optgate_core::near::signature(n.params(), &scratch, &mut near_scratch, &mut sig);
                n.push_signature(runs, &sig, unit, this_row);
            }
            let key = xxhash_rust::xxh3::xxh3_64(&scratch);
            match only {
                None => out.push((key, None)),
                Some(keys) if keys.binary_search(&key).is_ok() => {
                    out.push((key, Some(String::from_utf8_lossy(&scratch).into_owned())));
                }
                Some(_) => {}
            }
        }
        if let (Some((n, unit)), Some(runs)) = (near, near_runs.as_mut()) {
            n.write_runs(runs, unit)?;
        }
    }
    Ok(out)
}

/// Counts the output rows whose normalised text repeats one seen before,
/// among rows whose text key is in `dup_keys`; the examples are the files
/// that hold them.
fn exact_text_duplicates(
    claim: &Claim<'_>,
    cols: &PostColumnNames,
    dup_keys: &[IdKey],
) -> Result<(u64, Vec<String>)> {
    let mut seen = HashSet::new();
    let mut dups = 0u64;
    let mut examples = Vec::new();
    for f in claim.outputs {
        let path = claim.out_dir.join(&f.path);
        let rows = text_keys(&path, &cols.text, Some(dup_keys), None)?;
        for (_, text) in rows {
            if !seen.insert(text.unwrap_or_default()) {
                dups += 1;
                if examples.len() < EXAMPLES {
                    examples.push(f.path.clone());
                }
            }
        }
    }
    Ok((dups, examples))
}

/// Digest, size and rows of a ledger file, and its rows per reason.
fn read_ledger_file(path: &Path) -> Result<(String, u64, u64, BTreeMap<String, u64>)> {
    let (sha, bytes) = sha256_file(path)?;
    let src = ParquetSource::open(path)?;
    let index = src.column("ledger", "reason", ledger::REASON)?;
    let wrong = |found: &arrow_schema::DataType| IoError::ColumnType {
        path: path.to_path_buf(),
        column: ledger::REASON.into(),
        found: found.to_string(),
        expected: "utf8",
    };
    // The reasons come as a dictionary (a utf8 column always does), counted
    // by key: a ledger row costs an increment, not a copy of its reason and a
    // map lookup.
    let mut n = 0u64;
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let metadata = src.with_label_dictionaries(&[index])?;
    for batch in src.read_columns_with(&metadata, &[index])? {
        let batch = batch?;
        let column = batch.column(0);
        let (keys, values) = column
            .as_dictionary_opt::<Int32Type>()
            .and_then(|d| Some((d.keys(), d.values().as_string_opt::<i32>()?)))
            .ok_or_else(|| wrong(column.data_type()))?;
        let mut per_key = vec![0u64; values.len()];
        let mut unkeyed = 0u64;
        for k in keys {
            match k.and_then(|k| usize::try_from(k).ok()) {
                Some(k) if k < per_key.len() => per_key[k] += 1,
                _ => unkeyed += 1,
            }
        }
        let counted = per_key
            .into_iter()
            .enumerate()
            .map(|(k, c)| (values.is_valid(k).then(|| values.value(k)), c))
            .chain([(None, unkeyed)]);
        for (reason, count) in counted.filter(|(_, c)| *c > 0) {
            *by_reason
                .entry(reason.unwrap_or("(null)").to_owned())
                .or_default() += count;
        }
        n += column.len() as u64;
    }
    Ok((sha, bytes, n, by_reason))
}

/// The keys files: as recorded, none unlisted, and each one's posts that
/// were not removed as duplicates as many as its part's rows.
fn check_keys(claim: &Claim<'_>) -> Result<Finding> {
    let part_rows: std::collections::HashMap<&str, u64> = claim
        .outputs
        .iter()
        .filter_map(|f| Some((f.path.strip_prefix("data/")?, f.rows)))
        .collect();
    let problems: Vec<Vec<String>> = claim
        .keys
        .par_iter()
        .map(|f| -> Vec<String> {
            let path = claim.out_dir.join(&f.path);
            match sha256_file(&path) {
                Ok((sha, bytes)) if sha == f.sha256 && bytes == f.bytes => {}
                Ok(_) => {
                    return vec![format!(
                        "{}: SHA-256 or size differs from the manifest",
                        f.path
                    )];
                }
                Err(e) => return vec![format!("{}: {e}", f.path)],
            }
            let (rows, kept) = match crate::keys::rows_and_kept(&path) {
                Ok(n) => n,
                Err(e) => return vec![format!("{}: {e}", f.path)],
            };
            let mut out = Vec::new();
            if rows != f.rows {
                out.push(format!(
                    "{}: {rows} rows, the manifest says {}",
                    f.path, f.rows
                ));
            }
            let name = f.path.strip_prefix("keys/").unwrap_or(&f.path);
            let part = part_rows.get(name).copied().unwrap_or(0);
            if kept != part {
                out.push(format!(
                    "{}: {kept} posts not removed as duplicates, the part holds {part}",
                    f.path
                ));
            }
            out
        })
        .collect();
    let listed: HashSet<&str> = claim.keys.iter().map(|f| f.path.as_str()).collect();
    let unlisted = unlisted_files(
        &claim.out_dir.join(crate::keys::DIR),
        crate::keys::DIR,
        &listed,
    );
    let bad: Vec<String> = problems
        .into_iter()
        .flatten()
        .chain(
            unlisted
                .into_iter()
                .map(|p| format!("{p}: not in the manifest")),
        )
        .collect();
    Ok(Finding {
        assertion: assertion(
            "keys_files_match",
            "keys files whose SHA-256, size or rows differ from the manifest, that it does not list, or whose posts kept differ from their part's",
            0,
            bad.len() as u64,
        ),
        examples: bad.into_iter().take(EXAMPLES).collect(),
    })
}

/// The ledger: files as recorded, rows per reason equal to the manifest.
fn check_ledger(claim: &Claim<'_>) -> Result<Vec<Finding>> {
    let mut bad_files = Vec::new();
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = 0u64;
    let read: Vec<_> = claim
        .ledger
        .par_iter()
        .map(|f| read_ledger_file(&claim.out_dir.join(&f.path)))
        .collect();
    for (f, file) in claim.ledger.iter().zip(read) {
        match file {
            Ok((sha, bytes, n, file_by_reason)) => {
                for (r, c) in file_by_reason {
                    *by_reason.entry(r).or_default() += c;
                }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use optgate_core::policy::PolicyConfig;
    use optgate_core::{AccountIndexBuilder, KeySet, key_of_str};

    use super::*;
    use crate::write::{PartWriter, WriteOptions};

    /// Writes posts `ids` (all by adult, public, allowed authors) as one part file.
    fn part(dir: &Path, name: &str, ids: std::ops::Range<usize>) -> OutputFile {
        let n = ids.len();
        let text = |v: &str| Arc::new(StringArray::from(vec![v; n])) as arrow_array::ArrayRef;
        let schema = Arc::new(Schema::new(vec![
            Field::new("post_id", DataType::Utf8, false),
            Field::new("author_id", DataType::Utf8, true),
            Field::new(
                "created_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("platform", DataType::Utf8, true),
            Field::new("kind", DataType::Utf8, true),
            Field::new("visibility", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(ids.map(|i| format!("p{i}")))),
                text("adult"),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![1_700_000_000_000_000; n])
                        .with_timezone("UTC"),
                ),
                text("facebook"),
                text("post"),
                text("public"),
            ],
        )
        .expect("batch");
        let path = dir.join("data").join(name);
        let mut w =
            PartWriter::create(&path, schema, &WriteOptions::default(), &Default::default())
                .expect("w");
        w.write(&batch).expect("write");
        let (rows, bytes, sha256) = w.finish().expect("finish");
        OutputFile {
            path: format!("data/{name}"),
            rows,
            bytes,
            sha256,
        }
    }

    /// Spilled to disk in partitions or held in memory, the post-id check
    /// finds the same repeats, and the spill leaves nothing behind.
    #[test]
    fn post_id_check_spills_keys_and_finds_the_same_repeats() {
        let out = tempfile::tempdir().expect("out");
        std::fs::create_dir(out.path().join("data")).expect("data");
        // 1,000 posts, then 200 of them again in a second file.
        let outputs = vec![
            part(out.path(), "a.parquet", 0..1000),
            part(out.path(), "b.parquet", 500..700),
        ];
        let mut accounts = AccountIndexBuilder::new(18);
        accounts.push(key_of_str("adult"), Some(0));
        let tables = SideTables {
            accounts: accounts.finish(),
            optouts: Some(KeySet::from_keys(vec![key_of_str("someone else")])),
            consents: None,
        };
        let policy = Policy::resolve(&PolicyConfig::default()).expect("policy");
        let scratch = tempfile::tempdir().expect("scratch");
        let dropped = BTreeMap::new();
        let claim = |scratch| Claim {
            out_dir: out.path(),
            outputs: &outputs,
            ledger: &[],
            kept: 1200,
            dropped_by_reason: &dropped,
            scratch,
            exact_dedup: false,
            near_dedup: None,
            keys: &[],
        };
        let cols = PostColumnNames::default();
        let unique = |r: &Report| {
            r.findings
                .iter()
                .find(|f| f.assertion.name == "post_ids_unique")
                .expect("checked")
                .clone()
        };
        let in_memory =
            verify_output_with(&claim(None), &cols, &policy, &tables, 100).expect("verifies");
        // 1,200 keys over a budget of 100, shared by the threads: at least
        // 12 partitions, checked in parallel.
        let spilled =
            verify_output_with(&claim(Some(scratch.path())), &cols, &policy, &tables, 100)
                .expect("verifies");
        assert_eq!(unique(&in_memory).assertion.actual, 200);
        assert_eq!(unique(&spilled), unique(&in_memory));
        assert_eq!(unique(&spilled).examples.len(), EXAMPLES);
        assert_eq!(in_memory.post_keys.len(), 1200);
        assert!(
            spilled.post_keys.is_empty(),
            "spilled keys are not returned"
        );
        // Every other assertion agrees, and all of them pass.
        let names = |r: &Report| -> Vec<(String, bool)> {
            r.findings
                .iter()
                .map(|f| (f.assertion.name.clone(), f.assertion.passed))
                .collect()
        };
        assert_eq!(names(&spilled), names(&in_memory));
        assert!(
            names(&in_memory)
                .iter()
                .all(|(n, ok)| *ok || n == "post_ids_unique")
        );
        assert_eq!(
            std::fs::read_dir(scratch.path()).expect("scratch").count(),
            0,
            "the spill directory is removed"
        );
    }
}
