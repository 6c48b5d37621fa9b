//! Helpers: running the binary, generating samples, reading Parquet.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn optgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_optgate"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `optgate run` with no config (the default policy) on the tables of
/// `dir` (`posts/`, `accounts.parquet`, `optouts.parquet`), writing `out`.
pub fn run_on_tables(dir: &Path, out: &Path) -> Command {
    let mut cmd = optgate();
    cmd.args(["run", "--progress", "never", "--quiet", "--posts"])
        .arg(dir.join("posts"))
        .arg("--accounts")
        .arg(dir.join("accounts.parquet"))
        .arg("--optouts")
        .arg(dir.join("optouts.parquet"))
        .arg("--out")
        .arg(out);
    cmd
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("optgate starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Generates a sample of `posts` posts into `dir` with `extra` flags.
pub fn gen_sample(dir: &Path, posts: u64, extra: &[&str]) {
    run_ok(
        optgate()
            .args([
                "gen-sample",
                "--posts",
                &posts.to_string(),
                "--seed",
                "7",
                "--out",
            ])
            .arg(dir)
            .args(extra),
    );
}

/// The policy without deduplication: for the tests that hold the output to
/// the policy's oracle, post by post (deduplication has its own tests).
pub const NO_DEDUP: &str = "[dedup]\nmode = \"off\"\n";

/// A config beside the sample in `dir`, pointing at its files, with `policy` appended.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[inputs]\nposts = \"posts\"\naccounts = \"accounts.parquet\"\noptouts = \"optouts.parquet\"\nconsents = \"consents.parquet\"\n{body}"
        ),
    )
    .expect("write config");
    path
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet footer")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest exists"))
        .expect("manifest is JSON")
}

/// Writes `m` as the manifest of `out`, with its digest beside it, as an
/// edit that verification can only catch by its content.
pub fn rewrite_manifest(out: &Path, m: &serde_json::Value) {
    use sha2::Digest;
    let text = format!("{}\n", serde_json::to_string_pretty(m).expect("json"));
    std::fs::write(out.join("manifest.json"), &text).expect("write");
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    std::fs::write(
        out.join("manifest.json.sha256"),
        format!("{digest}  manifest.json\n"),
    )
    .expect("write");
}

/// Entries in `dir` whose name contains `needle` (staging or replaced leftovers).
pub fn leftovers(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(needle))
        .collect()
}

/// Writes one batch as a Parquet file.
pub fn write_batch(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    w.write(batch).expect("write");
    w.close().expect("close");
}

/// A generated sample (`files` posts files in row groups of `row_group_rows`)
/// and a published output of it under `policy`: (config, output directory).
pub fn sample_run(
    dir: &Path,
    posts: u64,
    files: usize,
    row_group_rows: usize,
    policy: &str,
) -> (PathBuf, PathBuf) {
    gen_sample(
        dir,
        posts,
        &[
            "--files",
            &files.to_string(),
            "--row-group-rows",
            &row_group_rows.to_string(),
        ],
    );
    let config = write_config(dir, policy);
    let out = dir.join("out");
    run_ok(
        optgate()
            .args(["run", "--progress", "never", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out),
    );
    (config, out)
}
