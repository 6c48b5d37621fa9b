//! `[dedup] mode = "exact"`: one post per normalised scrubbed text, the
//! earliest, across files and row groups; the ledger names each survivor;
//! verification and explain see it; runs it does not cover yet refuse.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::common::{
    gen_sample, manifest, optgate, parquet_files, read_parquet, rewrite_manifest, run_ok,
    sample_run, write_config,
};

/// The policy with exact deduplication.
const EXACT: &str = "[dedup]\nmode = \"exact\"\n";
use crate::oracle::{id_text, str_value, timestamp};

/// The test's own normalisation (the ASCII and Latin text of the generated
/// sample): lower case, white space runs to one space, trimmed.
fn normal(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// (created_at in µs, post id, text) of every row of an output.
fn rows(out: &Path) -> Vec<(i64, String, Option<String>)> {
    let mut v = Vec::new();
    for f in parquet_files(&out.join("data")) {
        for b in read_parquet(&f) {
            let col = |n: &str| b.column_by_name(n).expect("column").clone();
            let (ids, created, text) = (col("post_id"), col("created_at"), col("text"));
            for i in 0..b.num_rows() {
                v.push((
                    timestamp(&created, i).expect("time").timestamp_micros(),
                    id_text(&ids, i).expect("id"),
                    str_value(&text, i),
                ));
            }
        }
    }
    v
}

/// Post id → (reason, duplicate_of) of every ledger row.
fn ledger(out: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let mut m = BTreeMap::new();
    for f in parquet_files(&out.join("ledger")) {
        for b in read_parquet(&f) {
            let col = |n: &str| b.column_by_name(n).expect("column").clone();
            let (ids, reason, of) = (col("post_id"), col("reason"), col("duplicate_of"));
            for i in 0..b.num_rows() {
                if let Some(id) = id_text(&ids, i) {
                    m.insert(
                        id,
                        (str_value(&reason, i).expect("reason"), str_value(&of, i)),
                    );
                }
            }
        }
    }
    m
}

fn run(config: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    optgate()
        .args(["run", "--progress", "never", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("starts")
}

/// `optgate verify OUT`, which must pass.
fn verified(out: &Path) {
    let v = optgate().arg("verify").arg(out).output().expect("starts");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// That the manifest `m` records the assertion `name` among those checked.
fn assert_checked(m: &serde_json::Value, name: &str) {
    let checked: Vec<&str> = m["verification"]["assertions"]
        .as_array()
        .expect("assertions")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(checked.contains(&name), "{checked:?}");
}

/// `run` that must succeed.
fn published(config: &Path, out: &Path, extra: &[&str]) {
    let o = run(config, out, extra);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

#[test]
fn exact_dedup_keeps_the_earliest_post_of_each_text_across_files_and_row_groups() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(
        tmp.path(),
        4000,
        &["--files", "3", "--row-group-rows", "300"],
    );
    let off = tmp.path().join("off");
    let config = write_config(tmp.path(), "");
    published(&config, &off, &[]);
    let config = write_config(tmp.path(), EXACT);
    let exact = tmp.path().join("exact");
    published(&config, &exact, &[]);

    // The oracle: the scrubbed posts of the run without dedup, grouped by
    // their normalised text; the earliest, then the smallest id, survives.
    let mut groups: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (t, id, text) in rows(&off) {
        if let Some(text) = text {
            groups.entry(normal(&text)).or_default().push((t, id));
        }
    }
    let mut want_kept = BTreeSet::new();
    let mut want_lost = BTreeMap::new();
    let mut clusters = 0u64;
    for posts in groups.values_mut() {
        posts.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| id_order(&a.1, &b.1)));
        want_kept.insert(posts[0].1.clone());
        clusters += u64::from(posts.len() > 1);
        for p in &posts[1..] {
            want_lost.insert(p.1.clone(), posts[0].1.clone());
        }
    }
    assert!(
        want_lost.len() > 100 && clusters > 50,
        "the sample has duplicates to find: {} in {clusters} clusters",
        want_lost.len()
    );
    let got: BTreeSet<String> = rows(&exact).into_iter().map(|r| r.1).collect();
    assert_eq!(got, want_kept);

    let ledger = ledger(&exact);
    let lost: BTreeMap<String, String> = ledger
        .iter()
        .filter(|(_, (r, _))| r == "duplicate")
        .map(|(id, (_, of))| {
            (
                id.clone(),
                of.clone().expect("a duplicate names its survivor"),
            )
        })
        .collect();
    assert_eq!(lost, want_lost);
    assert!(
        ledger
            .values()
            .all(|(r, of)| (r == "duplicate") == of.is_some()),
        "only duplicates name a survivor"
    );

    let m = manifest(&exact);
    assert_eq!(m["dedup"]["mode"], "exact");
    assert_eq!(m["dedup"]["removed"], want_lost.len() as u64);
    assert_eq!(m["dedup"]["clusters"], clusters);
    assert_eq!(
        m["counts"]["dropped_by_reason"]["duplicate"],
        want_lost.len() as u64
    );
    assert_eq!(
        m["counts"]["kept"].as_u64(),
        manifest(&off)["counts"]["kept"]
            .as_u64()
            .map(|k| k - want_lost.len() as u64)
    );
    assert_checked(&m, "no_exact_duplicates");
    assert_eq!(manifest(&off)["dedup"]["mode"], "off");
    assert_eq!(manifest(&off)["dedup"]["removed"], 0);

    // The same result whatever the number of threads, byte for byte.
    let one = tmp.path().join("one-thread");
    published(&config, &one, &["--threads", "1"]);
    for sub in ["data", "ledger"] {
        let a = parquet_files(&exact.join(sub));
        let b = parquet_files(&one.join(sub));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                fs::read(x).expect("read"),
                fs::read(y).expect("read"),
                "{x:?}"
            );
        }
    }

    // `verify`, with the inputs, accepts it; `explain` names the survivor.
    let v = optgate()
        .args(["verify", "--posts"])
        .arg(tmp.path().join("posts"))
        .arg(&exact)
        .output()
        .expect("starts");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let (loser, survivor) = want_lost.iter().next().expect("a duplicate");
    let e = run_ok(
        optgate()
            .arg("explain")
            .arg(&exact)
            .args(["--post-id", loser]),
    );
    let said = String::from_utf8_lossy(&e.stdout);
    assert!(said.contains(&format!("duplicate of {survivor}")), "{said}");
    // And the survivor, what it was kept in the place of.
    let e = run_ok(
        optgate()
            .args(["explain", "--json"])
            .arg(&exact)
            .args(["--post-id", survivor]),
    );
    let v: serde_json::Value = serde_json::from_slice(&e.stdout).expect("json");
    let mut stands_for: Vec<&str> = want_lost
        .iter()
        .filter(|(_, s)| *s == survivor)
        .map(|(l, _)| l.as_str())
        .collect();
    stands_for.sort();
    assert_eq!(v["status"], "included");
    assert_eq!(v["duplicates"], serde_json::json!(stands_for));
}

/// A night with dedup on gives what a full run gives: it processes every
/// post again, and says why.
#[test]
fn incremental_runs_redo_everything_and_equal_a_full_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (config, out) = sample_run(tmp.path(), 1200, 2, 300, EXACT);
    let full = manifest(&out);
    published(&config, &out, &["--overwrite", "--incremental"]);
    let m = manifest(&out);
    assert_eq!(m["incremental"]["reused_units"], 0);
    assert_eq!(
        m["incremental"]["full_reprocess_reason"],
        "deduplication needs every post of every night"
    );
    for k in ["counts", "dedup", "outputs", "ledger"] {
        assert_eq!(m[k], full[k], "{k}");
    }
}

/// Post id sequences of every data file, by file name.
fn parts(out: &Path) -> BTreeMap<String, Vec<(String, Option<String>)>> {
    let mut m = BTreeMap::new();
    for f in parquet_files(&out.join("data")) {
        let mut rows = Vec::new();
        for b in read_parquet(&f) {
            let col = |n: &str| b.column_by_name(n).expect("column").clone();
            let (ids, text) = (col("post_id"), col("text"));
            for i in 0..b.num_rows() {
                rows.push((id_text(&ids, i).expect("id"), str_value(&text, i)));
            }
        }
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        m.insert(name, rows);
    }
    m
}

/// Shards leave their duplicates to the merge, which removes those within
/// and across shards: the merged dataset is a single run's, byte for byte,
/// with the same ledger and counts.
#[test]
fn shards_and_their_merge_give_the_dataset_of_a_single_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(
        tmp.path(),
        4000,
        &["--files", "4", "--row-group-rows", "400"],
    );
    let config = write_config(tmp.path(), EXACT);
    let whole = tmp.path().join("whole");
    published(&config, &whole, &[]);
    let plan = tmp.path().join("plan.json");
    run_ok(
        optgate()
            .args(["plan", "--shards", "3", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&plan),
    );
    let mut shard_dirs = Vec::new();
    for k in 0..3 {
        let dir = tmp.path().join(format!("shard{k}"));
        published(
            &config,
            &dir,
            &[
                "--plan",
                plan.to_str().expect("utf-8"),
                "--shard",
                &k.to_string(),
            ],
        );
        let m = manifest(&dir);
        assert_eq!(m["dedup"]["pending"], true);
        assert_eq!(m["dedup"]["removed"], 0);
        shard_dirs.push(dir);
    }
    let merged = tmp.path().join("merged");
    run_ok(
        optgate()
            .arg("merge")
            .args(&shard_dirs)
            .arg("--out")
            .arg(&merged),
    );
    let (a, b) = (manifest(&whole), manifest(&merged));
    assert!(b["dedup"]["removed"].as_u64().expect("n") > 50);
    for k in ["counts", "dedup"] {
        assert_eq!(a[k], b[k], "{k}");
    }
    assert_eq!(parts(&whole), parts(&merged));
    assert_eq!(ledger(&whole), ledger(&merged));
    // Byte for byte: every data and ledger file has the digest a single
    // run's has (the merge lists them by path, a run by unit).
    let by_path = |m: &serde_json::Value, k: &str| -> BTreeMap<String, String> {
        m[k].as_array()
            .expect("files")
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().expect("path").to_owned(),
                    f["sha256"].as_str().expect("sha256").to_owned(),
                )
            })
            .collect()
    };
    for k in ["outputs", "ledger"] {
        assert_eq!(by_path(&a, k), by_path(&b, k), "{k}");
    }
    assert_checked(&b, "no_exact_duplicates");
    verified(&merged);
    // The shards' own files are as they were: the merge wrote new ones.
    for dir in &shard_dirs {
        verified(dir);
    }
}

/// An output that claims exact dedup but holds two posts with one text
/// (normalised) fails verification, naming the assertion.
#[test]
fn verification_finds_a_duplicate_text_left_in_the_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1500, &["--files", "1"]);
    let config = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    published(&config, &out, &[]);
    let mut m = manifest(&out);
    m["dedup"]["mode"] = serde_json::json!("exact");
    rewrite_manifest(&out, &m);
    let o = optgate().arg("verify").arg(&out).output().expect("starts");
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("FAIL  no_exact_duplicates"), "{said}");
}

/// `repurge` that removes a survivor leaves the posts it stood for removed
/// (they stay in the ledger as its duplicates): no text comes back that the
/// published output did not hold, and the output still verifies. The next
/// full run picks a new survivor among them.
#[test]
fn repurging_a_survivor_keeps_its_duplicates_removed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 3000, 2, 750, EXACT);
    let lost = ledger(&out);
    // A survivor with duplicates, and its author.
    let (loser, survivor) = lost
        .iter()
        .find_map(|(id, (_, of))| of.clone().map(|of| (id.clone(), of)))
        .expect("a duplicate");
    let mut author = None;
    for f in parquet_files(&out.join("data")) {
        for b in read_parquet(&f) {
            let ids = b.column_by_name("post_id").expect("post_id").clone();
            let authors = b.column_by_name("author_id").expect("author_id").clone();
            for i in 0..b.num_rows() {
                if id_text(&ids, i).as_deref() == Some(survivor.as_str()) {
                    author = id_text(&authors, i);
                }
            }
        }
    }
    let author = author.expect("the survivor is in the output");
    crate::operations::rewrite_registry(tmp.path(), |_| true, &[(&author, 1_790_000_000_000_000)]);
    let purged = tmp.path().join("purged");
    run_ok(
        optgate()
            .args(["repurge", "--from"])
            .arg(&out)
            .arg("--optouts")
            .arg(tmp.path().join("optouts.parquet"))
            .arg("--out")
            .arg(&purged),
    );
    let kept: BTreeSet<String> = rows(&purged).into_iter().map(|r| r.1).collect();
    assert!(!kept.contains(&survivor) && !kept.contains(&loser));
    let after = ledger(&purged);
    assert_eq!(after[&survivor].0, "opted_out");
    assert_eq!(
        after[&loser],
        ("duplicate".to_owned(), Some(survivor.clone()))
    );
    let m = manifest(&purged);
    assert_eq!(m["dedup"], manifest(&out)["dedup"]);
    assert_eq!(m["verification"]["passed"], true);
    verified(&purged);
}

/// The same posts with int64 ids: the same duplicates removed, the same
/// survivors (integer ids by value), and the output verifies.
#[test]
fn int64_ids_remove_the_same_duplicates_as_utf8_ids() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ledgers: Vec<BTreeMap<String, (String, Option<String>)>> = [false, true]
        .iter()
        .map(|int_ids| {
            let dir = tmp.path().join(if *int_ids { "int" } else { "utf8" });
            let mut extra = vec!["--files", "2"];
            if *int_ids {
                extra.push("--int-ids");
            }
            gen_sample(&dir, 2500, &extra);
            let config = write_config(&dir, EXACT);
            let out = dir.join("out");
            published(&config, &out, &[]);
            verified(&out);
            ledger(&out)
        })
        .collect();
    let duplicates = |l: &BTreeMap<String, (String, Option<String>)>| -> Vec<(String, String)> {
        l.iter()
            .filter_map(|(id, (_, of))| of.clone().map(|of| (id.clone(), of)))
            .collect()
    };
    assert!(!duplicates(&ledgers[0]).is_empty());
    assert_eq!(duplicates(&ledgers[0]), duplicates(&ledgers[1]));
}
