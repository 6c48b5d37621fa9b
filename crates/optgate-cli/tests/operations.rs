//! Cron-grade operation: the lock, signals, SIGKILL at any point, write
//! errors and permissions.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn run_cmd(config: &Path, out: &Path) -> Command {
    let mut c = optgate();
    c.args(["run", "--progress", "never", "--overwrite", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out);
    c
}

/// Bytes of every data and ledger file, by relative path.
fn payload(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for sub in ["data", "ledger"] {
        for p in parquet_files(&out.join(sub)) {
            let name = format!("{sub}/{}", p.file_name().expect("name").to_string_lossy());
            v.push((name, fs::read(&p).expect("read")));
        }
    }
    v
}

fn verify_ok(out: &Path) -> bool {
    optgate()
        .arg("verify")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("starts")
        .success()
}

#[test]
fn a_second_run_on_the_same_output_is_refused_and_a_stale_lock_is_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1000, &[]);
    let config = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    let lock_path = tmp.path().join(".out.lock");

    // Another live run holds the lock.
    let holder = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("lock file");
    holder.lock().expect("lock");
    fs::write(
        &lock_path,
        format!(
            "pid={} run_id=x started=2026-11-24T00:00:00Z\n",
            std::process::id()
        ),
    )
    .expect("write");
    let o = run_cmd(&config, &out).output().expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another optgate run"), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    assert!(!out.exists());
    drop(holder);

    // A run that died: its lock file still names it, its staging is left.
    fs::write(
        &lock_path,
        "pid=999999999 run_id=dead started=2026-11-23T01:00:00Z\n",
    )
    .expect("write");
    let leftover = tmp.path().join(".out.staging-dead");
    fs::create_dir_all(leftover.join("data")).expect("mkdir");
    let o = run_ok(&mut run_cmd(&config, &out));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("stale lock"), "{stderr}");
    assert!(stderr.contains("no longer running"), "{stderr}");
    assert!(!leftover.exists(), "the dead run's staging is removed");
    assert!(verify_ok(&out));
    // Released cleanly: the lock file is empty again.
    assert_eq!(fs::read_to_string(&lock_path).expect("lock"), "");
}

fn big_sample(dir: &Path) -> PathBuf {
    gen_sample(dir, 60_000, &["--files", "6", "--row-group-rows", "2500"]);
    write_config(dir, "")
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(start.elapsed() < limit, "optgate did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigterm_and_sigint_stop_the_run_cleanly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = big_sample(tmp.path());
    // A third of a whole run in, measured now: the other tests share the cores.
    let started = Instant::now();
    run_ok(&mut run_cmd(&config, &tmp.path().join("timing")));
    let mut delay = started.elapsed() / 3;
    for signal in ["TERM", "INT"] {
        let out = tmp.path().join(format!("out-{signal}"));
        let (status, stderr) = loop {
            let mut child = run_cmd(&config, &out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("starts");
            std::thread::sleep(delay);
            let sent = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(sent.success());
            let status = wait_with_timeout(&mut child, Duration::from_secs(60));
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
                .expect("read");
            // The run finished before the signal came: try again, earlier.
            if status.success() && delay > Duration::from_millis(1) {
                fs::remove_dir_all(&out).expect("remove");
                delay /= 2;
                continue;
            }
            break (status, stderr);
        };
        assert_eq!(status.code(), Some(130), "SIG{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(!out.exists(), "nothing published");
        assert!(
            leftovers(tmp.path(), "staging").is_empty(),
            "staging removed"
        );
    }
}

#[test]
fn sigkill_at_any_point_leaves_the_previous_output_or_none_never_a_partial_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = big_sample(tmp.path());
    // The reference: an uninterrupted run.
    let reference_out = tmp.path().join("reference");
    run_ok(&mut run_cmd(&config, &reference_out));
    let reference = payload(&reference_out);

    for with_previous in [false, true] {
        let out = tmp.path().join(format!("out-{with_previous}"));
        let mut previous_manifest = None;
        // How long a whole run takes now: the other tests share the cores,
        // so it is measured again for each sweep.
        let started = Instant::now();
        run_ok(&mut run_cmd(&config, &tmp.path().join("timing")));
        let full = started.elapsed();
        if with_previous {
            run_ok(&mut run_cmd(&config, &out));
            previous_manifest = Some(fs::read(out.join("manifest.json")).expect("manifest"));
        }
        // Kill points spread over a whole run: reading, writing, verifying,
        // publishing; up to one and a half times a whole run, so the last
        // points fall after it. Should the machine slow down so that none
        // of them reached the publish, the sweep goes on, half a run later
        // each time, until one does.
        let steps = 14u32;
        let extra = 20u32;
        let (mut absent, mut old, mut new) = (0, 0, 0);
        for k in 0..=steps + extra {
            if k > steps && new > 0 {
                break;
            }
            let delay = if k <= steps {
                full * 3 * k / (2 * steps)
            } else {
                full * 3 / 2 + full * (k - steps) / 2
            };
            let mut child = run_cmd(&config, &out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starts");
            std::thread::sleep(delay);
            let _ = child.kill();
            let _ = child.wait();
            if out.exists() {
                // Complete: either the previous output untouched, or a new one
                // that verifies and holds the same bytes.
                assert!(verify_ok(&out), "kill at {delay:?}: output does not verify");
                assert_eq!(payload(&out), reference, "kill at {delay:?}");
                let m = fs::read(out.join("manifest.json")).expect("manifest");
                if previous_manifest.as_ref() == Some(&m) {
                    old += 1;
                } else {
                    new += 1;
                    if with_previous {
                        // A new version was published: it supersedes the previous one.
                        let v: serde_json::Value = serde_json::from_slice(&m).expect("json");
                        assert!(v["supersedes"].is_string());
                    }
                    // The next kill point starts from this output.
                    previous_manifest = Some(m);
                }
            } else {
                assert!(
                    !with_previous,
                    "kill at {delay:?}: the previous output vanished"
                );
                absent += 1;
            }
        }
        eprintln!("with previous {with_previous}: absent {absent}, previous kept {old}, new {new}");
        // The sweep reached both sides of the publish.
        if with_previous {
            assert!(old > 0 && new > 0, "{old} {new}, a whole run {full:?}");
        } else {
            assert!(
                absent > 0 && new > 0,
                "{absent} {new}, a whole run {full:?}"
            );
        }
        // The next run completes and gives the same bytes as an uninterrupted one.
        run_ok(&mut run_cmd(&config, &out));
        assert_eq!(payload(&out), reference);
        assert!(verify_ok(&out));
        assert!(leftovers(tmp.path(), "staging").is_empty());
        assert!(leftovers(tmp.path(), "replaced").is_empty());
    }
}

/// Mounts a tmpfs at `dir` (root only); false where that is not possible.
fn mount_tmpfs(dir: &Path, options: &str) -> bool {
    fs::create_dir_all(dir).expect("mkdir");
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn umount(dir: &Path) {
    let _ = Command::new("umount").arg(dir).status();
}

#[test]
fn write_errors_give_a_clear_error_and_publish_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 20_000, &[]);
    let config = write_config(tmp.path(), "");

    // A file where the output's parent directory should be.
    let blocker = tmp.path().join("not-a-dir");
    fs::write(&blocker, "x").expect("write");
    let o = run_cmd(&config, &blocker.join("out"))
        .output()
        .expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not-a-dir"), "{stderr}");

    // Disk full and a read-only filesystem, on small tmpfs mounts (root only).
    let full = tmp.path().join("full");
    if !mount_tmpfs(&full, "size=64k") {
        eprintln!("SKIPPED disk-full and read-only cases: cannot mount a tmpfs here (not root)");
        return;
    }
    let o = run_cmd(&config, &full.join("out"))
        .output()
        .expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let listing: Vec<String> = fs::read_dir(&full)
        .expect("ls")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    umount(&full);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains(".out.staging-"), "names the file: {stderr}");
    assert!(
        listing.iter().all(|n| n == ".out.lock"),
        "nothing published, staging removed: {listing:?}"
    );

    let ro = tmp.path().join("ro");
    assert!(mount_tmpfs(&ro, "ro,size=1m"));
    let o = run_cmd(&config, &ro.join("out")).output().expect("starts");
    umount(&ro);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
}

#[test]
fn outputs_are_owner_and_group_only_whatever_the_umask() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1000, &[]);
    let config = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && '{bin}' run --progress never --config '{config}' --out '{out}' \
             --openlineage '{lineage}' && '{bin}' report '{out}' \
             && '{bin}' plan --config '{config}' --shards 2 --out '{plan}'",
            bin = env!("CARGO_BIN_EXE_optgate"),
            config = config.display(),
            out = out.display(),
            lineage = tmp.path().join("lineage.json").display(),
            plan = tmp.path().join("plan.json").display(),
        ))
        .stdout(Stdio::null())
        .status()
        .expect("sh");
    assert!(status.success());
    let mut checked = 0;
    let mut stack = vec![out.clone()];
    while let Some(p) = stack.pop() {
        let meta = fs::metadata(&p).expect("meta");
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o750, "{}", p.display());
            stack.extend(fs::read_dir(&p).expect("ls").map(|e| e.expect("e").path()));
        } else {
            assert_eq!(mode, 0o640, "{}", p.display());
        }
        checked += 1;
    }
    assert!(checked > 5);
    // The report (inside OUT, checked above), the lineage event and the plan.
    assert!(out.join("report.html").exists() && out.join("report.md").exists());
    for f in ["lineage.json", "plan.json"] {
        let mode = fs::metadata(tmp.path().join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "{f}");
    }
    let lock = fs::metadata(tmp.path().join(".out.lock")).expect("lock");
    assert_eq!(
        lock.permissions().mode() & 0o007,
        0,
        "the lock file is not world-readable"
    );
}

/// Rewrites the sample's objection registry with `keep` deciding which rows
/// stay, and `extra` (user id, objected_at in micros) appended.
pub fn rewrite_registry(dir: &Path, keep: impl Fn(&str) -> bool, extra: &[(&str, i64)]) -> usize {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;
    let path = dir.join("optouts.parquet");
    let batches = read_parquet(&path);
    let (mut users, mut at) = (Vec::new(), Vec::new());
    for b in &batches {
        let u = b
            .column_by_name("user_id")
            .expect("user_id")
            .as_string::<i32>();
        let t = b
            .column_by_name("objected_at")
            .expect("objected_at")
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            if u.is_valid(i) && keep(u.value(i)) {
                users.push(Some(u.value(i).to_owned()));
                at.push(t.is_valid(i).then(|| t.value(i)));
            }
        }
    }
    for (u, t) in extra {
        users.push(Some((*u).to_owned()));
        at.push(Some(*t));
    }
    let n = users.len();
    let schema = batches[0].schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(users)),
            Arc::new(
                TimestampMicrosecondArray::from(at).with_timezone_opt(
                    match schema
                        .field_with_name("objected_at")
                        .expect("f")
                        .data_type()
                    {
                        arrow_schema::DataType::Timestamp(_, tz) => tz.clone(),
                        _ => None,
                    },
                ),
            ),
        ],
    )
    .expect("batch");
    write_batch(&path, &batch);
    n
}

#[test]
fn a_registry_that_lost_objections_is_refused_unless_allowed_and_latency_is_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 2000, &[]);
    let config = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    let o = run_ok(&mut run_cmd(&config, &out));
    assert!(!o.stdout.is_empty());
    let m = manifest(&out);
    assert!(m["registry_check"].is_null(), "no previous run");
    // First run: every objector with a timestamp is applied for the first time.
    let first = m["objection_latency"]["first_applied"].as_u64().expect("n");
    assert!(
        first > 0
            && first
                <= m["inputs"]["optouts"]["distinct_ids"]
                    .as_u64()
                    .expect("ids")
    );
    assert!(
        m["objection_latency"]["max_seconds"].as_u64()
            >= m["objection_latency"]["median_seconds"].as_u64()
    );
    let snapshot = fs::read(out.join("registry/optouts.keys")).expect("snapshot");
    assert_eq!(
        snapshot.len() as u64,
        8 * m["inputs"]["optouts"]["distinct_ids"]
            .as_u64()
            .expect("ids")
    );

    // Tonight: one new objector, who objected an hour ago.
    let hour_ago = (chrono::Utc::now().timestamp() - 3600) * 1_000_000;
    rewrite_registry(tmp.path(), |_| true, &[("new-objector", hour_ago)]);
    let previous_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            fs::read(out.join("manifest.json")).expect("m"),
        ))
    };
    run_ok(run_cmd(&config, &out).arg("--quiet"));
    let m = manifest(&out);
    assert_eq!(m["supersedes"], previous_sha.as_str());
    assert_eq!(m["registry_check"]["lost"], 0);
    assert_eq!(m["registry_check"]["added"], 1);
    assert_eq!(m["objection_latency"]["first_applied"], 1);
    let max = m["objection_latency"]["max_seconds"].as_u64().expect("max");
    assert!((3600..3600 + 600).contains(&max), "{max}");

    // A registry that lost an objector is refused, with the count.
    let batches = read_parquet(&tmp.path().join("optouts.parquet"));
    let victim = {
        use arrow_array::cast::AsArray;
        batches[0]
            .column_by_name("user_id")
            .expect("u")
            .as_string::<i32>()
            .value(0)
            .to_owned()
    };
    rewrite_registry(tmp.path(), |u| u != victim, &[]);
    let before = fs::read(out.join("manifest.json")).expect("m");
    let o = run_cmd(&config, &out).output().expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost 1 ids"), "{stderr}");
    assert_eq!(
        fs::read(out.join("manifest.json")).expect("m"),
        before,
        "nothing published"
    );
    // Allowed explicitly: published, and the manifest says so.
    run_ok(run_cmd(&config, &out).arg("--allow-registry-shrink"));
    let m = manifest(&out);
    assert_eq!(m["registry_check"]["lost"], 1);
    assert_eq!(m["registry_check"]["allow_registry_shrink"], true);

    // A damaged snapshot is refused, not trusted.
    let snap = out.join("registry/optouts.keys");
    let mut bytes = fs::read(&snap).expect("snapshot");
    bytes[3] ^= 0x10;
    fs::write(&snap, bytes).expect("write");
    let o = run_cmd(&config, &out).output().expect("starts");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("optouts.keys") && stderr.contains("differs from the manifest"),
        "{stderr}"
    );
}

#[test]
fn quiet_prints_nothing_on_success() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 500, &[]);
    let config = write_config(tmp.path(), "");
    let o = run_ok(run_cmd(&config, &tmp.path().join("out")).arg("--quiet"));
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn repurge_removes_new_objectors_without_the_dumps_and_matches_a_full_run() {
    use arrow_array::cast::AsArray;
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 3000, &[]);
    let config = write_config(tmp.path(), "");
    let out = tmp.path().join("out");
    run_ok(&mut run_cmd(&config, &out));
    let old = manifest(&out);
    // An author with posts in the output objects.
    let kept = read_parquet(&parquet_files(&out.join("data"))[0]);
    let authors = kept[0]
        .column_by_name("author_id")
        .expect("a")
        .as_string::<i32>();
    let objector = authors.value(0).to_owned();
    let mut theirs = 0u64;
    for f in parquet_files(&out.join("data")) {
        for b in read_parquet(&f) {
            let a = b.column_by_name("author_id").expect("a").as_string::<i32>();
            theirs += a.iter().filter(|x| *x == Some(objector.as_str())).count() as u64;
        }
    }
    rewrite_registry(tmp.path(), |_| true, &[(&objector, 1_790_000_000_000_000)]);
    let registry = tmp.path().join("optouts.parquet");

    // The old output now violates the registry.
    let v = optgate()
        .arg("verify")
        .arg(&out)
        .arg("--optouts")
        .arg(&registry)
        .output()
        .expect("starts");
    assert_eq!(v.status.code(), Some(3), "an assertion fails: exit 3");

    // Repurge, with the dumps out of reach.
    fs::rename(tmp.path().join("posts"), tmp.path().join("posts-away")).expect("mv");
    let purged = tmp.path().join("purged");
    let o = run_ok(
        optgate()
            .args(["repurge", "--from"])
            .arg(&out)
            .arg("--optouts")
            .arg(&registry)
            .arg("--out")
            .arg(&purged),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("removed {theirs} rows of 1 authors")),
        "{stdout}"
    );
    let m = manifest(&purged);
    assert_eq!(m["repurge"]["removed_rows"], theirs);
    assert_eq!(m["repurge"]["removed_authors"], 1);
    assert_eq!(
        m["counts"]["kept"].as_u64(),
        old["counts"]["kept"].as_u64().map(|k| k - theirs)
    );
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            fs::read(out.join("manifest.json")).expect("m"),
        ))
    };
    assert_eq!(m["supersedes"], sha.as_str());
    assert!(
        run_ok(optgate().arg("verify").arg(&purged))
            .status
            .success()
    );

    // The same result as a full run on the inputs with the new registry.
    fs::rename(tmp.path().join("posts-away"), tmp.path().join("posts")).expect("mv");
    let full = tmp.path().join("full");
    run_ok(&mut run_cmd(&config, &full));
    let f = manifest(&full);
    assert_eq!(m["counts"]["kept"], f["counts"]["kept"]);
    assert_eq!(
        m["counts"]["dropped_by_reason"],
        f["counts"]["dropped_by_reason"]
    );
    let ids = |dir: &Path| {
        let mut v: Vec<String> = Vec::new();
        for p in parquet_files(&dir.join("data")) {
            for b in read_parquet(&p) {
                let c = b.column_by_name("post_id").expect("p").as_string::<i32>();
                v.extend(c.iter().map(|x| x.expect("id").to_owned()));
            }
        }
        v.sort();
        v
    };
    assert_eq!(ids(&purged), ids(&full));
}

#[test]
fn incremental_run_reuses_unchanged_files_and_equals_a_full_run() {
    use arrow_array::cast::AsArray;
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(
        tmp.path(),
        4000,
        &["--files", "4", "--row-group-rows", "500"],
    );
    let config = write_config(tmp.path(), "");
    let posts = tmp.path().join("posts");
    // Last night: three of the four files had arrived.
    let late = posts.join("part-00002.parquet");
    let held = tmp.path().join("held.parquet");
    fs::rename(&late, &held).expect("mv");
    let prev = tmp.path().join("prev");
    run_ok(&mut run_cmd(&config, &prev));
    // Tonight: the late file arrives, and an author with kept posts in the
    // first file objects.
    fs::rename(&held, &late).expect("mv");
    // The objector: of the authors with a kept post in the first file, the
    // one whose posts are in the fewest units, so that some hold none.
    let authors_in = |batches: Vec<arrow_array::RecordBatch>| -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                let c = b.column_by_name("author_id").expect("a").as_string::<i32>();
                c.iter().flatten().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    };
    let mut units_of: std::collections::BTreeMap<String, usize> = Default::default();
    for f in parquet_files(&posts) {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let open = || ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&f).expect("open"));
        let groups = open().expect("footer").metadata().num_row_groups();
        for g in 0..groups {
            let rows = open().expect("footer").with_row_groups(vec![g]).build();
            let mut authors =
                authors_in(rows.expect("reader").map(|b| b.expect("batch")).collect());
            authors.sort();
            authors.dedup();
            for a in authors {
                *units_of.entry(a).or_default() += 1;
            }
        }
    }
    let objector = authors_in(read_parquet(&parquet_files(&prev.join("data"))[0]))
        .into_iter()
        .min_by_key(|a| (units_of[a], a.clone()))
        .expect("a kept post");
    rewrite_registry(tmp.path(), |_| true, &[(&objector, 1_790_000_000_000_000)]);

    let inc = tmp.path().join("inc");
    run_ok(
        run_cmd(&config, &inc)
            .arg("--incremental")
            .arg("--previous")
            .arg(&prev),
    );
    let full = tmp.path().join("full");
    run_ok(&mut run_cmd(&config, &full));
    let (mi, mf) = (manifest(&inc), manifest(&full));
    let reused = mi["incremental"]["reused_units"].as_u64().expect("reused");
    let redone = mi["incremental"]["reprocessed_units"]
        .as_u64()
        .expect("redone");
    assert!(
        reused > 0,
        "units of unchanged files without the new objector are reused: {:#}",
        mi["incremental"]
    );
    // 1,000 posts per file in row groups of 500: the new file's 2 units, and
    // at least the unit of the objector's kept post, are processed again.
    assert!(redone > 2, "{redone}");
    assert_eq!(reused + redone, 8);
    assert!(mi["incremental"]["full_reprocess_reason"].is_null());
    // The same dataset as a full run: the same bytes, the same counts.
    assert_eq!(payload(&inc), payload(&full));
    for k in ["counts", "pii", "outputs", "ledger"] {
        assert_eq!(mi[k], mf[k], "{k}");
    }
    assert!(verify_ok(&inc));

    // A changed policy: nothing is reused.
    let config2 = write_config(tmp.path(), "[pii]\nenabled = false\n");
    let inc2 = tmp.path().join("inc2");
    run_ok(
        run_cmd(&config2, &inc2)
            .arg("--incremental")
            .arg("--previous")
            .arg(&inc),
    );
    let m2 = manifest(&inc2);
    assert_eq!(m2["incremental"]["reused_units"], 0);
    assert_eq!(
        m2["incremental"]["full_reprocess_reason"],
        "the policy changed"
    );
}
