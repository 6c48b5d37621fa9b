//! The optgate manifest: what a run read, which policy it applied, what it
//! dropped and why, and what it wrote, as canonical JSON (sorted keys).
//!
//! ```
//! use optgate_manifest::canonical_json;
//! let v = serde_json::json!({"b": 1, "a": {"d": 2, "c": 3}});
//! assert_eq!(canonical_json(&v).unwrap(), r#"{"a":{"c":3,"d":2},"b":1}"#);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the manifest layout; bumped on any incompatible change.
/// 3 added `inputs.posts_layout`, which an optgate that reads only 2
/// would refuse as an unknown field; 4 added `dedup` and the `duplicate`
/// reason; 5 added `dedup.near`; 6 added `timings.dedup_ms`.
pub const MANIFEST_VERSION: u32 = 6;

/// The versions this optgate reads: 2 is 3 without `inputs.posts_layout`,
/// 3 is 4 without `dedup`, 4 is 5 without `dedup.near`, 5 is 6 without
/// `timings.dedup_ms` (outputs published before them, which `--overwrite`,
/// `--previous`, `verify` and `repurge` still take).
pub const READABLE_MANIFEST_VERSIONS: [u32; 5] = [2, 3, 4, 5, 6];

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub manifest_version: u32,
    pub tool: Tool,
    /// Facts of this invocation; the only part that differs between two runs
    /// on the same inputs (with `timings`).
    pub run: RunInfo,
    pub policy: PolicyRecord,
    pub inputs: Inputs,
    pub counts: Counts,
    pub pii: PiiRecord,
    pub outputs: Vec<OutputFile>,
    /// The removal ledger's files (`ledger/…`): one row per dropped post.
    pub ledger: Vec<OutputFile>,
    /// The checks the run made on its own output before publishing it.
    pub verification: Verification,
    /// SHA-256 of the manifest of the output this one replaced, if any.
    pub supersedes: Option<String>,
    /// The objection registry against the previous run's snapshot, when there
    /// was a previous run with one.
    pub registry_check: Option<RegistryCheck>,
    /// Delay from objection to this run, for objections applied for the first time.
    pub objection_latency: Option<ObjectionLatency>,
    /// Set when this version was made by `optgate repurge` from an earlier one.
    pub repurge: Option<Repurge>,
    /// Set for `optgate run --incremental`: what was reused from the previous output.
    pub incremental: Option<Incremental>,
    /// Set for one shard of a planned run, and for the merge of all of them.
    pub shard: Option<Shard>,
    /// What deduplication did; absent from manifests before version 4.
    #[serde(default)]
    pub dedup: Option<DedupRecord>,
    pub timings: Timings,
}

/// Deduplication among the kept posts (`[dedup]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupRecord {
    /// `off`, `exact` or `near`.
    pub mode: String,
    /// How a scrubbed text is normalised before it is keyed.
    pub normalisation: String,
    /// How the key of a normalised text is computed.
    pub key: String,
    /// Which post of a cluster is kept.
    pub survivor: String,
    /// Posts dropped as duplicates (the `duplicate` reason's count).
    pub removed: u64,
    /// Clusters: texts that more than one kept post had.
    pub clusters: u64,
    /// True for one shard of a planned run: its duplicates, within it and
    /// with other shards, are removed by `optgate merge`.
    #[serde(default)]
    pub pending: bool,
    /// In `near` mode, how posts were found alike; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<NearRecord>,
    /// Each unit's keys file (`keys/part-….parquet`): the id, creation time
    /// and key of every post it kept before deduplication (in `near` mode
    /// its signature and band keys too), and the survivor of each it lost;
    /// what an incremental run reads instead of a reused unit's input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<OutputFile>,
}

/// How near duplicates were found (`[dedup]` in `near` mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearRecord {
    /// `chars` or `words` of the normalised text.
    pub shingle: String,
    pub shingle_size: u32,
    /// Entries of a post's MinHash signature.
    pub permutations: u32,
    pub bands: u32,
    pub rows: u32,
    /// The Jaccard similarity at which a candidate pair is confirmed.
    pub threshold: f64,
    /// Bins two signatures must agree on to be confirmed when every bin is
    /// filled in one or the other (of fewer, ⌈threshold × their number⌉).
    pub agreeing_needed: u32,
    pub seed: u64,
    /// How a signature is computed.
    pub signature: String,
    /// Posts that shared a band with another, and were compared.
    pub candidates: u64,
}

/// Where a sharded output sits in its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// SHA-256 of the plan file (`optgate plan`).
    pub plan_sha256: String,
    /// How many shards the plan has.
    pub shards: u32,
    /// This shard's index; `None` for the merged output.
    pub index: Option<u32>,
    /// For the merged output: each shard's manifest SHA-256, in shard order.
    pub merged_manifests: Vec<String>,
}

/// The registry compared with the snapshot the previous run kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCheck {
    pub previous_manifest_sha256: String,
    pub previous_ids: u64,
    pub ids: u64,
    /// Ids in the previous snapshot missing now (refused unless allowed).
    pub lost: u64,
    pub added: u64,
    /// Whether `--allow-registry-shrink` was given.
    pub allow_registry_shrink: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What an incremental run took from the previous output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    pub previous_manifest_sha256: String,
    /// Work units (file × row group) whose part and ledger files were reused.
    pub reused_units: u64,
    pub reprocessed_units: u64,
    /// With exact dedup: reused units whose part was written again without
    /// posts that are now duplicates of new ones (counted as reused).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rewritten_units: u64,
    /// With exact dedup: units first reused, then processed again because a
    /// post they had lost as a duplicate now survives (counted as
    /// reprocessed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redone_units: u64,
    /// Why nothing could be reused (policy, accounts or consents changed), if so.
    pub full_reprocess_reason: Option<String>,
}

/// New objections applied to a published output without its inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repurge {
    pub from_manifest_sha256: String,
    pub removed_rows: u64,
    pub removed_authors: u64,
}

/// How long objections waited to be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectionLatency {
    /// Objectors applied for the first time in this run (with a timestamp).
    pub first_applied: u64,
    pub max_seconds: Option<u64>,
    pub median_seconds: Option<u64>,
}

/// Named assertions checked on the written output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// True when every assertion passed.
    pub passed: bool,
    pub assertions: Vec<Assertion>,
}

/// One named assertion: a count that must equal its expected value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    pub name: String,
    pub description: String,
    pub expected: u64,
    pub actual: u64,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub threads: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    /// SHA-256 of the canonical JSON of `resolved`.
    pub sha256: String,
    /// The policy and column mapping as applied, defaults filled in.
    pub resolved: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    pub posts_dir: String,
    /// How the posts directory was read: plain files, or Hive partitions
    /// with their keys. Absent in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posts_layout: Option<PostsLayout>,
    pub posts: Vec<InputFile>,
    pub accounts: TableSnapshot,
    pub optouts: Option<TableSnapshot>,
    pub consents: Option<TableSnapshot>,
    /// Set when the run was allowed to use an empty objection registry.
    pub allow_empty_registry: bool,
}

/// How a posts directory was laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostsLayout {
    /// `plain` or `hive`.
    pub kind: String,
    /// The Hive partition keys, outermost first, each an output column.
    pub partition_keys: Vec<String>,
}

/// One posts file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Relative to `posts_dir`, with `/` separators.
    pub path: String,
    pub bytes: u64,
    pub rows: u64,
    pub row_groups: usize,
    pub sha256: String,
}

/// Facts about a side table (accounts or a registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSnapshot {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows: u64,
    pub distinct_ids: u64,
    /// Registries: the latest objected_at / consented_at, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latest_at: Option<String>,
    /// Registries: rows whose timestamp is null.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub null_timestamps: Option<u64>,
    /// Accounts: distinct ids whose age is unknown (null or disagreeing birth dates).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unknown_age: Option<u64>,
    /// Consent registry: distinct ids with a consent that is not withdrawn.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub valid_consents: Option<u64>,
    /// Registries: SHA-256 of the sorted set of id keys the run applied (the
    /// objectors, or the authors with a valid consent), 8 bytes
    /// little-endian each. Equal for files that hold the same ids.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keys_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub rows_in: u64,
    pub kept: u64,
    pub dropped: u64,
    /// Dropped posts by the first rule they failed; every reason is listed, zeros included.
    pub dropped_by_reason: BTreeMap<String, u64>,
    /// Posts failing each rule, first or not.
    pub failing_by_rule: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiRecord {
    /// Whether the text of kept posts was scrubbed.
    pub applied: bool,
    /// Entity types scrubbed.
    pub entities: Vec<String>,
    /// Placeholder format (`{}` is the type's tag).
    pub placeholder: String,
    /// Replacements per entity type; every type listed, zeros included.
    pub replacements: BTreeMap<String, u64>,
    /// Kept posts whose text changed.
    pub posts_changed: u64,
}

/// One output data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFile {
    /// Relative to the output directory, with `/` separators.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    pub plan_ms: u64,
    pub side_tables_ms: u64,
    /// The units processed and written, the global phase included.
    pub process_ms: u64,
    /// The global phase alone (deduplication across units, and the parts
    /// written from their spools), part of `process_ms`; absent without
    /// deduplication, and in manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_ms: Option<u64>,
    pub verify_ms: u64,
    pub total_ms: u64,
}

/// Serializes `value` as canonical JSON: object keys sorted, no whitespace.
pub fn canonical_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    // serde_json's Map is a BTreeMap (the preserve_order feature is off), so
    // going through Value sorts the keys of every object, nested ones included.
    serde_json::to_string(&serde_json::to_value(value)?)
}

/// Canonical JSON, pretty-printed for people, with a final newline. Still sorted.
pub fn canonical_json_pretty<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let mut s = serde_json::to_string_pretty(&serde_json::to_value(value)?)?;
    s.push('\n');
    Ok(s)
}

/// Hex SHA-256 of the canonical JSON of `value`.
pub fn canonical_sha256<T: Serialize>(value: &T) -> serde_json::Result<String> {
    Ok(hex::encode(Sha256::digest(
        canonical_json(value)?.as_bytes(),
    )))
}

impl Manifest {
    /// The manifest with what legitimately differs between two identical runs
    /// (run id, times, thread count, timings, the objection latencies, which
    /// are measured to the run's start) blanked, for comparisons.
    pub fn without_run_facts(&self) -> Manifest {
        let mut m = self.clone();
        if let Some(l) = &mut m.objection_latency {
            l.max_seconds = None;
            l.median_seconds = None;
        }
        m.run = RunInfo {
            run_id: String::new(),
            started_at: String::new(),
            finished_at: String::new(),
            threads: 0,
        };
        m.timings = Timings {
            plan_ms: 0,
            side_tables_ms: 0,
            process_ms: 0,
            dedup_ms: None,
            verify_ms: 0,
            total_ms: 0,
        };
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let mut counts = BTreeMap::new();
        counts.insert("z".to_owned(), 1u64);
        counts.insert("a".to_owned(), 2u64);
        let c = Counts {
            rows_in: 3,
            kept: 0,
            dropped: 3,
            dropped_by_reason: counts.clone(),
            failing_by_rule: counts,
        };
        let json = canonical_json(&c).expect("serializes");
        assert_eq!(
            json,
            r#"{"dropped":3,"dropped_by_reason":{"a":2,"z":1},"failing_by_rule":{"a":2,"z":1},"kept":0,"rows_in":3}"#
        );
    }

    #[test]
    fn digest_ignores_field_declaration_order() {
        let a = serde_json::json!({"x": 1, "y": [1, 2]});
        let b = serde_json::json!({"y": [1, 2], "x": 1});
        assert_eq!(
            canonical_sha256(&a).expect("a"),
            canonical_sha256(&b).expect("b")
        );
        assert_ne!(
            canonical_sha256(&a).expect("a"),
            canonical_sha256(&serde_json::json!({"x": 2, "y": [1, 2]})).expect("c")
        );
    }
}
