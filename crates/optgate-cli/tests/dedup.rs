//! `[dedup] mode = "exact"`: one post per normalised scrubbed text, the
//! earliest, across files and row groups; `mode = "near"`: one post per
//! cluster of alike texts. The ledger names each survivor; verification,
//! explain, shards and nights see it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::common::{
    gen_sample, manifest, optgate, parquet_files, read_parquet, rewrite_manifest, run_ok,
    sample_run, write_config,
};

/// The policy with exact deduplication.
const EXACT: &str = "[dedup]\nmode = \"exact\"\n";
/// The policy with near deduplication, its default settings.
const NEAR: &str = "[dedup]\nmode = \"near\"\n";
use crate::common::NO_DEDUP;
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
    let config = write_config(tmp.path(), NO_DEDUP);
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

/// `file`'s rows again as new posts created a day earlier: ids prefixed
/// with `prefix`, the same authors and texts (data that arrives late).
fn earlier_copies(file: &Path, to: &Path, prefix: &str) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;
    use arrow_array::{ArrayRef, StringArray, TimestampMicrosecondArray};
    let batches = read_parquet(file);
    let schema = batches[0].schema();
    let batch = arrow_select::concat::concat_batches(&schema, &batches).expect("concat");
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| -> ArrayRef {
            match f.name().as_str() {
                "post_id" => std::sync::Arc::new(
                    c.as_string::<i32>()
                        .iter()
                        .map(|v| v.map(|v| format!("{prefix}{v}")))
                        .collect::<StringArray>(),
                ),
                "created_at" => {
                    let t = c.as_primitive::<TimestampMicrosecondType>();
                    std::sync::Arc::new(
                        t.iter()
                            .map(|v| v.map(|v| v - 86_400_000_000))
                            .collect::<TimestampMicrosecondArray>()
                            .with_timezone_opt(t.timezone()),
                    )
                }
                _ => c.clone(),
            }
        })
        .collect();
    let batch = arrow_array::RecordBatch::try_new(schema, columns).expect("batch");
    crate::common::write_batch(to, &batch);
}

/// The work units (row groups) of the posts files in `posts`.
fn units_in(posts: &Path) -> u64 {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    parquet_files(posts)
        .iter()
        .map(|f| {
            let b = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(f).expect("open"));
            b.expect("footer").metadata().num_row_groups() as u64
        })
        .sum()
}

/// Nights in exact mode reuse the units whose input did not change, and
/// give the dataset a full run gives, file for file. A reused unit's keys
/// file says what it kept before deduplication; once tonight's duplicates
/// are found, it keeps its files (same losers), has its part written again
/// without posts that are now duplicates of posts created earlier that
/// arrived tonight, or is processed again because a post it lost now
/// survives (its survivor's input changed). Each case happens here.
#[test]
fn exact_incremental_nights_reuse_units_and_equal_a_full_run() {
    incremental_nights_reuse_units_and_equal_a_full_run(EXACT);
}

/// The same in near mode: a reused unit's keys file holds its posts'
/// signatures and band keys, from which tonight's clusters are found with
/// last night's posts, without reading last night's input again.
#[test]
fn near_incremental_nights_reuse_units_and_equal_a_full_run() {
    incremental_nights_reuse_units_and_equal_a_full_run(NEAR);
}

fn incremental_nights_reuse_units_and_equal_a_full_run(policy: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(
        tmp.path(),
        3000,
        &["--files", "3", "--row-group-rows", "500"],
    );
    let config = write_config(tmp.path(), policy);
    let posts = tmp.path().join("posts");
    // Last night: two of the three files.
    let held = tmp.path().join("held.parquet");
    fs::rename(posts.join("part-00002.parquet"), &held).expect("mv");
    let prev = tmp.path().join("prev");
    published(&config, &prev, &[]);
    let m = manifest(&prev);
    let units = 4;
    assert_eq!(m["dedup"]["keys"].as_array().expect("keys").len(), units);
    verified(&prev);

    // A night with nothing new: every unit reused, every file the same.
    let same = tmp.path().join("same");
    published(
        &config,
        &same,
        &["--incremental", "--previous", prev.to_str().expect("utf-8")],
    );
    let ms = manifest(&same);
    assert_eq!(ms["incremental"]["reused_units"], units);
    assert!(ms["incremental"]["rewritten_units"].is_null());
    for k in ["counts", "pii", "dedup", "outputs", "ledger"] {
        assert_eq!(ms[k], m[k], "{k}");
    }

    // Tonight: the third file arrives; the first is replaced by a version
    // without a survivor that stood for one post of the second file, so
    // that post, lost last night, survives tonight; and copies of the new
    // first file's posts arrive, created a day earlier, which displace
    // survivors of the second file.
    fs::rename(&held, posts.join("part-00002.parquet")).expect("mv");
    let mut stands_for: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, (_, of)) in ledger(&prev) {
        if let Some(of) = of {
            stands_for.entry(of).or_default().push(id);
        }
    }
    // The part each post id of last night's output or ledger of duplicates
    // is in.
    let mut unit_of: BTreeMap<String, String> = BTreeMap::new();
    for (dir, prefix) in [("data", ""), ("ledger", "dup-")] {
        for f in parquet_files(&prev.join(dir)) {
            let name = f.file_stem().expect("name").to_string_lossy().into_owned();
            let Some(unit) = name.strip_prefix(prefix) else {
                continue;
            };
            for b in read_parquet(&f) {
                let ids = b.column_by_name("post_id").expect("post_id").clone();
                for i in 0..b.num_rows() {
                    unit_of.insert(id_text(&ids, i).expect("id"), unit.to_owned());
                }
            }
        }
    }
    let (survivor, loser) = stands_for
        .iter()
        .filter(|(_, l)| l.len() == 1)
        .map(|(s, l)| (s.clone(), l[0].clone()))
        .find(|(s, l)| unit_of[s].starts_with("part-00000") && unit_of[l].starts_with("part-00001"))
        .expect("a survivor in the first file that stood for one post of the second");
    let first = posts.join("part-00000.parquet");
    let batches = read_parquet(&first);
    let schema = batches[0].schema();
    let batch = arrow_select::concat::concat_batches(&schema, &batches).expect("concat");
    let ids = batch.column_by_name("post_id").expect("post_id").clone();
    let keep: arrow_array::BooleanArray = (0..batch.num_rows())
        .map(|i| Some(id_text(&ids, i).as_deref() != Some(survivor.as_str())))
        .collect();
    let without = arrow_select::filter::filter_record_batch(&batch, &keep).expect("filter");
    assert_eq!(without.num_rows() + 1, batch.num_rows());
    crate::common::write_batch(&first, &without);
    earlier_copies(&first, &posts.join("part-00003.parquet"), "late-");

    let inc = tmp.path().join("inc");
    published(
        &config,
        &inc,
        &["--incremental", "--previous", prev.to_str().expect("utf-8")],
    );
    let full = tmp.path().join("full");
    published(&config, &full, &[]);
    let (mi, mf) = (manifest(&inc), manifest(&full));
    let i = &mi["incremental"];
    let n = |k: &str| i[k].as_u64().unwrap_or(0);
    assert!(i["full_reprocess_reason"].is_null(), "{i:#}");
    assert!(n("reused_units") > 0, "{i:#}");
    assert!(n("rewritten_units") > 0, "{i:#}");
    assert!(n("redone_units") > 0, "{i:#}");
    // The second file's two units are reused; the others are new.
    assert_eq!(n("reused_units"), 2 - n("redone_units"), "{i:#}");
    assert_eq!(
        n("reused_units") + n("reprocessed_units"),
        units_in(&posts),
        "{i:#}"
    );
    // The post whose survivor went survives, as in the full run.
    assert!(rows(&full).iter().any(|r| r.1 == loser));
    // The same dataset as a full run, file for file.
    for k in ["counts", "pii", "dedup", "outputs", "ledger"] {
        assert_eq!(mi[k], mf[k], "{k}");
    }
    assert_eq!(parts(&inc), parts(&full));
    assert_checked(&mi, "keys_files_match");
    verified(&inc);
}

/// A night never takes one unit's part for another's: each part says in its
/// footer which file and row group it was made from, and a reused unit's
/// must say its own. Here two parts of the previous output trade places
/// (files and manifest records alike, so every digest holds); the night
/// processes those units again and gives a full run's dataset.
#[test]
fn a_night_never_takes_another_unit_s_part_for_its_own() {
    for policy in [NO_DEDUP, EXACT, NEAR] {
        let tmp = tempfile::tempdir().expect("tmp");
        let (config, prev) = sample_run(tmp.path(), 2000, 2, 500, policy);
        let (a, b) = ("part-00000-00000.parquet", "part-00001-00000.parquet");
        // Every file of the two units: data, ledger, and in exact mode the
        // ledger of duplicates and the keys file.
        let mut pairs = vec![
            ("data", a.to_owned(), b.to_owned()),
            ("ledger", a.to_owned(), b.to_owned()),
        ];
        if policy != NO_DEDUP {
            pairs.push(("ledger", format!("dup-{a}"), format!("dup-{b}")));
            pairs.push(("keys", a.to_owned(), b.to_owned()));
        }
        let mut m = manifest(&prev);
        for (dir, a, b) in &pairs {
            let (pa, pb) = (prev.join(dir).join(a), prev.join(dir).join(b));
            let between = prev.join(dir).join("swap");
            fs::rename(&pa, &between).expect("mv");
            fs::rename(&pb, &pa).expect("mv");
            fs::rename(&between, &pb).expect("mv");
            let list = match *dir {
                "data" => &mut m["outputs"],
                "ledger" => &mut m["ledger"],
                _ => &mut m["dedup"]["keys"],
            };
            let files = list.as_array_mut().expect("files");
            let find = |name: String| {
                files
                    .iter()
                    .position(|f| f["path"] == serde_json::json!(name))
                    .expect("listed")
            };
            let (i, j) = (find(format!("{dir}/{a}")), find(format!("{dir}/{b}")));
            let (fi, fj) = (files[i].clone(), files[j].clone());
            for (k, from) in [(i, fj), (j, fi)] {
                let path = files[k]["path"].clone();
                files[k] = from;
                files[k]["path"] = path;
            }
        }
        crate::common::rewrite_manifest(&prev, &m);
        let night = tmp.path().join("night");
        let previous = prev.to_str().expect("utf-8");
        published(&config, &night, &["--incremental", "--previous", previous]);
        let full = tmp.path().join("full");
        published(&config, &full, &[]);
        let (mn, mf) = (manifest(&night), manifest(&full));
        assert_eq!(
            mn["incremental"]["reprocessed_units"], 2,
            "{:#}",
            mn["incremental"]
        );
        for k in ["counts", "pii", "dedup", "outputs", "ledger"] {
            assert_eq!(mn[k], mf[k], "{policy}: {k}");
        }
    }
}

/// `file` without the rows whose index is `k` modulo 7, as one row group.
fn without_some_rows(file: &Path, k: usize) {
    let batches = read_parquet(file);
    let schema = batches[0].schema();
    let batch = arrow_select::concat::concat_batches(&schema, &batches).expect("concat");
    let keep: arrow_array::BooleanArray = (0..batch.num_rows()).map(|i| Some(i % 7 != k)).collect();
    let kept = arrow_select::filter::filter_record_batch(&batch, &keep).expect("filter");
    crate::common::write_batch(file, &kept);
}

/// Ten nights in exact mode, each changing the inputs (which file or
/// author, drawn by a seeded generator): copies of a file's posts created a
/// day earlier arrive, a file goes, a file loses some rows, an author with
/// kept posts objects, or nothing changes; each kind twice. Each night runs from the last night's output and must
/// give a full run's dataset on the same inputs, file for file.
#[test]
fn exact_incremental_nights_at_random_equal_full_runs() {
    incremental_nights_at_random_equal_full_runs(EXACT);
}

#[test]
fn near_incremental_nights_at_random_equal_full_runs() {
    incremental_nights_at_random_equal_full_runs(NEAR);
}

fn incremental_nights_at_random_equal_full_runs(policy: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(
        tmp.path(),
        4000,
        &["--files", "4", "--row-group-rows", "400"],
    );
    let config = write_config(tmp.path(), policy);
    let posts = tmp.path().join("posts");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| -> usize {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % n as u64) as usize
    };
    let mut prev = tmp.path().join("night-0");
    published(&config, &prev, &[]);
    let (mut reused, mut rewritten, mut redone, mut changes) = (0, 0, 0, Vec::new());
    for (night, change) in (1..).zip([0, 2, 3, 1, 4, 2, 0, 3, 4, 1]) {
        let files = parquet_files(&posts);
        match change {
            0 => {
                let f = &files[next(files.len())];
                let to = posts.join(format!("copies-{night}.parquet"));
                earlier_copies(f, &to, &format!("n{night}-"));
            }
            1 if files.len() > 2 => fs::remove_file(&files[next(files.len())]).expect("rm"),
            2 => without_some_rows(&files[next(files.len())], next(7)),
            3 => {
                let parts = parquet_files(&prev.join("data"));
                let b = &read_parquet(&parts[next(parts.len())])[0];
                let authors = b.column_by_name("author_id").expect("author_id").clone();
                let author = id_text(&authors, next(b.num_rows())).expect("author");
                crate::operations::rewrite_registry(
                    tmp.path(),
                    |_| true,
                    &[(&author, 1_790_000_000_000_000)],
                );
            }
            _ => {}
        }
        changes.push(change);
        let inc = tmp.path().join(format!("night-{night}"));
        let previous = prev.to_str().expect("utf-8").to_owned();
        published(&config, &inc, &["--incremental", "--previous", &previous]);
        let full = tmp.path().join("full");
        published(&config, &full, &["--overwrite"]);
        let (mi, mf) = (manifest(&inc), manifest(&full));
        for k in ["counts", "pii", "dedup", "outputs", "ledger"] {
            assert_eq!(mi[k], mf[k], "night {night} (changes {changes:?}): {k}");
        }
        let i = &mi["incremental"];
        let n = |k: &str| i[k].as_u64().unwrap_or(0);
        reused += n("reused_units");
        rewritten += n("rewritten_units");
        redone += n("redone_units");
        prev = inc;
    }
    verified(&prev);
    // Nights reused, rewrote and redid units.
    assert!(
        reused > 0 && rewritten > 0 && redone > 0,
        "{reused} {rewritten} {redone}"
    );
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
    shards_and_merge_equal_a_single_run(EXACT, "no_exact_duplicates");
}

#[test]
fn near_shards_and_their_merge_give_the_dataset_of_a_single_run() {
    shards_and_merge_equal_a_single_run(NEAR, "no_near_duplicates");
}

fn shards_and_merge_equal_a_single_run(policy: &str, assertion: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(
        tmp.path(),
        4000,
        &["--files", "4", "--row-group-rows", "400"],
    );
    let config = write_config(tmp.path(), policy);
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
    assert_checked(&b, assertion);
    verified(&merged);
    // The shards' own files are as they were: the merge wrote new ones.
    for dir in &shard_dirs {
        verified(dir);
    }
}

/// The same dump delivered twice: with deduplication each post's copy would
/// go as a duplicate of itself, without a word. The run stops instead (exit
/// 1, nothing published), naming a repeated post and both its files, in
/// either mode and in the merge of shards.
#[test]
fn the_same_posts_delivered_twice_are_refused_not_deduplicated() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1500, &["--files", "1"]);
    let posts = tmp.path().join("posts");
    let first = parquet_files(&posts)[0].clone();
    fs::copy(&first, posts.join("again.parquet")).expect("copy");
    for policy in [EXACT, NEAR] {
        let config = write_config(tmp.path(), policy);
        let out = tmp.path().join("out");
        let o = run(&config, &out, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("delivered twice"), "{stderr}");
        assert!(stderr.contains("again.parquet row group"), "{stderr}");
        assert!(stderr.contains("part-00000.parquet row group"), "{stderr}");
        assert!(!out.exists());
        assert!(crate::common::leftovers(tmp.path(), "staging").is_empty());
    }
    // Shards, each holding one copy: the merge refuses them.
    let config = write_config(tmp.path(), EXACT);
    let plan = tmp.path().join("plan.json");
    run_ok(
        optgate()
            .args(["plan", "--shards", "2", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&plan),
    );
    let shards: Vec<_> = (0..2)
        .map(|k| {
            let dir = tmp.path().join(format!("shard{k}"));
            let plan = plan.to_str().expect("utf-8");
            published(&config, &dir, &["--plan", plan, "--shard", &k.to_string()]);
            dir
        })
        .collect();
    let merged = tmp.path().join("merged");
    let o = optgate()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .output()
        .expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("delivered twice"), "{stderr}");
    assert!(!merged.exists());
}

/// An output that claims exact dedup but holds two posts with one text
/// (normalised) fails verification, naming the assertion.
#[test]
fn verification_finds_a_duplicate_text_left_in_the_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1500, &["--files", "1"]);
    let config = write_config(tmp.path(), NO_DEDUP);
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
/// run, incremental or not, picks a new survivor among them: the repurged
/// output holds no keys files, so a night processes every unit again.
#[test]
fn repurging_a_survivor_keeps_its_duplicates_removed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (config, out) = sample_run(tmp.path(), 3000, 2, 750, EXACT);
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
    // The same figures; the keys files are not carried over (they list
    // duplicates by the purged author that the parts do not show).
    let mut before = manifest(&out)["dedup"].clone();
    assert!(!before["keys"].as_array().expect("keys").is_empty());
    before.as_object_mut().expect("object").remove("keys");
    assert_eq!(m["dedup"], before);
    assert!(
        fs::read_dir(purged.join("keys"))
            .expect("keys/")
            .next()
            .is_none()
    );
    assert_eq!(m["verification"]["passed"], true);
    verified(&purged);

    // The next night, from the purged output: no keys to reuse a unit by,
    // so every unit is processed again, and the dataset is a full run's.
    let full = night_processes_everything(
        tmp.path(),
        &config,
        &purged,
        "the previous output holds no keys files to deduplicate reused units by",
    );
    assert!(!rows(&full).iter().any(|r| r.1 == survivor));
}

/// An incremental night of `config` from `previous` that reuses no unit, for
/// `reason`, and gives the dataset a full run gives (made beside it in
/// `dir`, whose output directory is returned).
fn night_processes_everything(
    dir: &Path,
    config: &Path,
    previous: &Path,
    reason: &str,
) -> std::path::PathBuf {
    let night = dir.join("night");
    let previous = previous.to_str().expect("utf-8");
    published(config, &night, &["--incremental", "--previous", previous]);
    let full = dir.join("full");
    published(config, &full, &[]);
    let (mn, mf) = (manifest(&night), manifest(&full));
    assert_eq!(
        mn["incremental"]["reused_units"], 0,
        "{:#}",
        mn["incremental"]
    );
    assert_eq!(mn["incremental"]["full_reprocess_reason"], reason);
    for k in ["counts", "pii", "dedup", "outputs", "ledger"] {
        assert_eq!(mn[k], mf[k], "{k}");
    }
    full
}

/// A previous output whose near signatures were made another way (by
/// another optgate: its manifest records how) is not reused: its keys
/// files' signatures and band keys cannot be compared with this run's. The
/// night processes every unit again and gives a full run's dataset.
#[test]
fn a_night_does_not_reuse_near_signatures_made_another_way() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (config, prev) = sample_run(tmp.path(), 2000, 2, 500, NEAR);
    let mut m = manifest(&prev);
    assert_eq!(
        m["dedup"]["near"]["signature"],
        optgate_core::near::SIGNATURE
    );
    m["dedup"]["near"]["signature"] = "an earlier way".into();
    crate::common::rewrite_manifest(&prev, &m);
    night_processes_everything(
        tmp.path(),
        &config,
        &prev,
        "the previous output's near signatures were made another way than this optgate makes them",
    );
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

/// Post id → (kind, label) of the generated sample's `dedup-truth.jsonl`.
fn truth(dir: &Path) -> BTreeMap<String, (String, String)> {
    fs::read_to_string(dir.join("dedup-truth.jsonl"))
        .expect("truth")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let s = |k: &str| v[k].as_str().expect(k).to_owned();
            (s("post_id"), (s("kind"), s("label")))
        })
        .collect()
}

/// Near mode removes what exact mode removes and the copies with a small
/// edit (an emoji, a hashtag, two letters swapped) that exact mode keeps;
/// it merges no near miss (the same template with other content) and
/// almost no unrelated posts; the manifest records its settings and the
/// output verifies, checked again by `optgate verify`.
#[test]
fn near_dedup_removes_the_edited_copies_exact_mode_keeps() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 6000, &["--files", "2", "--dedup-truth"]);
    let truth = truth(tmp.path());
    let exact_config = write_config(tmp.path(), EXACT);
    let exact = tmp.path().join("exact");
    published(&exact_config, &exact, &[]);
    let near_config = write_config(tmp.path(), NEAR);
    let near = tmp.path().join("near");
    published(&near_config, &near, &[]);
    let lost = |out: &Path| -> BTreeMap<String, String> {
        ledger(out)
            .into_iter()
            .filter(|(_, (reason, _))| reason == "duplicate")
            .map(|(id, (_, of))| (id, of.expect("a duplicate names its survivor")))
            .collect()
    };
    let (lost_exact, lost_near) = (lost(&exact), lost(&near));
    for id in lost_exact.keys() {
        assert!(
            lost_near.contains_key(id),
            "{id}: exact removed it, near kept it"
        );
    }
    // Recall on the groups of posts made as one text that hold an edited
    // copy: of a group of g posts the policy keeps (a run with dedup off),
    // g - 1 must go.
    let off = tmp.path().join("off");
    published(&write_config(tmp.path(), NO_DEDUP), &off, &[]);
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, id, _) in rows(&off) {
        let label = truth[&id].1.as_str();
        groups.entry(label).or_default().push(id);
    }
    let edited = ["repost_emoji", "repost_hashtag", "repost_typo"];
    let recall = |lost: &BTreeMap<String, String>| {
        let (mut want, mut got) = (0usize, 0usize);
        for ids in groups.values().filter(|ids| {
            ids.len() > 1 && ids.iter().any(|id| edited.contains(&truth[id].0.as_str()))
        }) {
            want += ids.len() - 1;
            got += ids
                .iter()
                .filter(|id| lost.contains_key(*id))
                .count()
                .min(ids.len() - 1);
        }
        (got, want)
    };
    let (got, want) = recall(&lost_near);
    assert!(want >= 20, "{want} edited copies in the sample");
    assert!(
        got * 100 >= want * 95,
        "near found {got} of {want} edited copies"
    );
    let (got_exact, _) = recall(&lost_exact);
    assert!(got_exact * 2 < want, "exact found {got_exact} of {want}");
    // A loser and its survivor were made as one text, but for a few
    // unrelated posts that happen to be alike.
    let wrong: Vec<(&String, &String)> = lost_near
        .iter()
        .filter(|(id, of)| truth[*id].1 != truth[*of].1)
        .collect();
    assert!(
        wrong.len() * 100 <= lost_near.len(),
        "{} of {} merged wrongly: {:?}",
        wrong.len(),
        lost_near.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(
        wrong
            .iter()
            .all(|(id, _)| !truth[*id].0.starts_with("near_miss")),
        "{wrong:?}"
    );
    // The survivors are the earliest of their clusters: none of the kept
    // posts is a removed post's survivor that came later than it.
    let kept: BTreeMap<String, i64> = rows(&near).into_iter().map(|(t, id, _)| (id, t)).collect();
    for (id, of) in &lost_near {
        assert!(
            kept.contains_key(of),
            "{id}'s survivor {of} is not in the output"
        );
        assert!(!kept.contains_key(id));
    }
    let m = manifest(&near);
    assert_eq!(m["dedup"]["mode"], "near");
    assert_eq!(m["dedup"]["removed"], lost_near.len() as u64);
    assert_eq!(m["dedup"]["near"]["bands"], 12);
    assert_eq!(m["dedup"]["near"]["agreeing_needed"], 103);
    assert!(m["dedup"]["near"]["candidates"].as_u64().expect("n") >= lost_near.len() as u64);
    assert_checked(&m, "no_near_duplicates");
    verified(&near);
}

/// An output that claims near dedup but holds near duplicates (one made
/// with exact dedup) fails verification, naming the assertion and posts.
#[test]
fn verification_finds_near_duplicates_left_in_the_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 3000, &["--files", "1"]);
    let config = write_config(tmp.path(), EXACT);
    let out = tmp.path().join("out");
    published(&config, &out, &[]);
    verified(&out);
    let near_out = tmp.path().join("near");
    published(&write_config(tmp.path(), NEAR), &near_out, &[]);
    let mut m = manifest(&out);
    m["dedup"]["mode"] = serde_json::json!("near");
    m["dedup"]["near"] = manifest(&near_out)["dedup"]["near"].clone();
    rewrite_manifest(&out, &m);
    let o = optgate().arg("verify").arg(&out).output().expect("starts");
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("FAIL  no_near_duplicates"), "{said}");
    assert!(said.contains(" row "), "{said}");

    // An output whose signatures were made another way is not checked by
    // this one's: verification says so rather than pass or fail on noise.
    let mut m = manifest(&near_out);
    m["dedup"]["near"]["signature"] = serde_json::json!("k-permutation minhash");
    rewrite_manifest(&near_out, &m);
    let o = optgate()
        .arg("verify")
        .arg(&near_out)
        .output()
        .expect("starts");
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{said}");
    assert!(
        said.contains("dedup.near.signature") && said.contains("k-permutation minhash"),
        "{said}"
    );
}

/// Near settings that cannot work stop the run before it reads a post,
/// naming the config file and the setting.
#[test]
fn near_settings_that_cannot_work_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 200, &["--files", "1"]);
    let config = write_config(
        tmp.path(),
        "[dedup]\nmode = \"near\"\nbands = 20\nrows = 8\n",
    );
    let o = run(&config, &tmp.path().join("out"), &[]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        said.contains("config.toml") && said.contains("dedup.bands"),
        "{said}"
    );
    assert!(!tmp.path().join("out").exists());
}
