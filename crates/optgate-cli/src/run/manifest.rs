//! What a run leaves behind besides its data: the verdict of verification
//! and the manifest, written and synced before the output is published.

use std::fs;
use std::path::Path;

use anyhow::anyhow;
use optgate_io::IoError;
use optgate_io::verify::Finding;
use optgate_manifest::{Manifest, Verification, canonical_json_pretty};

use crate::exit::Failure;

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

/// One line per failed assertion, with a few of the posts or files behind it.
fn failed_assertions(findings: &[Finding]) -> String {
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

pub(super) fn summary_line(m: &Manifest, out: &Path, secs: f64) -> String {
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
