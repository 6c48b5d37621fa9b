//! Sharded runs: `optgate plan` splits the work units of a posts directory
//! into N shards balanced by size; `optgate run --plan --shard K` processes
//! one of them; `optgate merge` (merge.rs) publishes all of them as one dataset.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use optgate_io::{IoError, PostsPlan, plan_posts, sha256_file};
use optgate_manifest::canonical_json_pretty;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::LoadedConfig;
use crate::exit::Failure;

pub const PLAN_VERSION: u32 = 1;

/// One input file as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Relative to the posts directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows: u64,
    pub row_groups: usize,
}

/// One work unit (a row group of a file) and its shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanUnit {
    /// Index into `files`.
    pub file: usize,
    pub row_group: usize,
    pub rows: u64,
    /// Compressed bytes of the row group, from the footer: what balances shards.
    pub bytes: u64,
    pub shard: u32,
}

/// `optgate plan`'s output: deterministic for the same inputs and shard count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub plan_version: u32,
    /// As given to `plan`, for information: a shard may see the same files
    /// under another path (another machine's mount of shared storage).
    pub posts_dir: String,
    pub shards: u32,
    pub files: Vec<PlanFile>,
    pub units: Vec<PlanUnit>,
    /// Compressed bytes per shard.
    pub shard_bytes: Vec<u64>,
    /// Rows per shard.
    pub shard_rows: Vec<u64>,
}

impl Plan {
    /// Reads a plan file; returns it and the SHA-256 of its bytes.
    pub fn read(path: &Path) -> Result<(Plan, String), Failure> {
        let bytes = fs::read(path)
            .with_context(|| format!("{}: cannot read the plan", path.display()))
            .map_err(Failure::input)?;
        let plan: Plan = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not an optgate plan", path.display()))
            .map_err(Failure::input)?;
        if plan.plan_version != PLAN_VERSION {
            return Err(Failure::input(anyhow!(
                "{}: plan_version {} is not the version this optgate reads ({PLAN_VERSION})",
                path.display(),
                plan.plan_version
            )));
        }
        Ok((plan, optgate_io::sha256_hex(&bytes)))
    }
}

/// Splits units into `shards` by compressed size: largest first, each to the
/// lightest shard so far (lowest index on ties). Deterministic.
pub fn assign_shards(unit_bytes: &[u64], shards: u32) -> Vec<u32> {
    let mut order: Vec<usize> = (0..unit_bytes.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(unit_bytes[i]), i));
    let mut load = vec![0u64; shards as usize];
    let mut out = vec![0u32; unit_bytes.len()];
    for i in order {
        let s = (0..load.len())
            .min_by_key(|&s| (load[s], s))
            .expect("at least one shard");
        load[s] += unit_bytes[i];
        out[i] = s as u32;
    }
    out
}

/// Builds the plan of `posts` planned as `optgate run` plans it.
pub fn make_plan(posts: &PostsPlan, hashes: &[(String, u64)], shards: u32) -> Plan {
    let unit_bytes: Vec<u64> = posts
        .units
        .iter()
        .map(|u| {
            let f = &posts.files[u.file];
            f.row_group_bytes(u.row_group)
        })
        .collect();
    let assigned = assign_shards(&unit_bytes, shards);
    let mut shard_bytes = vec![0u64; shards as usize];
    let mut shard_rows = vec![0u64; shards as usize];
    let units = posts
        .units
        .iter()
        .zip(unit_bytes.iter().zip(&assigned))
        .map(|(u, (bytes, shard))| {
            shard_bytes[*shard as usize] += bytes;
            shard_rows[*shard as usize] += u.rows;
            PlanUnit {
                file: u.file,
                row_group: u.row_group,
                rows: u.rows,
                bytes: *bytes,
                shard: *shard,
            }
        })
        .collect();
    Plan {
        plan_version: PLAN_VERSION,
        posts_dir: posts.dir.display().to_string(),
        shards,
        files: posts
            .files
            .iter()
            .zip(hashes)
            .map(|(f, (sha256, bytes))| PlanFile {
                path: f.rel_path.clone(),
                bytes: *bytes,
                sha256: sha256.clone(),
                rows: f.rows(),
                row_groups: f.row_groups(),
            })
            .collect(),
        units,
        shard_bytes,
        shard_rows,
    }
}

/// Arguments of `optgate plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Config file (TOML): the posts directory and column names are used.
    /// Without one, the default policy (configs/default.toml) applies.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Posts directory (overrides inputs.posts).
    #[arg(long)]
    pub posts: Option<PathBuf>,
    /// Number of shards.
    #[arg(long)]
    pub shards: u32,
    /// Where to write the plan (JSON).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn plan(args: &PlanArgs) -> Result<(), Failure> {
    if args.shards == 0 {
        return Err(Failure::input(anyhow!("--shards must be at least 1")));
    }
    let loaded = LoadedConfig::load_or_default(args.config.as_deref())?;
    let posts_dir = args
        .posts
        .clone()
        .or_else(|| loaded.config.inputs.posts.clone())
        .ok_or_else(|| {
            Failure::input(anyhow!(
                "no posts directory: pass --posts or set inputs.posts"
            ))
        })?;
    let posts = plan_posts(&posts_dir, &loaded.config.columns.posts)?;
    let hashes: Vec<(String, u64)> = posts
        .files
        .par_iter()
        .map(|f| sha256_file(&f.path))
        .collect::<Result<_, IoError>>()?;
    let plan = make_plan(&posts, &hashes, args.shards);
    let value = serde_json::to_value(&plan).map_err(Failure::runtime)?;
    let text = canonical_json_pretty(&value).map_err(Failure::runtime)?;
    let tmp = args.out.with_extension("json.tmp");
    crate::publish::write_private(&tmp, format!("{text}\n").as_bytes())
        .and_then(|()| fs::rename(&tmp, &args.out))
        .with_context(|| format!("{}: cannot write the plan", args.out.display()))
        .map_err(Failure::runtime)?;
    let empty = plan.shard_rows.iter().filter(|r| **r == 0).count();
    if empty > 0 {
        tracing::warn!(
            empty,
            units = plan.units.len(),
            "Some shards have no work unit: fewer row groups than shards."
        );
    }
    println!(
        "optgate plan: {} work units of {} files in {} shards, {}",
        plan.units.len(),
        plan.files.len(),
        plan.shards,
        args.out.display()
    );
    Ok(())
}

/// The shard of a plan this run processes.
pub struct ShardSelection {
    pub plan_sha256: String,
    pub shards: u32,
    pub index: u32,
    pub files: Vec<PlanFile>,
}

/// Checks that the posts directory is the one `plan` describes (same files,
/// sizes, rows and row groups; digests are checked once hashed) and keeps
/// only the work units of shard `index`.
pub fn select_shard(
    path: &Path,
    index: u32,
    posts: &mut optgate_io::PostsPlan,
) -> Result<ShardSelection, Failure> {
    let (plan, plan_sha256) = Plan::read(path)?;
    if index >= plan.shards {
        return Err(Failure::input(anyhow!(
            "--shard {index}: the plan {} has shards 0 to {}",
            path.display(),
            plan.shards - 1
        )));
    }
    let differs = |what: String| {
        Failure::input(anyhow!(
            "{}: the posts directory differs from the plan {} ({what}); make a new plan",
            posts.dir.display(),
            path.display()
        ))
    };
    if plan.files.len() != posts.files.len() {
        return Err(differs(format!(
            "{} files, the plan has {}",
            posts.files.len(),
            plan.files.len()
        )));
    }
    for (f, p) in posts.files.iter().zip(&plan.files) {
        let bytes = fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0);
        if f.rel_path != p.path
            || bytes != p.bytes
            || f.rows() != p.rows
            || f.row_groups() != p.row_groups
        {
            return Err(differs(format!("{} is not as planned", f.rel_path)));
        }
    }
    let same_units = plan.units.len() == posts.units.len()
        && plan
            .units
            .iter()
            .zip(&posts.units)
            .all(|(p, u)| p.file == u.file && p.row_group == u.row_group && p.rows == u.rows);
    if !same_units {
        return Err(differs("its work units are not the planned ones".into()));
    }
    let shard_of: Vec<u32> = plan.units.iter().map(|u| u.shard).collect();
    let mut k = 0;
    posts.units.retain(|_| {
        let keep = shard_of[k] == index;
        k += 1;
        keep
    });
    Ok(ShardSelection {
        plan_sha256,
        shards: plan.shards,
        index,
        files: plan.files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_balanced_and_deterministic() {
        let bytes = [10, 40, 30, 20, 10, 50, 5, 5];
        let a = assign_shards(&bytes, 3);
        assert_eq!(a, assign_shards(&bytes, 3));
        let mut load = [0u64; 3];
        for (b, s) in bytes.iter().zip(&a) {
            load[*s as usize] += b;
        }
        // 170 bytes over 3 shards: greedy largest-first gives 60/55/55.
        assert!(
            load.iter().max().unwrap_or(&0) - load.iter().min().unwrap_or(&0) <= 10,
            "{load:?}"
        );
        assert_eq!(assign_shards(&bytes, 1), vec![0; 8]);
        assert!(assign_shards(&[], 4).is_empty());
    }
}
