//! The ledger, the manifest schema and `optgate verify` on good and tampered outputs.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::common::*;

fn ids(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    let mut v = Vec::new();
    for b in batches {
        let c = b.column_by_name(column).expect("column");
        let s = arrow_cast_utf8(c);
        v.extend(s);
    }
    v
}

fn arrow_cast_utf8(c: &ArrayRef) -> Vec<Option<String>> {
    match c.data_type() {
        DataType::Utf8 => c
            .as_string::<i32>()
            .iter()
            .map(|x| x.map(str::to_owned))
            .collect(),
        DataType::Int64 => c
            .as_primitive::<arrow_array::types::Int64Type>()
            .iter()
            .map(|x| x.map(|n| n.to_string()))
            .collect(),
        t => panic!("unexpected id type {t}"),
    }
}

fn read_dir_batches(dir: &Path) -> Vec<RecordBatch> {
    parquet_files(dir)
        .iter()
        .flat_map(|p| read_parquet(p))
        .collect()
}

fn verify(out: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let o = optgate()
        .args(["verify", "--json"])
        .arg(out)
        .args(extra)
        .output()
        .expect("optgate starts");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "verify prints JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o, v)
}

/// The names of the failed assertions, with their found values.
fn failed(v: &serde_json::Value) -> BTreeMap<String, u64> {
    v["assertions"]
        .as_array()
        .expect("assertions")
        .iter()
        .filter(|a| a["passed"] == false)
        .map(|a| {
            (
                a["name"].as_str().expect("name").to_owned(),
                a["actual"].as_u64().expect("actual"),
            )
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[test]
fn ledger_has_one_row_per_dropped_post_and_reconciles_with_the_manifest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 6000, 3, 700, "");
    let m = manifest(&out);
    let ledger = read_dir_batches(&out.join("ledger"));
    let kept = read_dir_batches(&out.join("data"));
    let input = read_dir_batches(&tmp.path().join("posts"));

    // Rows per first reason equal the manifest, zeros included.
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for b in &ledger {
        let first = b
            .column_by_name("reason")
            .expect("reason")
            .as_string::<i32>();
        let all = b
            .column_by_name("reasons")
            .expect("reasons")
            .as_list::<i32>();
        for i in 0..b.num_rows() {
            *by_reason.entry(first.value(i).to_owned()).or_default() += 1;
            // The first reason leads the list of every failing reason.
            let list = all.value(i);
            let list = list.as_string::<i32>();
            assert!(!list.is_empty());
            assert_eq!(list.value(0), first.value(i));
        }
        // No text, no author: the ledger holds ids and reasons only.
        let names: Vec<&str> = b
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            [
                "post_id",
                "reason",
                "reasons",
                "input_file",
                "input_row_group",
                "duplicate_of"
            ]
        );
    }
    for (reason, n) in m["counts"]["dropped_by_reason"]
        .as_object()
        .expect("reasons")
    {
        assert_eq!(
            by_reason.get(reason).copied().unwrap_or(0),
            n.as_u64().expect("count"),
            "{reason}"
        );
    }
    let ledger_rows: usize = ledger.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(
        ledger_rows as u64,
        m["counts"]["dropped"].as_u64().expect("dropped")
    );
    let manifest_rows: u64 = m["ledger"]
        .as_array()
        .expect("ledger files")
        .iter()
        .map(|f| f["rows"].as_u64().expect("rows"))
        .sum();
    assert_eq!(manifest_rows, ledger_rows as u64);

    // Kept and ledger posts together are exactly the input posts.
    let mut seen: HashMap<Option<String>, i64> = HashMap::new();
    for id in ids(&input, "post_id") {
        *seen.entry(id).or_default() += 1;
    }
    for id in ids(&kept, "post_id")
        .into_iter()
        .chain(ids(&ledger, "post_id"))
    {
        *seen.entry(id).or_default() -= 1;
    }
    assert!(seen.values().all(|n| *n == 0), "kept + ledger == inputs");
}

#[test]
fn manifests_validate_against_the_published_json_schema() {
    let schema: serde_json::Value = serde_json::from_slice(
        &fs::read(repo_root().join("schemas/manifest.schema.json")).expect("schema file"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for (name, policy) in [
        ("opt-out", ""),
        (
            "consent",
            "[policy]\nmode = \"consent\"\n[pii]\nenabled = false\n",
        ),
    ] {
        let tmp = tempfile::tempdir().expect("tmp");
        let (_, out) = sample_run(tmp.path(), 2000, 3, 700, policy);
        let m = manifest(&out);
        let errors: Vec<String> = validator.iter_errors(&m).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        // The schema is strict: an unknown field or a wrong type fails it.
        let mut bad = m.clone();
        bad["counts"]["surprise"] = serde_json::json!(1);
        assert!(!validator.is_valid(&bad));
        let mut bad = m.clone();
        bad["counts"]["kept"] = serde_json::json!("many");
        assert!(!validator.is_valid(&bad));
        // The digest beside the manifest is the manifest's.
        let text = fs::read(out.join("manifest.json")).expect("manifest");
        let beside = fs::read_to_string(out.join("manifest.json.sha256")).expect("digest file");
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(&text));
        assert_eq!(beside, format!("{digest}  manifest.json\n"));
        // Canonical: keys sorted at every level.
        let reparsed: serde_json::Value = serde_json::from_slice(&text).expect("json");
        let mut canonical = serde_json::to_string_pretty(&reparsed).expect("json");
        canonical.push('\n');
        assert_eq!(String::from_utf8(text).expect("utf8"), canonical, "{name}");
    }
}

#[test]
fn verify_passes_on_a_fresh_output_with_and_without_the_inputs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 3000, 3, 700, "");
    let (o, v) = verify(&out, &[]);
    assert!(o.status.success(), "{v:#}");
    assert_eq!(v["passed"], true);
    let posts = tmp.path().join("posts");
    let (o, v) = verify(&out, &["--posts", posts.to_str().expect("utf8")]);
    assert!(o.status.success(), "{v:#}");
    let names: Vec<&str> = v["assertions"]
        .as_array()
        .expect("assertions")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    for n in [
        "no_objector",
        "adult_at_creation",
        "post_ids_unique",
        "output_from_inputs",
    ] {
        assert!(names.contains(&n), "{n} checked");
    }
    // The text report says the same, and runs from any directory.
    let o = run_ok(
        optgate()
            .current_dir(tmp.path().join("posts"))
            .arg("verify")
            .arg(&out),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("assertions hold"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn verify_catches_an_edited_file_an_added_row_and_a_changed_count() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 3000, 3, 700, "");
    let part = parquet_files(&out.join("data"))[0].clone();
    let rel = format!("data/{}", part.file_name().expect("name").to_string_lossy());

    // A file edited in place (one byte of its data changed).
    let edited = tmp.path().join("edited");
    copy_dir(&out, &edited);
    let target = edited.join(&rel);
    let mut bytes = fs::read(&target).expect("read");
    let k = bytes.len() / 2;
    bytes[k] ^= 0x55;
    fs::write(&target, bytes).expect("write");
    let (o, v) = verify(&edited, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(failed(&v).contains_key("output_files_match"), "{v:#}");

    // A row added: the file rewritten with its first row twice.
    let added = tmp.path().join("added");
    copy_dir(&out, &added);
    let target = added.join(&rel);
    let batches = read_parquet(&target);
    let schema = batches[0].schema();
    let mut with_extra = batches.clone();
    with_extra.push(batches[0].slice(0, 1));
    fs::remove_file(&target).expect("rm");
    let combined = arrow_select_concat(&schema, &with_extra);
    write_batch(&target, &combined);
    let (o, v) = verify(&added, &[]);
    assert_eq!(o.status.code(), Some(3));
    let f = failed(&v);
    assert!(f.contains_key("output_files_match"), "{v:#}");
    assert_eq!(f.get("post_ids_unique"), Some(&1), "{v:#}");
    let kept = manifest(&out)["counts"]["kept"].as_u64().expect("kept");
    assert_eq!(f.get("output_rows"), Some(&(kept + 1)), "{v:#}");

    // A count changed in the manifest: the digest beside it no longer
    // matches, and when that is forged too, the counts themselves fail.
    let changed = tmp.path().join("changed");
    copy_dir(&out, &changed);
    let mut m = manifest(&changed);
    m["counts"]["kept"] = serde_json::json!(kept - 1);
    let text = format!("{}\n", serde_json::to_string_pretty(&m).expect("json"));
    fs::write(changed.join("manifest.json"), &text).expect("write");
    let (o, v) = verify(&changed, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(failed(&v).contains_key("manifest_digest"), "{v:#}");
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    fs::write(
        changed.join("manifest.json.sha256"),
        format!("{digest}  manifest.json\n"),
    )
    .expect("write");
    let (o, v) = verify(&changed, &[]);
    assert_eq!(o.status.code(), Some(3));
    let f = failed(&v);
    assert!(!f.contains_key("manifest_digest"), "{v:#}");
    assert!(f.contains_key("output_rows"), "{v:#}");
    assert!(f.contains_key("counts_add_up"), "{v:#}");

    // The untouched output still passes.
    let (o, _) = verify(&out, &[]);
    assert!(o.status.success());
}

fn arrow_select_concat(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .map(|c| {
            let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrow_select::concat::concat(&arrays).expect("concat")
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).expect("batch")
}

#[test]
fn verify_counts_the_ledger_by_reason_and_catches_a_changed_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 3000, 3, 700, "");
    let (o, v) = verify(&out, &[]);
    assert!(o.status.success(), "{v:#}");

    // One ledger row's first reason changed to another reason: the row count
    // still matches, the count per reason does not.
    let changed = tmp.path().join("changed");
    copy_dir(&out, &changed);
    let part = parquet_files(&changed.join("ledger"))[0].clone();
    let batches = read_parquet(&part);
    let schema = batches[0].schema();
    let batch = arrow_select_concat(&schema, &batches);
    let index = schema.index_of("reason").expect("reason column");
    let mut reasons: Vec<Option<String>> = arrow_cast_utf8(batch.column(index));
    let other = if reasons[0].as_deref() == Some("underage") {
        "not_public"
    } else {
        "underage"
    };
    reasons[0] = Some(other.to_owned());
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(StringArray::from(reasons)) as ArrayRef;
    let edited = RecordBatch::try_new(schema, columns).expect("batch");
    fs::remove_file(&part).expect("rm");
    write_batch(&part, &edited);
    let (o, v) = verify(&changed, &[]);
    assert_eq!(o.status.code(), Some(3));
    let f = failed(&v);
    assert!(f.contains_key("ledger_reasons_match"), "{v:#}");
    assert!(!f.contains_key("ledger_rows"), "{v:#}");
}

#[test]
fn verify_against_a_newer_registry_lists_the_posts_of_new_objectors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 3000, 3, 700, "");
    let kept = read_dir_batches(&out.join("data"));
    // An author with posts in the output objects after the run.
    let authors = ids(&kept, "author_id");
    let posts = ids(&kept, "post_id");
    let objector = authors[0].clone().expect("author id");
    let expected: Vec<String> = authors
        .iter()
        .zip(&posts)
        .filter(|(a, _)| a.as_deref() == Some(objector.as_str()))
        .map(|(_, p)| p.clone().expect("post id"))
        .collect();
    assert!(!expected.is_empty());

    let old = read_parquet(&tmp.path().join("optouts.parquet"));
    let mut users: Vec<Option<String>> = ids(&old, "user_id");
    users.push(Some(objector.clone()));
    let mut at: Vec<Option<i64>> = Vec::new();
    for b in &old {
        let c = b.column_by_name("objected_at").expect("objected_at");
        match c.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, _) => at.extend(
                c.as_primitive::<arrow_array::types::TimestampNanosecondType>()
                    .iter()
                    .map(|x| x.map(|n| n.div_euclid(1000))),
            ),
            DataType::Timestamp(TimeUnit::Microsecond, _) => at.extend(
                c.as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                    .iter(),
            ),
            t => panic!("unexpected objected_at type {t}"),
        }
    }
    at.push(Some(1_790_000_000_000_000));
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new(
            "objected_at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
    ]));
    let newer = tmp.path().join("optouts-newer.parquet");
    write_batch(
        &newer,
        &RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(users)),
                Arc::new(TimestampMicrosecondArray::from(at)),
            ],
        )
        .expect("batch"),
    );

    let (o, v) = verify(&out, &["--optouts", newer.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(3));
    let f = failed(&v);
    assert_eq!(f.len(), 1, "only the registry check fails: {f:?}");
    assert_eq!(f.get("no_objector"), Some(&(expected.len() as u64)));
    let listed: Vec<String> = v["assertions"]
        .as_array()
        .expect("assertions")
        .iter()
        .find(|a| a["name"] == "no_objector")
        .expect("no_objector")["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| e.as_str().expect("id").to_owned())
        .collect();
    let mut want = expected.clone();
    want.truncate(20);
    assert_eq!(listed, want);
    // The table report says this is not the registry the run used.
    let table = v["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["table"] == "optouts")
        .expect("optouts")
        .clone();
    assert_ne!(table["sha256"], table["recorded_sha256"]);
}

#[test]
fn a_run_whose_output_fails_verification_exits_2_and_publishes_nothing() {
    // The same dump delivered twice: every kept post would be in the output
    // twice, which the rules (one post at a time) cannot see and the
    // verification of the written output must.
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1500, &["--files", "1"]);
    let posts = tmp.path().join("posts");
    let first = parquet_files(&posts)[0].clone();
    fs::copy(&first, posts.join("again.parquet")).expect("copy");
    // Without deduplication (which would remove each copy as a duplicate
    // of itself).
    let config = write_config(tmp.path(), crate::common::NO_DEDUP);
    let out = tmp.path().join("out");
    let o = optgate()
        .args(["run", "--progress", "never", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("post_ids_unique"), "{stderr}");
    assert!(stderr.contains("nothing published"), "{stderr}");
    assert!(!out.exists());
    assert!(leftovers(tmp.path(), "staging").is_empty());
}

/// An output published before `inputs.posts_layout` (manifest_version 2,
/// without `dedup` either) still verifies and can be superseded; a version optgate does not know is
/// refused, saying which it reads.
#[test]
fn a_version_2_manifest_is_still_read_and_an_unknown_version_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Without deduplication, which version 3 did not know.
    let (config, out) = sample_run(tmp.path(), 1000, 2, 300, crate::common::NO_DEDUP);
    let rewrite = |version: u64| {
        let mut m = manifest(&out);
        assert_eq!(m["manifest_version"], 6);
        m["manifest_version"] = serde_json::json!(version);
        m["inputs"]
            .as_object_mut()
            .expect("inputs")
            .remove("posts_layout")
            .expect("a version 3 manifest records the layout");
        // Nor did version 3 know deduplication.
        m.as_object_mut()
            .expect("manifest")
            .remove("dedup")
            .expect("a version 4 manifest records deduplication");
        for counts in ["dropped_by_reason", "failing_by_rule"] {
            m["counts"][counts]
                .as_object_mut()
                .expect("counts")
                .remove("duplicate")
                .expect("a version 4 manifest counts duplicates");
        }
        rewrite_manifest(&out, &m);
    };
    rewrite(2);
    let (o, v) = verify(&out, &[]);
    assert!(o.status.success(), "{v:#}");
    // The next run supersedes it.
    run_ok(
        optgate()
            .args([
                "run",
                "--progress",
                "never",
                "--quiet",
                "--overwrite",
                "--config",
            ])
            .arg(&config)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(manifest(&out)["manifest_version"], 6);
    rewrite(9);
    let o = optgate().arg("verify").arg(&out).output().expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("manifest_version 9 is not a version this optgate reads ([2, 3, 4, 5, 6]"),
        "{stderr}"
    );
}
