//! `optgate plan`, `run --plan --shard` and `merge`: a sharded run gives the
//! single-machine dataset, and merge refuses what is not one plan's shards.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

fn plan(config: &Path, shards: u32, out: &Path) {
    run_ok(
        optgate()
            .args(["plan", "--shards", &shards.to_string(), "--config"])
            .arg(config)
            .arg("--out")
            .arg(out),
    );
}

fn run_shard(config: &Path, plan: &Path, k: u32, out: &Path) -> Output {
    optgate()
        .args(["run", "--progress", "never", "--quiet", "--config"])
        .arg(config)
        .arg("--plan")
        .arg(plan)
        .args(["--shard", &k.to_string(), "--out"])
        .arg(out)
        .output()
        .expect("optgate starts")
}

fn merge(shards: &[PathBuf], out: &Path) -> Output {
    optgate()
        .arg("merge")
        .args(shards)
        .arg("--out")
        .arg(out)
        .output()
        .expect("optgate starts")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every data and ledger file of `out`, by path, with its bytes.
fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for sub in ["data", "ledger"] {
        for p in parquet_files(&out.join(sub)) {
            let name = format!("{sub}/{}", p.file_name().expect("name").to_string_lossy());
            v.push((name, fs::read(&p).expect("read")));
        }
    }
    v.sort();
    v
}

#[test]
fn sharded_run_merges_into_the_single_machine_dataset() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (config, single) = sample_run(tmp.path(), 6000, 4, 500, "");
    let plan_path = tmp.path().join("plan.json");
    plan(&config, 3, &plan_path);
    let p: serde_json::Value =
        serde_json::from_slice(&fs::read(&plan_path).expect("plan")).expect("json");
    assert_eq!(p["units"].as_array().expect("units").len(), 12);
    let rows: Vec<u64> = p["shard_rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_u64().expect("n"))
        .collect();
    assert_eq!(rows.iter().sum::<u64>(), 6000);
    assert!(rows.iter().all(|r| *r == 2000), "balanced: {rows:?}");
    // The same inputs give the same plan, byte for byte.
    let again = tmp.path().join("plan2.json");
    plan(&config, 3, &again);
    assert_eq!(fs::read(&plan_path).ok(), fs::read(&again).ok());

    let shards: Vec<PathBuf> = (0..3).map(|k| tmp.path().join(format!("s{k}"))).collect();
    for (k, s) in shards.iter().enumerate() {
        let o = run_shard(&config, &plan_path, k as u32, s);
        assert!(o.status.success(), "{}", stderr(&o));
        let m = manifest(s);
        assert_eq!(m["shard"]["index"], k as u64);
        assert_eq!(m["shard"]["shards"], 3);
        assert_eq!(m["counts"]["rows_in"], 2000);
    }

    // Missing shard: refused, named, nothing published.
    let merged = tmp.path().join("merged");
    let o = merge(&shards[..2], &merged);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing: shard 2"), "{}", stderr(&o));
    assert!(!merged.exists());
    // A shard given twice: refused.
    let o = merge(
        &[shards[0].clone(), shards[1].clone(), shards[1].clone()],
        &merged,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("shard 1 is given twice"),
        "{}",
        stderr(&o)
    );
    // A single-machine output is not a shard.
    let o = merge(&[shards[0].clone(), single.clone()], &merged);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a shard output"), "{}", stderr(&o));

    // In any order: the single-machine dataset.
    let o = merge(
        &[shards[2].clone(), shards[0].clone(), shards[1].clone()],
        &merged,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (a, b) = (manifest(&single), manifest(&merged));
    for key in ["counts", "pii", "outputs", "ledger"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["inputs"]["posts"], b["inputs"]["posts"]);
    assert_eq!(files(&single), files(&merged));
    assert_eq!(
        b["shard"]["merged_manifests"].as_array().map(Vec::len),
        Some(3)
    );
    assert!(b["shard"]["index"].is_null());
    // Shard and merged manifests follow the published schema.
    let schema: serde_json::Value = serde_json::from_slice(
        &fs::read(repo_root().join("schemas/manifest.schema.json")).expect("schema file"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for m in [&b, &manifest(&shards[1])] {
        let errors: Vec<String> = validator.iter_errors(m).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
    let o = run_ok(optgate().arg("verify").arg(&merged).arg("--json"));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["passed"], true);

    // Merged again over the published output, as a nightly job would: it
    // supersedes it and checks the registry against its snapshot.
    let before = fs::read(merged.join("manifest.json")).expect("manifest");
    let o = optgate()
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .arg("--overwrite")
        .output()
        .expect("optgate starts");
    assert!(o.status.success(), "{}", stderr(&o));
    let c = manifest(&merged);
    use sha2::Digest;
    assert_eq!(
        c["supersedes"].as_str(),
        Some(hex::encode(sha2::Sha256::digest(&before)).as_str())
    );
    assert_eq!(c["registry_check"]["lost"], 0);
    assert_eq!(
        c["registry_check"]["ids"],
        c["registry_check"]["previous_ids"]
    );
    assert_eq!(files(&single), files(&merged));

    // Shards of another plan (two shards of the same posts) do not mix.
    let plan2 = tmp.path().join("plan-2.json");
    plan(&config, 2, &plan2);
    let other = tmp.path().join("other");
    assert!(run_shard(&config, &plan2, 1, &other).status.success());
    let o = merge(
        &[shards[0].clone(), other, shards[2].clone()],
        &tmp.path().join("merged-2"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("another plan"), "{}", stderr(&o));
}

#[test]
fn a_shard_refuses_inputs_that_changed_since_the_plan() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (config, _) = sample_run(tmp.path(), 2000, 2, 500, "");
    let plan_path = tmp.path().join("plan.json");
    plan(&config, 2, &plan_path);
    // Out of range.
    let o = run_shard(&config, &plan_path, 2, &tmp.path().join("x"));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("shards 0 to 1"), "{}", stderr(&o));
    // One byte of one posts file's data changed: same name, size, rows and
    // row groups, another digest.
    let victim = parquet_files(&tmp.path().join("posts"))[1].clone();
    let mut bytes = fs::read(&victim).expect("read");
    let k = bytes.len() / 3;
    bytes[k] ^= 0x01;
    fs::write(&victim, bytes).expect("write");
    let outs: Vec<Output> = (0..2)
        .map(|k| run_shard(&config, &plan_path, k, &tmp.path().join(format!("s{k}"))))
        .collect();
    assert!(
        outs.iter()
            .any(|o| o.status.code() == Some(1) && stderr(o).contains("changed since the plan")),
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
}
