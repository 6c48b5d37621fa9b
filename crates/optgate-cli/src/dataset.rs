//! A published output read back: its manifest (digest checked), the policy
//! it recorded, and the side tables to check it against.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use optgate_core::policy::{ColumnNames, PolicyConfig};
use optgate_core::{ConsentMode, Policy, SideTables};
use optgate_io::side_tables::{
    check_accounts, check_consents, check_optouts, load_accounts, load_consents, load_optouts,
};
use optgate_manifest::{
    MANIFEST_VERSION, Manifest, READABLE_MANIFEST_VERSIONS, TableSnapshot, canonical_sha256,
};

use crate::exit::Failure;
use crate::run::MANIFEST_FILE;

/// An output directory and what its manifest says.
#[derive(Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// SHA-256 of `manifest.json` as it is on disk.
    pub manifest_sha256: String,
    /// The digest `manifest.json.sha256` records, if that file exists.
    pub recorded_sha256: Option<String>,
    /// Whether the recorded policy digest matches the recorded policy.
    pub policy_digest_ok: bool,
    pub policy: Policy,
    pub columns: ColumnNames,
}

impl Dataset {
    pub fn open(dir: &Path) -> Result<Dataset, Failure> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = fs::read(&path)
            .with_context(|| format!("{}: cannot read the manifest", path.display()))
            .map_err(Failure::input)?;
        let manifest_sha256 = optgate_io::sha256_hex(&bytes);
        let recorded_sha256 = fs::read_to_string(dir.join(format!("{MANIFEST_FILE}.sha256")))
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned));
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not JSON", path.display()))
            .map_err(Failure::input)?;
        let version = value.get("manifest_version").and_then(|v| v.as_u64());
        if !version.is_some_and(|v| {
            READABLE_MANIFEST_VERSIONS
                .iter()
                .any(|r| u64::from(*r) == v)
        }) {
            return Err(Failure::input(anyhow!(
                "{}: manifest_version {} is not a version this optgate reads ({READABLE_MANIFEST_VERSIONS:?}; it writes {MANIFEST_VERSION})",
                path.display(),
                version.map_or("(missing)".to_owned(), |v| v.to_string())
            )));
        }
        let manifest: Manifest = serde_json::from_value(value)
            .with_context(|| format!("{}: not an optgate manifest", path.display()))
            .map_err(Failure::input)?;
        let resolved = &manifest.policy.resolved;
        let policy_digest_ok =
            canonical_sha256(resolved).is_ok_and(|d| d == manifest.policy.sha256);
        let field = |name: &str| {
            resolved.get(name).cloned().ok_or_else(|| {
                Failure::input(anyhow!(
                    "{}: policy.resolved.{name} is missing",
                    path.display()
                ))
            })
        };
        let config: PolicyConfig = serde_json::from_value(field("policy")?)
            .with_context(|| format!("{}: policy.resolved.policy", path.display()))
            .map_err(Failure::input)?;
        let columns: ColumnNames = serde_json::from_value(field("columns")?)
            .with_context(|| format!("{}: policy.resolved.columns", path.display()))
            .map_err(Failure::input)?;
        let policy = Policy::resolve(&config).map_err(Failure::input)?;
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
            manifest_sha256,
            recorded_sha256,
            policy_digest_ok,
            policy,
            columns,
        })
    }
}

impl Dataset {
    /// Refuses a manifest that no longer matches the digest written beside
    /// it: commands that build on an output must not trust an edited one.
    pub fn require_intact(&self) -> Result<(), Failure> {
        if self.recorded_sha256.as_deref() == Some(self.manifest_sha256.as_str()) {
            return Ok(());
        }
        Err(Failure::input(anyhow!(
            "{}: manifest.json does not match manifest.json.sha256; run optgate verify",
            self.dir.display()
        )))
    }
}

/// Side tables to check against: those given, else those the manifest recorded.
#[derive(Debug, Default)]
pub struct TableOverrides {
    pub accounts: Option<PathBuf>,
    pub optouts: Option<PathBuf>,
    pub consents: Option<PathBuf>,
}

/// The tables loaded, and for each one the snapshot of what was read next to
/// the one the manifest recorded.
pub struct LoadedTables {
    pub tables: SideTables,
    /// (table, what was read, what the run recorded)
    pub snapshots: Vec<(&'static str, TableSnapshot, Option<TableSnapshot>)>,
}

pub fn load_tables(ds: &Dataset, over: &TableOverrides) -> Result<LoadedTables, Failure> {
    let inputs = &ds.manifest.inputs;
    let cols = &ds.columns;
    let pick = |given: &Option<PathBuf>,
                recorded: Option<&TableSnapshot>,
                what: &str,
                flag: &str| {
        given
            .clone()
            .or_else(|| recorded.map(|s| PathBuf::from(&s.path)))
            .ok_or_else(|| Failure::input(anyhow!("the manifest records no {what}; pass {flag}")))
    };
    let accounts_path = pick(
        &over.accounts,
        Some(&inputs.accounts),
        "accounts file",
        "--accounts",
    )?;
    let src = check_accounts(&accounts_path, &cols.accounts)?;
    let (accounts, accounts_snap) = load_accounts(&src, &cols.accounts, ds.policy.min_age_years)?;
    let mut snapshots = vec![("accounts", accounts_snap, Some(inputs.accounts.clone()))];

    let optouts = if over.optouts.is_some() || inputs.optouts.is_some() {
        let p = pick(
            &over.optouts,
            inputs.optouts.as_ref(),
            "objection registry",
            "--optouts",
        )?;
        let src = check_optouts(&p, &cols.optouts)?;
        // An empty registry is a fact to check against here, not a risk.
        let (set, snap) = load_optouts(&src, &cols.optouts, true)?;
        snapshots.push(("optouts", snap, inputs.optouts.clone()));
        Some(set)
    } else {
        None
    };
    let consents = if ds.policy.mode == ConsentMode::Consent {
        let p = pick(
            &over.consents,
            inputs.consents.as_ref(),
            "consent registry",
            "--consents",
        )?;
        let src = check_consents(&p, &cols.consents)?;
        let (set, snap) = load_consents(&src, &cols.consents)?;
        snapshots.push(("consents", snap, inputs.consents.clone()));
        Some(set)
    } else {
        None
    };
    Ok(LoadedTables {
        tables: SideTables {
            accounts,
            optouts,
            consents,
        },
        snapshots,
    })
}
