//! Files written by other implementations (pyarrow, pandas, DuckDB, Polars,
//! Apache Spark, delta-rs): the same posts, accounts and registry in every
//! codec, type and layout of `testdata/golden/variants/` (made by
//! `testdata/golden/make_golden.py`, the writers' versions in
//! `versions.json`). optgate must keep exactly the posts of
//! `expected.jsonl`, with the same scrubbed text and lang, from each, or
//! refuse the variant with a clear error where `variants.json` says so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use optgate_core::{IdColumn, StrColumn};

use crate::common::{optgate, parquet_files, read_parquet, repo_root, run_on_tables};

fn golden() -> PathBuf {
    repo_root().join("testdata/golden")
}

/// (post id as canonical text, text, lang) of every row, sorted by id.
type Rows = Vec<(String, Option<String>, Option<String>)>;

fn expected() -> Rows {
    let text = std::fs::read_to_string(golden().join("expected.jsonl")).expect("expected.jsonl");
    let mut rows: Rows = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let s = |k: &str| v[k].as_str().map(str::to_owned);
            (
                v["post_id"]
                    .as_i64()
                    .expect("an integer post id")
                    .to_string(),
                s("text"),
                s("lang"),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a arrow_array::ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("output has no column {name}: {:?}", batch.schema()))
}

fn output_rows(out: &Path) -> Rows {
    let mut rows = Rows::new();
    for file in parquet_files(&out.join("data")) {
        for batch in read_parquet(&file) {
            let ids = IdColumn::new(column(&batch, "post_id")).expect("an id column");
            let text = StrColumn::new(column(&batch, "text")).expect("a text column");
            let lang = StrColumn::new(column(&batch, "lang")).expect("a lang column");
            for i in 0..batch.num_rows() {
                rows.push((
                    ids.text(i).expect("a kept post has an id"),
                    text.get(i).map(str::to_owned),
                    lang.get(i).map(str::to_owned),
                ));
            }
        }
    }
    rows.sort();
    rows
}

#[test]
fn every_variant_written_by_another_tool_gives_the_reference_rows_or_a_clear_refusal() {
    let variants: serde_json::Value = serde_json::from_slice(
        &std::fs::read(golden().join("variants.json")).expect("variants.json"),
    )
    .expect("JSON");
    let listed: BTreeSet<String> = (variants.as_object().expect("an object").keys())
        .cloned()
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden().join("variants"))
        .expect("variants directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, on_disk, "variants.json must list every variant");
    assert!(listed.len() >= 30, "{} variants", listed.len());

    let want = expected();
    assert!(want.len() > 500, "{} reference rows", want.len());
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for name in &listed {
        let variant = golden().join("variants").join(name);
        let out = tmp.path().join(name);
        // No --config: the default policy applies.
        let result = run_on_tables(&variant, &out)
            .output()
            .expect("optgate starts");
        let stderr = String::from_utf8_lossy(&result.stderr);
        match variants[name]["expect"].as_str() {
            Some("same") => {
                if !result.status.success() {
                    failures.push(format!("{name}: exit {:?}: {stderr}", result.status.code()));
                    continue;
                }
                // verify reads the writer's registry and accounts too.
                let verify = optgate()
                    .arg("verify")
                    .arg(&out)
                    .arg("--optouts")
                    .arg(variant.join("optouts.parquet"))
                    .arg("--accounts")
                    .arg(variant.join("accounts.parquet"))
                    .output()
                    .expect("optgate starts");
                if !verify.status.success() {
                    failures.push(format!(
                        "{name}: verify exit {:?}: {}",
                        verify.status.code(),
                        String::from_utf8_lossy(&verify.stderr)
                    ));
                }
                let layout = &crate::common::manifest(&out)["inputs"]["posts_layout"];
                let hive = name.contains("hive");
                // The platform variant leaves a label the rules read to its
                // directories; the others, the lang hint.
                let key = if name.ends_with("by-platform") {
                    "platform"
                } else {
                    "lang"
                };
                if layout["kind"] != if hive { "hive" } else { "plain" }
                    || (hive && layout["partition_keys"] != serde_json::json!([key]))
                {
                    failures.push(format!("{name}: manifest records layout {layout}"));
                }
                let got = output_rows(&out);
                if got != want {
                    let first = got.iter().zip(&want).find(|(g, w)| g != w);
                    failures.push(format!(
                        "{name}: {} rows, {} expected; first difference {first:?}",
                        got.len(),
                        want.len()
                    ));
                }
            }
            Some("refused") => {
                // A Delta table's loose files hold a deleted post: reading
                // them would put it back, so the run must stop and say why.
                if result.status.code() != Some(1)
                    || !stderr.contains("Delta Lake")
                    || !stderr.contains("_delta_log")
                    || !stderr.contains("deleted")
                {
                    failures.push(format!(
                        "{name}: expected exit 1 naming the Delta log, got {:?}: {stderr}",
                        result.status.code()
                    ));
                }
                if out.exists() {
                    failures.push(format!("{name}: refused, yet an output was written"));
                }
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        }
    }
    // repurge takes a newer registry as Spark writes it (snappy, INT96).
    let spark = golden().join("variants/spark-defaults");
    let repurged = tmp.path().join("repurged");
    let o = optgate()
        .args(["repurge", "--from"])
        .arg(tmp.path().join("pyarrow-zstd"))
        .arg("--optouts")
        .arg(spark.join("optouts.parquet"))
        .arg("--out")
        .arg(&repurged)
        .output()
        .expect("optgate starts");
    if !o.status.success() {
        failures.push(format!(
            "repurge with Spark's registry: exit {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        ));
    } else if output_rows(&repurged) != want {
        failures.push("repurge with the same objectors changed the rows".into());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The Hive partition value reaches the output as a column: the variants
/// partitioned by `lang` hold no `lang` column in their files, yet the
/// comparison above requires each kept post's lang. Here the layout itself is
/// checked, so that the comparison cannot pass through a variant that is not
/// partitioned.
#[test]
fn hive_variants_hold_lang_only_in_their_directory_names() {
    for name in ["pyarrow-hive-partitions", "spark-hive-partitions"] {
        let posts = golden().join("variants").join(name).join("posts");
        let dirs: Vec<String> = std::fs::read_dir(&posts)
            .expect("posts directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with(['_', '.']))
            .collect();
        assert!(
            dirs.iter().all(|d| d.starts_with("lang=")),
            "{name}: {dirs:?}"
        );
        assert!(
            dirs.contains(&"lang=__HIVE_DEFAULT_PARTITION__".to_owned()),
            "{name}: a null lang is Hive's default partition: {dirs:?}"
        );
        let file = walk_parquet(&posts).into_iter().next().expect("a file");
        let batches = read_parquet(&file);
        assert!(
            batches[0].column_by_name("lang").is_none(),
            "{name}: the files themselves have no lang column"
        );
    }
}

fn walk_parquet(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk_parquet(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out.sort();
    out
}
