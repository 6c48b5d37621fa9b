//! `optgate run` end to end on generated and hand-made data, checked against the oracle.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, RecordBatch, StringArray, TimestampNanosecondArray};
use chrono::NaiveDate;

use crate::common::*;
use crate::oracle::{self, Mode};

fn sample_inputs(dir: &Path) -> oracle::Inputs<'_> {
    // Leaked paths keep the struct simple; tests are short-lived.
    let leak = |p: std::path::PathBuf| -> &'static Path { Box::leak(p.into_boxed_path()) };
    oracle::Inputs {
        posts: leak(dir.join("posts")),
        accounts: leak(dir.join("accounts.parquet")),
        optouts: Some(leak(dir.join("optouts.parquet"))),
        consents: Some(leak(dir.join("consents.parquet"))),
    }
}

#[test]
fn opt_out_run_keeps_exactly_what_the_oracle_keeps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 6000, &[]);
    let cfg = write_config(tmp.path(), NO_DEDUP);
    let out = tmp.path().join("out");
    let o = run_ok(
        optgate()
            .args(["run", "--threads", "2", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out),
    );
    let expected = oracle::expected(&sample_inputs(tmp.path()), Mode::OptOut);
    // The sample must exercise every rule, or this test proves little.
    for r in [
        "invalid_row",
        "no_account",
        "age_unknown",
        "underage",
        "private_message",
        "excluded_surface",
        "not_public",
        "opted_out",
    ] {
        assert!(
            expected.iter().any(|e| e.reason == Some(r)),
            "sample has no {r} post"
        );
    }
    oracle::check_output(&out, &expected);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("optgate: 6000 posts in, "), "{stdout}");
    assert!(leftovers(tmp.path(), ".staging-").is_empty());
}

#[test]
fn int64_ids_give_the_same_result_as_utf8_ids_in_any_mix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (utf8, int) = (tmp.path().join("utf8"), tmp.path().join("int"));
    gen_sample(&utf8, 3000, &[]);
    gen_sample(&int, 3000, &["--int-ids"]);
    let cfg = write_config(&utf8, NO_DEDUP);
    let run = |out: &Path, extra: &[&std::ffi::OsStr]| {
        run_ok(
            optgate()
                .args(["run", "--config"])
                .arg(&cfg)
                .arg("--out")
                .arg(out)
                .args(extra),
        );
        oracle::output_rows(out)
    };
    let all_utf8 = run(&tmp.path().join("o1"), &[]);
    let all_int = run(
        &tmp.path().join("o2"),
        &[
            "--posts".as_ref(),
            int.join("posts").as_os_str(),
            "--accounts".as_ref(),
            int.join("accounts.parquet").as_os_str(),
            "--optouts".as_ref(),
            int.join("optouts.parquet").as_os_str(),
        ],
    );
    // utf8 posts against int64 accounts and registry, and the reverse.
    let mixed_a = run(
        &tmp.path().join("o3"),
        &[
            "--accounts".as_ref(),
            int.join("accounts.parquet").as_os_str(),
            "--optouts".as_ref(),
            int.join("optouts.parquet").as_os_str(),
        ],
    );
    let mixed_b = run(
        &tmp.path().join("o4"),
        &["--posts".as_ref(), int.join("posts").as_os_str()],
    );
    assert!(!all_utf8.is_empty());
    assert_eq!(all_utf8, all_int);
    assert_eq!(all_utf8, mixed_a);
    assert_eq!(all_utf8, mixed_b);
    let expected = oracle::expected(
        &oracle::Inputs {
            posts: &int.join("posts"),
            accounts: &utf8.join("accounts.parquet"),
            optouts: Some(&int.join("optouts.parquet")),
            consents: None,
        },
        Mode::OptOut,
    );
    oracle::check_output(&tmp.path().join("o4"), &expected);
}

#[test]
fn consent_mode_keeps_only_authors_with_an_unwithdrawn_consent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 5000, &[]);
    let cfg = write_config(
        tmp.path(),
        &format!("[policy]\nmode = \"consent\"\n{NO_DEDUP}"),
    );
    let out = tmp.path().join("out");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out),
    );
    let expected = oracle::expected(&sample_inputs(tmp.path()), Mode::Consent);
    oracle::check_output(&out, &expected);
    let m = manifest(&out);
    assert_eq!(m["policy"]["resolved"]["policy"]["mode"], "consent");
    assert!(
        m["inputs"]["consents"]["valid_consents"]
            .as_u64()
            .expect("valid consents")
            > 0
    );

    // The shipped consent config, given the paths on the command line.
    let out2 = tmp.path().join("out2");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(repo_root().join("configs/consent.toml"))
            .arg("--posts")
            .arg(tmp.path().join("posts"))
            .arg("--accounts")
            .arg(tmp.path().join("accounts.parquet"))
            .arg("--optouts")
            .arg(tmp.path().join("optouts.parquet"))
            .arg("--consents")
            .arg(tmp.path().join("consents.parquet"))
            .arg("--out")
            .arg(&out2),
    );
    // The shipped config removes exact duplicates (the default).
    oracle::check_output_deduplicated(&out2, &expected);
}

#[test]
fn output_is_byte_identical_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 4000, &["--row-group-rows", "300"]);
    let cfg = write_config(tmp.path(), "");
    let outs: Vec<_> = ["1", "2", "3"]
        .iter()
        .map(|t| {
            let out = tmp.path().join(format!("out{t}"));
            run_ok(
                optgate()
                    .args(["run", "--threads", t, "--config"])
                    .arg(&cfg)
                    .arg("--out")
                    .arg(&out),
            );
            out
        })
        .collect();
    let files = |o: &Path| -> Vec<(String, Vec<u8>)> {
        parquet_files(&o.join("data"))
            .into_iter()
            .map(|p| {
                (
                    p.file_name().expect("name").to_string_lossy().into_owned(),
                    fs::read(&p).expect("read"),
                )
            })
            .collect()
    };
    let strip = |o: &Path| {
        let mut m = manifest(o);
        for k in ["run", "timings"] {
            m.as_object_mut().expect("object").remove(k);
        }
        // Measured to the run's start: a fact of the run, like its times.
        for k in ["max_seconds", "median_seconds"] {
            m["objection_latency"][k] = serde_json::Value::Null;
        }
        m
    };
    let first = files(&outs[0]);
    assert!(first.len() > 4, "several part files");
    for o in &outs[1..] {
        assert_eq!(files(o), first, "data files of {}", o.display());
        assert_eq!(strip(o), strip(&outs[0]), "manifest of {}", o.display());
    }
    assert_ne!(
        manifest(&outs[0])["run"]["run_id"],
        manifest(&outs[1])["run"]["run_id"]
    );
}

#[test]
fn manifest_records_inputs_policy_counts_and_outputs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 2000, &[]);
    let cfg = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out),
    );
    let m = manifest(&out);
    assert_eq!(m["tool"]["name"], "optgate");
    assert_eq!(m["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["pii"]["applied"], true);
    let replaced: u64 = m["pii"]["replacements"]
        .as_object()
        .expect("replacements")
        .values()
        .map(|v| v.as_u64().expect("count"))
        .sum();
    let changed = m["pii"]["posts_changed"].as_u64().expect("posts changed");
    assert!(
        changed > 0 && replaced >= changed,
        "{replaced} replacements in {changed} posts"
    );
    // The policy digest is the SHA-256 of the canonical JSON of the resolved policy.
    let resolved = serde_json::to_string(&m["policy"]["resolved"]).expect("json");
    assert_eq!(
        m["policy"]["sha256"],
        optgate_io::sha256_hex(resolved.as_bytes())
    );
    // Every input file with its real digest and size.
    let posts = m["inputs"]["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 4);
    for p in posts {
        let path = tmp
            .path()
            .join("posts")
            .join(p["path"].as_str().expect("path"));
        let (sha, bytes) = optgate_io::sha256_file(&path).expect("hash");
        assert_eq!(p["sha256"], sha);
        assert_eq!(p["bytes"], bytes);
    }
    let rows_in: u64 = posts
        .iter()
        .map(|p| p["rows"].as_u64().expect("rows"))
        .sum();
    assert_eq!(m["counts"]["rows_in"], rows_in);
    let opt = &m["inputs"]["optouts"];
    assert!(
        opt["rows"].as_u64() > opt["distinct_ids"].as_u64(),
        "repeated objections counted once"
    );
    assert!(opt["latest_at"].as_str().expect("latest").ends_with('Z'));
    // Every output file with its real digest and row count; the sum is the kept count.
    let mut kept = 0;
    for f in m["outputs"].as_array().expect("outputs") {
        let path = out.join(f["path"].as_str().expect("path"));
        let (sha, bytes) = optgate_io::sha256_file(&path).expect("hash");
        assert_eq!(f["sha256"], sha);
        assert_eq!(f["bytes"], bytes);
        let rows: usize = read_parquet(&path).iter().map(|b| b.num_rows()).sum();
        assert_eq!(f["rows"], rows as u64);
        kept += rows as u64;
    }
    assert_eq!(m["counts"]["kept"], kept);
    // Every failing rule counts at least the posts attributed to it.
    for (r, n) in m["counts"]["dropped_by_reason"]
        .as_object()
        .expect("reasons")
    {
        assert!(
            m["counts"]["failing_by_rule"][r].as_u64() >= n.as_u64(),
            "{r}"
        );
    }
    // Canonical: keys sorted at every level, so re-serialising sorted gives the same text.
    let text = fs::read_to_string(out.join("manifest.json")).expect("manifest");
    let reparsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        text,
        format!(
            "{}\n",
            serde_json::to_string_pretty(&reparsed).expect("pretty")
        )
    );
}

fn days(y: i32, m: u32, d: u32) -> i32 {
    (NaiveDate::from_ymd_opt(y, m, d).expect("date")
        - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch"))
    .num_days() as i32
}

fn nanos(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .timestamp_nanos_opt()
        .expect("in range")
}

/// Hand-made data: renamed columns, nanosecond timestamps in a non-UTC zone
/// label, and each birthday boundary spelled out.
#[test]
fn renamed_columns_and_birthday_boundaries_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::create_dir(tmp.path().join("posts")).expect("mkdir");
    let posts = [
        // (post, author, created_at, kind, visibility, kept?)
        (
            "a1",
            "teen",
            "2024-06-14T23:59:59Z",
            "post",
            "public",
            false,
        ),
        ("a2", "teen", "2024-06-15T00:00:00Z", "post", "public", true),
        // 01:30 in Paris on the 15th is still the 14th in UTC.
        (
            "a3",
            "teen",
            "2024-06-15T01:30:00+02:00",
            "post",
            "public",
            false,
        ),
        (
            "b1",
            "leap",
            "2022-02-28T23:59:59Z",
            "post",
            "public",
            false,
        ),
        ("b2", "leap", "2022-03-01T00:00:00Z", "post", "public", true),
        (
            "b3",
            "leap",
            "2024-02-29T00:00:00Z",
            "comment",
            "public",
            true,
        ),
        (
            "c1",
            "old",
            "2020-01-01T00:00:00Z",
            "private_message",
            "public",
            false,
        ),
        (
            "c2",
            "old",
            "2020-01-01T00:00:00Z",
            "business_message",
            "private",
            true,
        ),
        (
            "c3",
            "old",
            "2020-01-01T00:00:00Z",
            "post",
            "friends",
            false,
        ),
        (
            "c4",
            "old",
            "2020-01-01T00:00:00Z",
            "post",
            " PUBLIC ",
            true,
        ),
        (
            "d1",
            "objector",
            "2015-01-01T00:00:00Z",
            "post",
            "public",
            false,
        ),
    ];
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        bool,
    );
    let s = |f: fn(&Row) -> &'static str| -> ArrayRef {
        Arc::new(StringArray::from(posts.iter().map(f).collect::<Vec<_>>()))
    };
    let batch = RecordBatch::try_from_iter([
        ("id", s(|p| p.0)),
        ("user", s(|p| p.1)),
        (
            "ts",
            Arc::new(
                TimestampNanosecondArray::from(
                    posts.iter().map(|p| nanos(p.2)).collect::<Vec<_>>(),
                )
                .with_timezone("Europe/Paris"),
            ) as ArrayRef,
        ),
        ("platform", s(|_| "facebook")),
        ("type", s(|p| p.3)),
        ("audience", s(|p| p.4)),
        ("body", s(|p| p.0)),
    ])
    .expect("posts batch");
    write_batch(&tmp.path().join("posts/p.parquet"), &batch);
    let accounts = RecordBatch::try_from_iter([
        (
            "uid",
            Arc::new(StringArray::from(vec!["teen", "leap", "old", "objector"])) as ArrayRef,
        ),
        (
            "dob",
            Arc::new(Date32Array::from(vec![
                days(2006, 6, 15),
                days(2004, 2, 29),
                days(1950, 1, 1),
                days(1950, 1, 1),
            ])) as ArrayRef,
        ),
    ])
    .expect("accounts");
    write_batch(&tmp.path().join("accounts.parquet"), &accounts);
    let optouts = RecordBatch::try_from_iter([
        (
            "uid",
            Arc::new(StringArray::from(vec!["objector"])) as ArrayRef,
        ),
        // Objected long after the post: objections are retroactive.
        (
            "when",
            Arc::new(arrow_array::TimestampSecondArray::from(vec![
                nanos("2025-01-01T00:00:00Z") / 1_000_000_000,
            ])) as ArrayRef,
        ),
    ])
    .expect("optouts");
    write_batch(&tmp.path().join("optouts.parquet"), &optouts);
    let cfg = write_config(
        tmp.path(),
        "[columns.posts]\npost_id = \"id\"\nauthor_id = \"user\"\ncreated_at = \"ts\"\nkind = \"type\"\nvisibility = \"audience\"\ntext = \"body\"\n\
         [columns.accounts]\nuser_id = \"uid\"\nbirth_date = \"dob\"\n[columns.optouts]\nuser_id = \"uid\"\nobjected_at = \"when\"\n",
    );
    let out = tmp.path().join("out");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out),
    );
    let mut kept = Vec::new();
    for f in parquet_files(&out.join("data")) {
        for b in read_parquet(&f) {
            let ids = b
                .column_by_name("id")
                .expect("id column kept under its own name");
            for i in 0..b.num_rows() {
                kept.push(oracle::id_text(ids, i).expect("id"));
            }
        }
    }
    kept.sort();
    let want: Vec<String> = posts
        .iter()
        .filter(|p| p.5)
        .map(|p| p.0.to_owned())
        .collect();
    assert_eq!(kept, want);
    let m = manifest(&out);
    assert_eq!(m["counts"]["dropped_by_reason"]["underage"], 3);
    assert_eq!(m["counts"]["dropped_by_reason"]["opted_out"], 1);
    // Output part files keep the input's schema, renamed columns and zone included.
    let b = &read_parquet(&parquet_files(&out.join("data"))[0])[0];
    assert_eq!(b.schema(), batch.schema());
}

#[test]
fn overwrite_replaces_a_previous_output_only_when_asked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 1000, &[]);
    let cfg = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out),
    );
    let first = manifest(&out);
    let again = optgate()
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists; pass --overwrite"));
    assert_eq!(manifest(&out), first, "refused run left the output alone");
    run_ok(
        optgate()
            .args(["run", "--overwrite", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out),
    );
    assert_ne!(manifest(&out)["run"]["run_id"], first["run"]["run_id"]);
    assert!(leftovers(tmp.path(), ".replaced-").is_empty());
    assert!(leftovers(tmp.path(), ".staging-").is_empty());
}

#[test]
fn json_logs_and_help_with_exit_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 500, &[]);
    let cfg = write_config(tmp.path(), "");
    let o = run_ok(
        optgate()
            .args([
                "run",
                "--log-format",
                "json",
                "--progress",
                "never",
                "--config",
            ])
            .arg(&cfg)
            .arg("--out")
            .arg(tmp.path().join("out")),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "Published the output." && l["kept"].is_u64())
    );
    let help = run_ok(optgate().args(["run", "--help"]));
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "Exit codes:",
        "0  success",
        "1  bad input",
        "2  runtime failure",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
}

#[test]
fn pii_scrubbing_can_be_switched_off_or_narrowed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    gen_sample(tmp.path(), 3000, &[]);
    let input_texts = |ids: &std::collections::BTreeMap<String, Option<String>>| {
        let expected = oracle::expected(&sample_inputs(tmp.path()), Mode::OptOut);
        let by_id: std::collections::BTreeMap<_, _> =
            expected.into_iter().map(|e| (e.post_id, e.text)).collect();
        ids.keys()
            .map(|k| (k.clone(), by_id[k].clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let cfg = write_config(tmp.path(), "[pii]\nenabled = false\n");
    let off = tmp.path().join("off");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&off),
    );
    let rows = oracle::output_rows(&off);
    assert_eq!(
        rows,
        input_texts(&rows),
        "scrubbing off: text copied unchanged"
    );
    assert_eq!(manifest(&off)["pii"]["applied"], false);

    let cfg = write_config(
        tmp.path(),
        "[pii]\nentities = [\"email\"]\nplaceholder = \"[{}]\"\n",
    );
    let narrow = tmp.path().join("narrow");
    run_ok(
        optgate()
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&narrow),
    );
    let rows = oracle::output_rows(&narrow);
    let all: String = rows.values().flatten().cloned().collect();
    assert!(all.contains("[EMAIL]") && !all.contains("marie.dupont@example.fr"));
    assert!(
        all.contains("+49 30 12345678"),
        "phones are kept when only e-mails are scrubbed"
    );
    let m = manifest(&narrow);
    assert_eq!(m["pii"]["entities"], serde_json::json!(["email"]));
    assert_eq!(m["pii"]["replacements"]["phone"], 0);
}

/// Pairs of strings: (post id, text) or (post id, reason).
type Pairs = Vec<(String, String)>;

/// (post id, text) of every kept post and (post id, reason) of every dropped
/// one, sorted: what a run decided, whatever its files' layout.
fn decisions(out: &Path) -> (Pairs, Pairs) {
    use arrow_array::cast::AsArray;
    let mut kept = Vec::new();
    for f in parquet_files(&out.join("data")) {
        for b in read_parquet(&f) {
            let ids =
                optgate_core::IdColumn::new(b.column_by_name("post_id").expect("id")).expect("ids");
            let text = b
                .column_by_name("text")
                .expect("text")
                .as_string::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                kept.push((ids.text(i).expect("id"), text.value(i).to_owned()));
            }
        }
    }
    let mut dropped = Vec::new();
    for f in parquet_files(&out.join("ledger")) {
        for b in read_parquet(&f) {
            let ids = b
                .column_by_name("post_id")
                .expect("id")
                .as_string::<i32>()
                .clone();
            let reason = b
                .column_by_name("reason")
                .expect("reason")
                .as_string::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                dropped.push((ids.value(i).to_owned(), reason.value(i).to_owned()));
            }
        }
    }
    kept.sort();
    dropped.sort();
    (kept, dropped)
}

/// A row group larger than a chunk (CHUNK_ROWS, 262,144 rows), as a warehouse
/// writes them, is processed a chunk at a time: the same posts kept, with the
/// same text, and the same drops, as from small row groups.
#[test]
fn a_row_group_of_several_chunks_gives_the_same_decisions_as_small_ones() {
    let tmp = tempfile::tempdir().expect("tmp");
    let posts = 300_000u64;
    let (big, small) = (tmp.path().join("big"), tmp.path().join("small"));
    gen_sample(&big, posts, &["--files", "1", "--row-group-rows", "300000"]);
    gen_sample(
        &small,
        posts,
        &["--files", "2", "--row-group-rows", "50000"],
    );
    let mut manifests = Vec::new();
    for dir in [&big, &small] {
        let out = dir.join("out");
        run_ok(&mut run_on_tables(dir, &out));
        manifests.push(manifest(&out));
    }
    let big_rg = &manifests[0]["inputs"]["posts"][0]["row_groups"];
    assert_eq!(big_rg, 1, "one row group of 300,000 rows");
    assert_eq!(manifests[0]["counts"], manifests[1]["counts"]);
    assert_eq!(manifests[0]["pii"], manifests[1]["pii"]);
    let (big_kept, big_dropped) = decisions(&big.join("out"));
    let (small_kept, small_dropped) = decisions(&small.join("out"));
    assert_eq!(big_kept.len() + big_dropped.len(), posts as usize);
    assert!(big_kept == small_kept, "kept posts differ");
    assert!(big_dropped == small_dropped, "dropped posts differ");
}
