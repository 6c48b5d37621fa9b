//! `optgate`: turn raw social-media post dumps into a training corpus that is
//! safe to train on, with a manifest that proves what was done.

mod bench_floor;
mod config;
mod dataset;
mod exit;
mod explain;
mod gen_sample;
mod merge;
mod openlineage;
mod pii_eval;
mod progress;
mod publish;
mod report;
mod repurge;
mod run;
mod shard;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{ExitStatus, Failure};
use crate::progress::ProgressMode;

/// The exit codes of the commands that publish an output (run, repurge, merge).
macro_rules! publish_exit_codes {
    () => {
        "\
Exit codes:
  0  success: the output was verified and published
  1  bad input or config (missing or unreadable file, corrupt Parquet, missing column,
     wrong column type, empty objection registry, existing output, bad flags): nothing published
  2  runtime failure (write error, internal consistency check, verification of the
     written output): nothing published
"
    };
}

const EXIT_CODES: &str = concat!(
    publish_exit_codes!(),
    "  3  (verify only) an assertion does not hold; 4 (explain only) the id is nowhere
  130 interrupted by SIGINT or SIGTERM: staging removed, nothing published"
);

const PUBLISH_EXIT_CODES: &str = concat!(
    publish_exit_codes!(),
    "  130 interrupted by SIGINT or SIGTERM: staging removed, nothing published"
);

const GEN_SAMPLE_EXIT_CODES: &str = "\
Exit codes:
  0  the sample was written
  1  bad flags
  2  a file could not be written";

const PLAN_EXIT_CODES: &str = "\
Exit codes:
  0  the plan was written
  1  bad input or config (missing or unreadable posts file, corrupt Parquet, missing
     column, wrong column type, bad flags)
  2  the plan could not be written";

const EXPLAIN_EXIT_CODES: &str = "\
Exit codes:
  0  the post or author was found, and where it stands is printed
  1  the output or an input cannot be read, or bad flags
  4  the post id is in neither the dataset nor its ledger; or the author has no
     account and no post in the inputs (what is known is still printed)";

const REPORT_EXIT_CODES: &str = "\
Exit codes:
  0  the report was written
  1  the output cannot be read, or bad flags
  2  the report could not be written";

#[derive(Debug, Parser)]
#[command(name = "optgate", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the policy to a posts directory and write a cleaned dataset with its manifest.
    #[command(after_help = PUBLISH_EXIT_CODES)]
    Run(RunArgs),
    /// Write a deterministic sample dataset (posts, accounts, registries) for trying and benchmarking.
    #[command(after_help = GEN_SAMPLE_EXIT_CODES)]
    GenSample(GenSampleArgs),
    /// Measure the personal-data scanner on labelled corpora (precision, recall, leaks).
    PiiEval(pii_eval::PiiEvalArgs),
    /// Check a published output against its manifest and the policy, with the
    /// recorded side tables or newer ones (exit 0 only when every assertion holds).
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(verify::VerifyArgs),
    /// Is this post (or any post of this author) in the dataset, and if not, which rule excluded it.
    #[command(after_help = EXPLAIN_EXIT_CODES)]
    Explain(explain::ExplainArgs),
    /// Write a self-contained HTML report and a Markdown summary of an output.
    #[command(after_help = REPORT_EXIT_CODES)]
    Report(report::ReportArgs),
    /// Apply new objections to a published output without the original dumps:
    /// remove every row of every author now in the registry, verify, publish.
    #[command(after_help = PUBLISH_EXIT_CODES)]
    Repurge(repurge::RepurgeArgs),
    /// Split the work units of a posts directory into N shards balanced by size,
    /// for `run --plan --shard` on several machines and `merge`.
    #[command(after_help = PLAN_EXIT_CODES)]
    Plan(shard::PlanArgs),
    /// Publish the shards of one plan as one dataset, verified as a whole.
    #[command(after_help = PUBLISH_EXIT_CODES)]
    Merge(merge::MergeArgs),
    /// The end-to-end benchmark's floor: decode and re-encode every post, nothing else.
    #[command(hide = true)]
    BenchFloor(bench_floor::BenchFloorArgs),
}

const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  every assertion holds
  1  the output, its manifest or a table cannot be read (a bad file, not a verdict), or bad flags
  2  runtime failure (cannot start workers)
  3  an assertion does not hold (listed): the output breaks the policy or its manifest";

/// Arguments of `optgate run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Config file (TOML): inputs, policy, column names, output settings.
    /// Without one, the default policy (configs/default.toml) applies.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Posts directory (overrides inputs.posts).
    #[arg(long)]
    pub posts: Option<PathBuf>,
    /// Accounts Parquet file (overrides inputs.accounts).
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Objection registry Parquet file (overrides inputs.optouts).
    #[arg(long)]
    pub optouts: Option<PathBuf>,
    /// Consent registry Parquet file (overrides inputs.consents).
    #[arg(long)]
    pub consents: Option<PathBuf>,
    /// Output directory; must not exist unless --overwrite.
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads [default: the number of CPUs].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Progress bar on stderr.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Replace an existing output directory (only once the new one is complete).
    #[arg(long)]
    pub overwrite: bool,
    /// Accept an objection registry with no rows (recorded in the manifest).
    #[arg(long)]
    pub allow_empty_registry: bool,
    /// Also write an OpenLineage RunEvent (COMPLETE or FAIL) to this file.
    #[arg(long)]
    pub openlineage: Option<PathBuf>,
    /// The previous version of this output (default: OUT itself with --overwrite):
    /// its registry snapshot is checked and its manifest superseded.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// Accept an objection registry that lost ids since the previous run (recorded in the manifest).
    #[arg(long)]
    pub allow_registry_shrink: bool,
    /// Reuse the previous output's work for input files that did not change
    /// (same size and SHA-256) under the same policy and accounts.
    #[arg(long)]
    pub incremental: bool,
    /// Only warnings and errors on stderr, no summary on stdout: for cron.
    #[arg(long, short)]
    pub quiet: bool,
    /// A plan from `optgate plan`: process only the work units of --shard.
    #[arg(long, requires = "shard", conflicts_with = "incremental")]
    pub plan: Option<PathBuf>,
    /// The shard of --plan to process (0-based).
    #[arg(long, requires = "plan")]
    pub shard: Option<u32>,
}

/// Arguments of `optgate gen-sample`.
#[derive(Debug, clap::Args)]
pub struct GenSampleArgs {
    /// Number of posts.
    #[arg(long)]
    pub posts: u64,
    /// Output directory (created; existing sample files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write ids (post_id, author_id, user_id) as int64 instead of utf8.
    #[arg(long)]
    pub int_ids: bool,
    /// Number of posts files [default: one per 250,000 posts, at least 4].
    #[arg(long)]
    pub files: Option<usize>,
    /// Rows per row group [default: four row groups per file].
    #[arg(long)]
    pub row_group_rows: Option<usize>,
    /// Also write DIR/dedup-truth.jsonl: how each post's text was made and
    /// which posts must be one after deduplication (for `make dedup-eval`).
    #[arg(long)]
    pub dedup_truth: bool,
}

fn init_logging(format: LogFormat, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPTGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() -> ExitCode {
    // Before any thread starts; see optgate-malloc for the why and the figures.
    let allocator_tuned = optgate_malloc::tune();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; a bad command line is bad input (1),
            // not clap's default 2, which means a runtime failure here.
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitStatus::Success.into()
                }
                _ => ExitStatus::BadInput.into(),
            };
        }
    };
    let quiet = matches!(&cli.command, Command::Run(a) if a.quiet);
    let log_format = cli.log_format;
    init_logging(cli.log_format, quiet);
    tracing::debug!(allocator_tuned, "glibc allocator thresholds");
    let result = match cli.command {
        Command::Run(args) => publish::install_signal_handlers().and_then(|()| run::run(&args)),
        Command::GenSample(args) => gen_sample::gen_sample(&args),
        Command::PiiEval(args) => pii_eval::pii_eval(&args),
        Command::Verify(args) => verify::verify(&args),
        Command::Explain(args) => explain::explain(&args),
        Command::Report(args) => report::report(&args),
        Command::Plan(args) => shard::plan(&args),
        Command::Merge(args) => {
            publish::install_signal_handlers().and_then(|()| merge::merge(&args))
        }
        Command::BenchFloor(args) => bench_floor::bench_floor(&args),
        Command::Repurge(args) => {
            publish::install_signal_handlers().and_then(|()| repurge::repurge(&args))
        }
    };
    match result {
        Ok(()) => ExitStatus::Success.into(),
        Err(Failure { status, error }) => {
            let message = error_message(&error);
            // Once: a JSON log line for machines, or the plain line for people.
            match log_format {
                LogFormat::Json => tracing::error!(exit_code = status as u8, "{message}"),
                LogFormat::Text => eprintln!("optgate: error: {message}"),
            }
            status.into()
        }
    }
}

/// The worker pool of `run`, `verify` and the floor: `threads` workers,
/// started one at a time. Each allocates once before the next starts, while
/// this thread waits: glibc gives a thread its arena at its first
/// allocation, and with the arenas capped at the number of CPUs
/// (optgate-malloc) two workers started together drew the same arena in
/// about one run in eight (a worker that finds the main arena locked, as
/// this thread planning the posts often holds it, takes another): those
/// runs took 15-20% longer and 30 MiB more, with some 240,000 futex calls
/// for the shared arena's lock. Started in turn, with the default of one
/// worker per CPU, each worker but the last creates an arena of its own and
/// the last takes the main one, whose thread waits while the workers run.
pub(crate) fn worker_pool(
    threads: usize,
) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("optgate-worker-{i}"))
        .spawn_handler(|thread| {
            let (started, first_allocation) = std::sync::mpsc::channel();
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            builder.spawn(move || {
                drop(std::hint::black_box(Box::new(0u64)));
                // The receiver waits for this; it cannot have gone.
                let _ = started.send(());
                thread.run();
            })?;
            // A worker that died before sending fails the pool's own start.
            let _ = first_allocation.recv();
            Ok(())
        })
        .build()
}

/// The thread that flushes the files a run (or the floor) writes, so that
/// workers do not wait for the disk (`optgate_io::Syncer`).
pub(crate) fn file_syncer() -> Result<optgate_io::Syncer, Failure> {
    optgate_io::Syncer::start().map_err(|e| {
        Failure::runtime(anyhow::anyhow!(
            "cannot start the thread that flushes files: {e}"
        ))
    })
}

/// The worker threads of a command: `requested`, or one per CPU.
pub(crate) fn worker_threads(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// The error and its causes on one line, leaving out a cause whose text the
/// message already holds (library errors often repeat their source).
pub(crate) fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// The manifest's record of near mode's settings.
pub(crate) fn dedup_near_record(
    p: &optgate_core::NearParams,
    candidates: u64,
) -> optgate_manifest::NearRecord {
    optgate_manifest::NearRecord {
        shingle: p.shingle.name().to_owned(),
        shingle_size: p.shingle_size,
        permutations: p.permutations,
        bands: p.bands,
        rows: p.rows,
        threshold: p.threshold,
        agreeing_needed: p.agreeing_needed(),
        seed: p.seed,
        signature: optgate_core::near::SIGNATURE.to_owned(),
        candidates,
    }
}

/// Near mode's settings as a manifest records them (for verification and
/// the merge of shards), if the output was deduplicated in near mode.
pub(crate) fn near_params_of(
    dedup: Option<&optgate_manifest::DedupRecord>,
) -> anyhow::Result<Option<optgate_core::NearParams>> {
    let Some(r) = dedup.and_then(|d| d.near.as_ref()) else {
        return Ok(None);
    };
    if r.signature != optgate_core::near::SIGNATURE {
        anyhow::bail!(
            "dedup.near.signature records signatures made another way than this optgate \
             makes them ({:?}); its near duplicates cannot be checked or merged by this \
             version: run again, or use the optgate that made it",
            r.signature
        );
    }
    let shingle = optgate_core::near::ShingleKind::from_name(&r.shingle).ok_or_else(|| {
        anyhow::anyhow!(
            "dedup.near.shingle {:?} is neither chars nor words",
            r.shingle
        )
    })?;
    let p = optgate_core::NearParams {
        shingle,
        shingle_size: r.shingle_size,
        permutations: r.permutations,
        bands: r.bands,
        rows: r.rows,
        threshold: r.threshold,
        seed: r.seed,
    };
    p.check().map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(p))
}

/// The duplicate checks verification owes an output, by its manifest: no
/// exact duplicates once deduplicated (and not left to a merge), and in near
/// mode no near duplicates, by the recorded settings.
pub(crate) fn dedup_checks(
    m: &optgate_manifest::Manifest,
) -> Result<(bool, Option<optgate_core::NearParams>), crate::exit::Failure> {
    let done = m.dedup.as_ref().filter(|d| d.mode != "off" && !d.pending);
    Ok((
        done.is_some(),
        near_params_of(done).map_err(crate::exit::Failure::input)?,
    ))
}
