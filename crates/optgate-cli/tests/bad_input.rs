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

/// A copy of the golden variant `name` (files written by pyarrow) in `dir`.
fn golden_copy(name: &str, dir: &Path) {
    let from = repo_root().join("testdata/golden/variants").join(name);
    let mut stack = vec![from.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            let to = dir.join(p.strip_prefix(&from).expect("under the variant"));
            if p.is_dir() {
                fs::create_dir_all(&to).expect("mkdir");
                stack.push(p);
            } else {
                fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
                fs::copy(&p, &to).expect("copy");
            }
        }
    }
}

/// Runs `optgate run` with no config on the tables in `dir`; expects exit 1,
/// no output, every `needle` in stderr, and returns stderr.
fn expect_refusal_without_config(dir: &Path, needles: &[&str]) -> String {
    let out = dir.join("out");
    // Not --quiet: the log shows how far the run got.
    let o = run_on_tables(dir, &out)
        .env("OPTGATE_LOG", "info")
        .output()
        .expect("optgate starts");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "stderr:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
    assert!(!out.exists(), "no output directory after a refusal");
    stderr
}

/// `batches` with column `name` replaced by `f(old column)`.
fn replace_column(
    batches: &[RecordBatch],
    name: &str,
    f: impl Fn(&ArrayRef) -> ArrayRef,
) -> Vec<RecordBatch> {
    batches
        .iter()
        .map(|b| {
            let i = b.schema().index_of(name).expect("column");
            let mut columns = b.columns().to_vec();
            columns[i] = f(&columns[i]);
            let mut fields: Vec<arrow_schema::Field> = b
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields[i] = fields[i]
                .clone()
                .with_data_type(columns[i].data_type().clone());
            RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)
                .expect("batch")
        })
        .collect()
}

fn write_batches(path: &Path, batches: &[RecordBatch]) {
    let file = fs::File::create(path).expect("create");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).expect("writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.close().expect("close");
}

/// Older Hive and Impala files store text as bytes without the UTF8
/// annotation: read as text, but a value that is not UTF-8 stops the run,
/// naming the file and column, rather than reach the output as garbage.
#[test]
fn text_stored_as_bytes_that_is_not_utf8_is_refused_naming_the_column() {
    let tmp = tempfile::tempdir().expect("tmp");
    golden_copy("pyarrow-binary-strings", tmp.path());
    let part = tmp.path().join("posts/part-1.parquet");
    let batches = replace_column(&read_parquet(&part), "text", |a| {
        Arc::new(arrow_array::BinaryArray::from_iter_values(
            (0..a.len()).map(|_| b"caf\xe9 au lait".as_slice()),
        ))
    });
    write_batches(&part, &batches);
    expect_refusal_without_config(
        tmp.path(),
        &["posts/part-1.parquet", "column `text`", "not UTF-8"],
    );
}

/// LZO, which no Parquet library for Rust decompresses, is refused while
/// planning, from the footer, before any unit of the good file is
/// processed: naming the file, the column and the codec.
#[test]
fn an_lzo_file_is_refused_at_planning_naming_file_and_column() {
    let tmp = tempfile::tempdir().expect("tmp");
    golden_copy("pyarrow-snappy", tmp.path());
    let part = tmp.path().join("posts/part-1.parquet");
    let mut bytes = fs::read(&part).expect("read");
    // The footer's ColumnMetaData of `text`: its one-element path, then
    // field 4 (codec) as a compact-protocol i32: SNAPPY (1) -> LZO (3).
    let snappy: &[u8] = b"\x18\x04text\x15\x02";
    let footer_start = bytes.len()
        - 8
        - u32::from_le_bytes(
            bytes[bytes.len() - 8..bytes.len() - 4]
                .try_into()
                .expect("4 bytes"),
        ) as usize;
    let mut patched = 0;
    let mut i = footer_start;
    while i + snappy.len() <= bytes.len() {
        if &bytes[i..i + snappy.len()] == snappy {
            bytes[i + snappy.len() - 1] = 0x06;
            patched += 1;
        }
        i += 1;
    }
    assert!(patched >= 1, "the codec of `text` was found in the footer");
    fs::write(&part, bytes).expect("write");
    let stderr = expect_refusal_without_config(
        tmp.path(),
        &["posts/part-1.parquet", "column `text`", "LZO"],
    );
    assert!(
        !stderr.contains("Planned the posts"),
        "refused while planning: {stderr}"
    );
}

/// A birth date given as a timestamp must be midnight UTC: another time
/// means a day that depends on a zone the file does not give.
#[test]
fn a_birth_timestamp_that_is_not_midnight_is_refused_naming_its_row() {
    let tmp = tempfile::tempdir().expect("tmp");
    golden_copy("pyarrow-birth-timestamp", tmp.path());
    let accounts = tmp.path().join("accounts.parquet");
    let batches = replace_column(&read_parquet(&accounts), "birth_date", |a| {
        use arrow_array::Array;
        let t = a
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("timestamp[us]");
        let mut v: Vec<Option<i64>> = t.iter().collect();
        let row = v
            .iter()
            .position(Option::is_some)
            .expect("a known birth date");
        v[row] = v[row].map(|x| x + 12 * 3_600_000_000);
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
    });
    write_batches(&accounts, &batches);
    expect_refusal_without_config(
        tmp.path(),
        &[
            "accounts.parquet",
            "column `birth_date` at row",
            "not midnight UTC",
        ],
    );
}

/// An id stored as a decimal with a scale (`42.00`) is no id: refused
/// naming the column and its type.
#[test]
fn a_decimal_id_with_a_scale_is_refused_naming_its_type() {
    let tmp = tempfile::tempdir().expect("tmp");
    golden_copy("pyarrow-decimal-ids", tmp.path());
    for part in ["part-0.parquet", "part-1.parquet"] {
        let path = tmp.path().join("posts").join(part);
        let batches = replace_column(&read_parquet(&path), "author_id", |a| {
            let d = a
                .as_any()
                .downcast_ref::<arrow_array::Decimal128Array>()
                .expect("decimal");
            Arc::new(
                arrow_array::Decimal128Array::from_iter(d.iter().map(|v| v.map(|x| x * 100)))
                    .with_precision_and_scale(22, 2)
                    .expect("precision"),
            )
        });
        write_batches(&path, &batches);
    }
    expect_refusal_without_config(
        tmp.path(),
        &[
            "part-0.parquet",
            "column `author_id` has type Decimal128(22, 2)",
            "decimal with scale 0",
        ],
    );
}

/// A file with a column of the same name as its partition directory's key:
/// which value holds is not clear, so the file is refused.
#[test]
fn a_column_named_like_its_partition_key_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    golden_copy("pyarrow-snappy", tmp.path());
    let posts = tmp.path().join("posts");
    for part in ["part-0.parquet", "part-1.parquet"] {
        let dir = posts.join("lang=en");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::rename(posts.join(part), dir.join(part)).expect("move");
    }
    expect_refusal_without_config(
        tmp.path(),
        &[
            "lang=en/part-0.parquet",
            "column `lang`",
            "partition directory",
        ],
    );
}
