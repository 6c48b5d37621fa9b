//! What a run reads before any post: the input paths, the side tables
//! (accounts and registries), the previous output's registry, and the
//! posts files' digests. Everything that can be wrong with the inputs is
//! found here, before any output directory exists.

use std::path::PathBuf;

use anyhow::anyhow;
use optgate_core::{ConsentMode, KeySet, SideTables, prefilter_pays};
use optgate_io::read::ParquetSource;
use optgate_io::registry::{OPTOUTS_KEYS, diff, first_objections, read_keys};
use optgate_io::side_tables::{
    check_accounts, check_consents, check_optouts, load_accounts, load_consents, load_optouts,
};
use optgate_io::{IoError, PostsPlan, sha256_file};
use optgate_manifest::{ObjectionLatency, RegistryCheck, TableSnapshot};
use rayon::prelude::*;
use tracing::info;

use crate::RunArgs;
use crate::config::{Config, LoadedConfig};
use crate::dataset::Dataset;
use crate::exit::Failure;

/// The input paths of a run, its flags over its config, each checked to be
/// given where the policy needs it.
pub(super) struct InputPaths {
    pub posts: PathBuf,
    pub accounts: PathBuf,
    pub optouts: Option<PathBuf>,
    pub consents: Option<PathBuf>,
}

fn required(path: &Option<PathBuf>, what: &str, flag: &str, key: &str) -> Result<PathBuf, Failure> {
    path.clone().ok_or_else(|| {
        Failure::input(anyhow!(
            "no {what} given: pass {flag} or set inputs.{key} in the config"
        ))
    })
}

impl InputPaths {
    pub fn resolve(args: &RunArgs, loaded: &LoadedConfig) -> Result<InputPaths, Failure> {
        let mut inputs = loaded.config.inputs.clone();
        for (flag, slot) in [
            (&args.posts, &mut inputs.posts),
            (&args.accounts, &mut inputs.accounts),
            (&args.optouts, &mut inputs.optouts),
            (&args.consents, &mut inputs.consents),
        ] {
            if flag.is_some() {
                slot.clone_from(flag);
            }
        }
        let mode = loaded.policy.mode;
        Ok(InputPaths {
            posts: required(&inputs.posts, "posts directory", "--posts", "posts")?,
            accounts: required(&inputs.accounts, "accounts file", "--accounts", "accounts")?,
            optouts: match mode {
                ConsentMode::OptOut => Some(required(
                    &inputs.optouts,
                    "objection registry",
                    "--optouts",
                    "optouts",
                )?),
                ConsentMode::Consent => inputs.optouts.clone(),
            },
            consents: match mode {
                ConsentMode::Consent => Some(required(
                    &inputs.consents,
                    "consent registry",
                    "--consents",
                    "consents",
                )?),
                // Opt-out mode does not read consents, even if the config names them.
                ConsentMode::OptOut => None,
            },
        })
    }
}

/// The side tables' files, opened and their schemas checked.
pub(super) struct Sources {
    pub accounts: ParquetSource,
    pub optouts: Option<ParquetSource>,
    pub consents: Option<ParquetSource>,
}

impl Sources {
    pub fn check(paths: &InputPaths, config: &Config) -> Result<Sources, Failure> {
        Ok(Sources {
            accounts: check_accounts(&paths.accounts, &config.columns.accounts)?,
            optouts: paths
                .optouts
                .as_ref()
                .map(|p| check_optouts(p, &config.columns.optouts))
                .transpose()?,
            consents: paths
                .consents
                .as_ref()
                .map(|p| check_consents(p, &config.columns.consents))
                .transpose()?,
        })
    }
}

/// The side tables as the rules read them, and their snapshots for the
/// manifest.
pub(super) struct Loaded {
    pub tables: SideTables,
    pub accounts: TableSnapshot,
    pub optouts: Option<TableSnapshot>,
    pub consents: Option<TableSnapshot>,
}

/// Loads the accounts and the registries side by side. `rows` is the
/// number of posts planned: it decides whether the objection registry's
/// prefilter pays.
pub(super) fn load_side_tables(
    sources: &Sources,
    loaded: &LoadedConfig,
    allow_empty_registry: bool,
    rows: u64,
) -> Result<Loaded, Failure> {
    let (config, policy) = (&loaded.config, &loaded.policy);
    let (accounts, (optouts, consents)) = rayon::join(
        || {
            load_accounts(
                &sources.accounts,
                &config.columns.accounts,
                policy.min_age_years,
            )
        },
        || {
            rayon::join(
                || {
                    sources
                        .optouts
                        .as_ref()
                        .map(|s| load_optouts(s, &config.columns.optouts, allow_empty_registry))
                        .transpose()
                },
                || {
                    sources
                        .consents
                        .as_ref()
                        .map(|s| load_consents(s, &config.columns.consents))
                        .transpose()
                },
            )
        },
    );
    let (accounts, accounts_snap) = accounts?;
    // The key sets move into the tables and the snapshots into the manifest:
    // no second copy of a registry is held.
    let (optouts, optouts_snap) = optouts?.unzip();
    // Every post asks the objection registry, and nearly every answer is no:
    // a prefilter in front of it pays once there are enough posts per id.
    let optouts = optouts.map(|set| {
        if prefilter_pays(set.len(), rows) {
            let set = set.with_prefilter();
            info!(
                ids = set.len(),
                bytes = set.heap_bytes(),
                "Objection registry prefilter built."
            );
            set
        } else {
            set
        }
    });
    let (consents, consents_snap) = consents?.unzip();
    Ok(Loaded {
        tables: SideTables {
            accounts,
            optouts,
            consents,
        },
        accounts: accounts_snap,
        optouts: optouts_snap,
        consents: consents_snap,
    })
}

/// The previous version of the output, and what the registry says against
/// it.
pub(super) struct Prior {
    pub previous: Option<Dataset>,
    pub registry_check: Option<RegistryCheck>,
    pub objection_latency: Option<ObjectionLatency>,
    /// Objectors new since the previous run: a reused unit must have none.
    pub new_objectors: Option<KeySet>,
}

impl Prior {
    /// The previous output: --previous, or OUT itself when it is being
    /// replaced. Its registry snapshot must not lose objections.
    pub fn open(
        args: &RunArgs,
        tables: &SideTables,
        sources: &Sources,
        config: &Config,
        started_at: i64,
    ) -> Result<Prior, Failure> {
        let previous_dir = args.previous.clone().or_else(|| {
            (args.overwrite && args.out.join(super::MANIFEST_FILE).exists())
                .then(|| args.out.clone())
        });
        let previous = previous_dir.as_deref().map(Dataset::open).transpose()?;
        let (registry_check, previous_keys) = match (&previous, &tables.optouts, &sources.optouts) {
            (Some(prev), Some(now), Some(_)) => {
                check_registry(prev, now, args.allow_registry_shrink)?
            }
            _ => (None, None),
        };
        let objection_latency = match &sources.optouts {
            Some(src) => Some(latency(
                &first_objections(src, &config.columns.optouts, previous_keys.as_ref())?,
                started_at,
            )),
            None => None,
        };
        let new_objectors = match (&previous_keys, &tables.optouts) {
            (Some(prev), Some(now)) => Some(KeySet::from_keys(
                now.keys()
                    .iter()
                    .copied()
                    .filter(|k| !prev.contains(*k))
                    .collect(),
            )),
            _ => None,
        };
        Ok(Prior {
            previous,
            registry_check,
            objection_latency,
            new_objectors,
        })
    }
}

/// Each posts file's SHA-256 and size, or nothing for a file this run does
/// not read (`used`): a shard hashes and lists only its own.
pub(super) fn hash_inputs(plan: &PostsPlan, used: &[bool]) -> Result<Vec<(String, u64)>, Failure> {
    Ok(plan
        .files
        .par_iter()
        .zip(used)
        .map(|(f, used)| {
            if *used {
                sha256_file(&f.path)
            } else {
                Ok((String::new(), 0))
            }
        })
        .collect::<Result<_, IoError>>()?)
}

/// Compares the registry with the previous run's snapshot: refuses one that
/// lost ids unless allowed. Returns the check for the manifest and the
/// previous keys (to tell first-time objections).
pub(crate) fn check_registry(
    prev: &Dataset,
    now: &KeySet,
    allow_shrink: bool,
) -> Result<(Option<RegistryCheck>, Option<KeySet>), Failure> {
    let Some(sha) = prev
        .manifest
        .inputs
        .optouts
        .as_ref()
        .and_then(|t| t.keys_sha256.clone())
    else {
        return Ok((None, None));
    };
    let keys = read_keys(&prev.dir.join(OPTOUTS_KEYS), &sha).map_err(Failure::input)?;
    let (lost, added) = diff(&keys, now);
    if lost > 0 && !allow_shrink {
        return Err(Failure::input(anyhow!(
            "the objection registry lost {lost} ids since the previous run ({}, {} ids then, {} now): \
             objections must not disappear; refusing. Pass --allow-registry-shrink if this is \
             intended (the manifest records it)",
            prev.dir.display(),
            keys.len(),
            now.len()
        )));
    }
    Ok((
        Some(RegistryCheck {
            previous_manifest_sha256: prev.manifest_sha256.clone(),
            previous_ids: keys.len() as u64,
            ids: now.len() as u64,
            lost,
            added,
            allow_registry_shrink: allow_shrink,
        }),
        Some(keys),
    ))
}

/// Max and median delay, in seconds, from `objected_at` to the run's start.
pub(crate) fn latency(first_objected: &[i64], run_start_micros: i64) -> ObjectionLatency {
    let mut secs: Vec<u64> = first_objected
        .iter()
        .map(|t| (run_start_micros.saturating_sub(*t).max(0) / 1_000_000) as u64)
        .collect();
    secs.sort_unstable();
    let median = match secs.len() {
        0 => None,
        n if n % 2 == 1 => Some(secs[n / 2]),
        n => Some((secs[n / 2 - 1] + secs[n / 2]) / 2),
    };
    ObjectionLatency {
        first_applied: secs.len() as u64,
        max_seconds: secs.last().copied(),
        median_seconds: median,
    }
}
