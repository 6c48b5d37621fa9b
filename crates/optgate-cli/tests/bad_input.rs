//! Bad input: exit 1, a message that names the file, the column and the
//! problem, and no output directory (nor staging leftovers).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};

use crate::common::*;

/// Runs `optgate run` on the sample in `dir` with `extra` args; expects exit 1,
/// no output, and every `needle` in stderr.
fn expect_refusal(dir: &Path, extra: &[&str], needles: &[&str]) {
    let cfg = dir.join("config.toml");
    let out = dir.join("out");
    let o = optgate()
        .args(["run", "--progress", "never", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .expect("optgate starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
    assert!(!out.exists(), "no output directory after a refusal");
    assert!(
        leftovers(dir, ".staging-").is_empty(),
        "no staging leftovers"
    );
}

fn sample(posts: u64) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), posts, &[]);
    write_config(tmp.path(), "");
    tmp
}

#[test]
fn missing_accounts_file() {
    let tmp = sample(300);
    fs::remove_file(tmp.path().join("accounts.parquet")).expect("rm");
    expect_refusal(
        tmp.path(),
        &[],
        &["accounts.parquet", "cannot read", "No such file"],
    );
}

#[test]
fn corrupt_parquet_in_posts() {
    let tmp = sample(300);
    fs::write(
        tmp.path().join("posts/part-99999.parquet"),
        b"this is not parquet at all",
    )
    .expect("write");
    expect_refusal(
        tmp.path(),
        &[],
        &["part-99999.parquet", "not a readable Parquet file"],
    );
}

#[test]
fn truncated_parquet_registry() {
    let tmp = sample(300);
    let p = tmp.path().join("optouts.parquet");
    let bytes = fs::read(&p).expect("read");
    fs::write(&p, &bytes[..bytes.len() / 2]).expect("truncate");
    expect_refusal(
        tmp.path(),
        &[],
        &["optouts.parquet", "not a readable Parquet file"],
    );
}

#[test]
fn missing_column() {
    let tmp = sample(300);
    let batch = RecordBatch::try_from_iter([(
        "user_id",
        Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
    )])
    .expect("batch");
    write_batch(&tmp.path().join("accounts.parquet"), &batch);
    expect_refusal(
        tmp.path(),
        &[],
        &[
            "accounts.parquet",
            "accounts column `birth_date` is missing",
            "columns.accounts.birth_date",
        ],
    );
}

#[test]
fn remapped_column_that_does_not_exist() {
    let tmp = sample(300);
    write_config(tmp.path(), "[columns.posts]\nauthor_id = \"writer\"\n");
    expect_refusal(
        tmp.path(),
        &[],
        &["part-00000.parquet", "posts column `writer` is missing"],
    );
}

#[test]
fn wrong_column_type() {
    let tmp = sample(300);
    let batch = RecordBatch::try_from_iter([
        (
            "post_id",
            Arc::new(StringArray::from(vec!["p1"])) as ArrayRef,
        ),
        (
            "author_id",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        ),
        (
            "created_at",
            Arc::new(TimestampMicrosecondArray::from(vec![0])) as ArrayRef,
        ),
        (
            "platform",
            Arc::new(StringArray::from(vec!["facebook"])) as ArrayRef,
        ),
        (
            "kind",
            Arc::new(StringArray::from(vec!["post"])) as ArrayRef,
        ),
        (
            "visibility",
            Arc::new(StringArray::from(vec!["public"])) as ArrayRef,
        ),
        ("text", Arc::new(StringArray::from(vec!["hi"])) as ArrayRef),
    ])
    .expect("batch");
    write_batch(&tmp.path().join("posts/part-00002.parquet"), &batch);
    expect_refusal(
        tmp.path(),
        &[],
        &[
            "part-00002.parquet",
            "column `author_id` has type Float64, expected utf8, int64, int32 or decimal with scale 0",
        ],
    );
}

#[test]
fn null_id_in_the_objection_registry_stops_the_run() {
    let tmp = sample(300);
    let batch = RecordBatch::try_from_iter([
        (
            "user_id",
            Arc::new(StringArray::from(vec![Some("100000001"), None])) as ArrayRef,
        ),
        (
            "objected_at",
            Arc::new(TimestampMicrosecondArray::from(vec![0, 0])) as ArrayRef,
        ),
    ])
    .expect("batch");
    write_batch(&tmp.path().join("optouts.parquet"), &batch);
    expect_refusal(
        tmp.path(),
        &[],
        &["optouts.parquet", "column `user_id` is null at row 1"],
    );
}

#[test]
fn empty_objection_registry_is_refused_unless_allowed() {
    let tmp = sample(300);
    let batch = RecordBatch::try_from_iter([
        (
            "user_id",
            Arc::new(StringArray::from(Vec::<&str>::new())) as ArrayRef,
        ),
        (
            "objected_at",
            Arc::new(TimestampMicrosecondArray::from(Vec::<i64>::new())) as ArrayRef,
        ),
    ])
    .expect("batch");
    write_batch(&tmp.path().join("optouts.parquet"), &batch);
    expect_refusal(
        tmp.path(),
        &[],
        &[
            "optouts.parquet",
            "objection registry is empty",
            "--allow-empty-registry",
        ],
    );
    let out = tmp.path().join("out");
    run_ok(
        optgate()
            .args(["run", "--allow-empty-registry", "--config"])
            .arg(tmp.path().join("config.toml"))
            .arg("--out")
            .arg(&out),
    );
    let m = manifest(&out);
    assert_eq!(m["inputs"]["allow_empty_registry"], true);
    assert_eq!(m["inputs"]["optouts"]["rows"], 0);
    assert_eq!(m["counts"]["dropped_by_reason"]["opted_out"], 0);
}

#[test]
fn posts_directory_without_parquet_files() {
    let tmp = sample(300);
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    fs::write(empty.join("notes.txt"), "not data").expect("write");
    expect_refusal(
        tmp.path(),
        &["--posts", empty.to_str().expect("utf8 path")],
        &["empty", "no Parquet files"],
    );
}

#[test]
fn missing_posts_directory() {
    let tmp = sample(300);
    expect_refusal(
        tmp.path(),
        &["--posts", "/nonexistent/optgate/posts"],
        &["/nonexistent/optgate/posts", "cannot read"],
    );
}

#[test]
fn unknown_config_key() {
    let tmp = sample(300);
    write_config(tmp.path(), "[policy]\nminimum_age = 16\n");
    expect_refusal(
        tmp.path(),
        &[],
        &["config.toml", "unknown field `minimum_age`"],
    );
}

#[test]
fn wrongly_typed_config_value() {
    let tmp = sample(300);
    write_config(tmp.path(), "[policy]\nmin_age_years = \"eighteen\"\n");
    expect_refusal(tmp.path(), &[], &["config.toml", "min_age_years"]);
}

#[test]
fn consent_mode_without_a_consent_registry() {
    let tmp = sample(300);
    fs::write(
        tmp.path().join("config.toml"),
        "[inputs]\nposts = \"posts\"\naccounts = \"accounts.parquet\"\n[policy]\nmode = \"consent\"\n",
    )
    .expect("write");
    expect_refusal(
        tmp.path(),
        &[],
        &["no consent registry given", "--consents"],
    );
}

#[test]
fn bad_command_line_is_exit_1() {
    let o = optgate()
        .args(["run", "--no-such-flag"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
    let o = optgate()
        .args(["run", "--config", "x.toml", "--out", "o", "--threads", "0"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn data_corrupted_behind_a_valid_footer_stops_the_run() {
    let tmp = sample(4000);
    let p = tmp.path().join("posts/part-00001.parquet");
    let mut bytes = fs::read(&p).expect("read");
    let start = bytes.len() / 3;
    for b in &mut bytes[start..start + 200] {
        *b ^= 0x5a;
    }
    fs::write(&p, bytes).expect("write");
    // The footer is intact, so the damage is found mid-run, after other units
    // may have written their part files: still nothing is published.
    expect_refusal(
        tmp.path(),
        &[],
        &["part-00001.parquet", "row group", "cannot decode"],
    );
}
