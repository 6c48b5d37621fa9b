//! `optgate bench-floor` (hidden): the end-to-end benchmark's floor. Decodes
//! every post of the configured posts directory and re-encodes it to zstd
//! Parquet with the reader, writer, work units and thread pool of `optgate
//! run`, and does nothing else. `make bench` alternates it with full runs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use optgate_io::floor::{FloorOutcome, floor_unit};
use optgate_io::{WriteOptions, plan_posts};
use rayon::prelude::*;

use crate::config::LoadedConfig;
use crate::exit::Failure;

/// Arguments of `optgate bench-floor`.
#[derive(Debug, clap::Args)]
pub struct BenchFloorArgs {
    /// Config file: the posts directory, column names and zstd level are used.
    /// Without one, the default policy (configs/default.toml) applies.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory for the re-encoded parts; must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads [default: the number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn bench_floor(args: &BenchFloorArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let loaded = LoadedConfig::load_or_default(args.config.as_deref())?;
    let posts = loaded
        .config
        .inputs
        .posts
        .as_ref()
        .ok_or_else(|| Failure::input(anyhow!("the config names no posts directory")))?;
    let plan = plan_posts(posts, &loaded.config.columns.posts)?;
    std::fs::create_dir(&args.out)
        .map_err(|e| Failure::runtime(anyhow!("{}: cannot create: {e}", args.out.display())))?;
    // The run's thread pool (see run.rs).
    let threads = crate::worker_threads(args.threads);
    let pool = crate::worker_pool(threads).map_err(Failure::runtime)?;
    // Files flushed as the run flushes them (see run.rs).
    let syncer = crate::file_syncer()?;
    let options = WriteOptions {
        zstd_level: loaded.config.output.zstd_level,
        sync: Some(syncer.queue()),
    };
    let outcomes = pool.install(|| {
        plan.units
            .par_iter()
            .map(|u| floor_unit(&plan, u, &args.out, &options))
            .collect::<Result<Vec<FloorOutcome>, _>>()
    })?;
    syncer.wait()?;
    let rows: u64 = outcomes.iter().map(|o| o.rows).sum();
    let text_bytes: u64 = outcomes.iter().map(|o| o.text_bytes).sum();
    if rows != plan.rows() {
        return Err(Failure::runtime(anyhow!(
            "re-encoded {rows} rows of {}",
            plan.rows()
        )));
    }
    println!(
        "{}",
        serde_json::json!({
            "rows": rows,
            "text_bytes": text_bytes,
            "wall_ms": started.elapsed().as_millis() as u64,
        })
    );
    Ok(())
}
