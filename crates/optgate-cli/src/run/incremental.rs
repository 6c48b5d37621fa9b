//! `--incremental`: which posts files the previous run read in exactly this
//! form, so that their units' parts are reused rather than processed again
//! (`optgate_io::incremental` does the reusing).

use anyhow::anyhow;
use optgate_core::DedupMode;
use optgate_io::PostsPlan;
use optgate_manifest::TableSnapshot;
use tracing::info;

use crate::dataset::Dataset;
use crate::exit::Failure;

/// What a reused unit must agree with: this run's policy, side tables and
/// deduplication mode.
pub(super) struct Now<'a> {
    pub policy_sha256: &'a str,
    pub accounts: &'a TableSnapshot,
    pub consents: Option<&'a TableSnapshot>,
    /// Whether the run reads an objection registry, and whether the
    /// objectors new since the previous run are known.
    pub optouts: bool,
    pub new_objectors_known: bool,
    pub dedup: DedupMode,
}

/// For each posts file of `plan` (with its digest and size in `hashes`),
/// the index of the same file among the previous run's inputs, if its
/// units may be reused; and, when nothing may be, the reason.
pub(super) fn reusable_files(
    plan: &PostsPlan,
    hashes: &[(String, u64)],
    previous: Option<&Dataset>,
    incremental: bool,
    now: &Now<'_>,
) -> Result<(Vec<Option<usize>>, Option<String>), Failure> {
    let none = vec![None; plan.files.len()];
    let prev = match (previous, incremental) {
        (_, false) => return Ok((none, None)),
        (None, true) => {
            return Err(Failure::input(anyhow!(
                "--incremental needs the previous output: --previous DIR, or --overwrite of an existing OUT"
            )));
        }
        (Some(prev), true) => prev,
    };
    let pm = &prev.manifest;
    let why = if pm.policy.sha256 != now.policy_sha256 {
        Some("the policy changed")
    } else if pm.inputs.accounts.sha256 != now.accounts.sha256 {
        Some("the accounts changed")
    } else if pm.inputs.consents.as_ref().map(|c| &c.sha256) != now.consents.map(|c| &c.sha256) {
        Some("the consent registry changed")
    } else if now.optouts && !now.new_objectors_known {
        Some("the previous output has no registry snapshot")
    } else if now.dedup != DedupMode::Off
        && !pm.outputs.is_empty()
        && pm.dedup.as_ref().is_none_or(|d| d.keys.is_empty())
    {
        // A repurged output, or one made before keys files were.
        Some("the previous output holds no keys files to deduplicate reused units by")
    } else if now.dedup == DedupMode::Near && crate::near_params_of(pm.dedup.as_ref()).is_err() {
        // Its keys files hold signatures and band keys that this run's
        // cannot be compared with: another optgate's (the record that
        // verification and merge refuse for the same reason).
        Some(
            "the previous output's near signatures were made another way than this optgate makes them",
        )
    } else {
        None
    };
    if let Some(w) = why {
        info!(reason = w, "Incremental: processing everything.");
        return Ok((none, Some(w.to_owned())));
    }
    Ok((
        plan.files
            .iter()
            .zip(hashes)
            .map(|(f, (sha, bytes))| {
                pm.inputs
                    .posts
                    .iter()
                    .position(|p| p.path == f.rel_path && p.sha256 == *sha && p.bytes == *bytes)
            })
            .collect(),
        None,
    ))
}
