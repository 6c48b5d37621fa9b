//! `optgate explain` and `optgate report`, the report checked in a real headless browser.

use std::path::PathBuf;
use std::process::Command;

use arrow_array::Array;

use crate::common::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn explain_says_where_a_post_and_an_authors_posts_stand() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 2000, 2, 500, "");
    // A kept post.
    let kept = read_parquet(&parquet_files(&out.join("data"))[0]);
    let ids = kept[0].column_by_name("post_id").expect("post_id");
    let ids = ids
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("utf8 ids");
    let v = json(&run_ok(
        optgate()
            .args(["explain", "--json", "--post-id", ids.value(0)])
            .arg(&out),
    ));
    assert_eq!(v["status"], "included");
    // A dropped post: the reason the ledger gives.
    let ledger = read_parquet(&parquet_files(&out.join("ledger"))[0]);
    let lid = ledger[0].column_by_name("post_id").expect("post_id");
    let lid = lid
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("utf8");
    let reason = ledger[0].column_by_name("reason").expect("reason");
    let reason = reason
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("utf8");
    let row = (0..lid.len())
        .find(|i| lid.is_valid(*i))
        .expect("a dropped post with an id");
    let v = json(&run_ok(
        optgate()
            .args(["explain", "--json", "--post-id", lid.value(row)])
            .arg(&out),
    ));
    assert_eq!(v["status"], "excluded");
    assert_eq!(v["reason"], reason.value(row));
    let text = String::from_utf8(
        run_ok(
            optgate()
                .args(["explain", "--post-id", lid.value(row)])
                .arg(&out),
        )
        .stdout,
    )
    .expect("utf8");
    assert!(
        text.contains("NOT in the dataset") && text.contains(reason.value(row)),
        "{text}"
    );
    // An unknown post: said, and exit 4.
    let o = optgate()
        .args(["explain", "--json", "--post-id", "no-such-post"])
        .arg(&out)
        .output()
        .expect("starts");
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(json(&o)["status"], "not_in_inputs");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("post no-such-post is in neither"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An unknown author: no account, no post; exit 4.
    let o = optgate()
        .args(["explain", "--author-id", "no-such-author"])
        .arg(&out)
        .output()
        .expect("starts");
    assert_eq!(o.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no account and no post"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An objector: in the registry, every post excluded.
    let optouts = read_parquet(&tmp.path().join("optouts.parquet"));
    let users = optouts[0].column_by_name("user_id").expect("user_id");
    let users = users
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("utf8");
    let mut checked = false;
    for i in (0..users.len()).filter(|i| users.is_valid(*i)) {
        let o = optgate()
            .args(["explain", "--json", "--author-id", users.value(i)])
            .arg(&out)
            .output()
            .expect("starts");
        let v = json(&o);
        // Registry ids unknown to the dataset are "not found" (exit 4).
        let unknown = v["has_account"] == false && v["posts"].as_array().is_some_and(Vec::is_empty);
        assert_eq!(o.status.code(), Some(if unknown { 4 } else { 0 }), "{v:#}");
        assert_eq!(v["in_objection_registry"], true);
        assert_eq!(v["posts_included"], 0);
        let posts = v["posts"].as_array().expect("posts");
        assert_eq!(posts.len() as u64, v["posts_excluded"].as_u64().expect("n"));
        if !posts.is_empty() {
            assert!(posts.iter().all(|p| p["status"] == "excluded"));
            // Every post fails the objection, but for one with a null
            // required field, which no other rule reads (invalid_row).
            assert!(
                posts.iter().all(|p| {
                    p["reason"] == "invalid_row"
                        || p["reasons"]
                            .as_array()
                            .expect("reasons")
                            .iter()
                            .any(|r| r == "opted_out")
                }),
                "{v:#}"
            );
            checked = true;
        }
    }
    assert!(checked, "some objector has posts in the sample");
    // Neither flag: bad input.
    let o = optgate().arg("explain").arg(&out).output().expect("starts");
    assert_eq!(o.status.code(), Some(1));
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn report_is_self_contained_and_shows_the_manifest_figures_in_a_browser() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, out) = sample_run(tmp.path(), 3000, 2, 500, "");
    run_ok(optgate().arg("report").arg(&out));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    // Self-contained: nothing fetched, no scripts.
    for needle in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "report.html has {needle}");
    }
    let m = manifest(&out);
    let kept = m["counts"]["kept"].as_u64().expect("kept");
    assert!(md.contains(&format!("| kept | {kept} |")), "{md}");

    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("OPTGATE_REQUIRE_BROWSER").is_none(),
            "chromium is required (make browser installs it)"
        );
        eprintln!("SKIPPED the browser half: no chromium (make test installs it)");
        return;
    };
    let profile = tmp.path().join("chromium-profile");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let url = format!("file://{}", out.join("report.html").display());
    let dom = Command::new(&browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium starts");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // The rendered page shows the manifest's figures, formatted for people.
    let fmt = |n: u64| {
        let s = n.to_string();
        let mut o = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                o.push('\u{202F}');
            }
            o.push(c);
        }
        o
    };
    assert!(
        dom.contains(&format!("kept<b>{}</b>", fmt(kept))),
        "kept figure"
    );
    assert!(dom.contains(&format!(
        "dropped<b>{}</b>",
        fmt(m["counts"]["dropped"].as_u64().expect("dropped"))
    )));
    for (reason, n) in m["counts"]["dropped_by_reason"]
        .as_object()
        .expect("reasons")
    {
        let row = format!(
            "<tr id=\"reason-{reason}\"><td>{reason}</td><td class=\"n\">{}</td>",
            fmt(n.as_u64().expect("n"))
        );
        assert!(dom.contains(&row), "{row}");
    }
    assert!(dom.contains("Verification: all"), "verification in green");
    assert!(dom.contains("<svg"), "the chart");
    // And it renders to pixels.
    let shot = tmp.path().join("report.png");
    let r = Command::new(&browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1100,1600", &url])
        .output()
        .expect("chromium starts");
    assert!(r.status.success());
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn openlineage_event_is_written_on_success_and_on_failure() {
    let tmp = tempfile::tempdir().expect("tmp");
    gen_sample(tmp.path(), 1500, &[]);
    let config = write_config(tmp.path(), "");
    let event = tmp.path().join("lineage.json");
    let out = tmp.path().join("out");
    run_ok(
        optgate()
            .args(["run", "--progress", "never", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .arg("--openlineage")
            .arg(&event),
    );
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&event).expect("event")).expect("json");
    let m = manifest(&out);
    assert_eq!(e["eventType"], "COMPLETE");
    assert!(e["schemaURL"].as_str().expect("url").contains("RunEvent"));
    let run_id = e["run"]["runId"].as_str().expect("runId");
    assert_eq!(run_id.len(), 36, "a UUID");
    let stats = &e["outputs"][0]["outputFacets"]["outputStatistics"];
    assert_eq!(stats["rowCount"], m["counts"]["kept"]);
    assert_eq!(
        stats["fileCount"].as_u64(),
        m["outputs"].as_array().map(|a| a.len() as u64)
    );
    let input = &e["inputs"][0]["inputFacets"];
    assert_eq!(input["inputStatistics"]["rowCount"], m["counts"]["rows_in"]);
    let assertions = input["dataQualityAssertions"]["assertions"]
        .as_array()
        .expect("assertions");
    assert_eq!(
        assertions.len(),
        m["verification"]["assertions"]
            .as_array()
            .expect("assertions")
            .len()
    );
    assert!(assertions.iter().all(|a| a["success"] == true));
    for f in [stats, &input["dataQualityAssertions"]] {
        assert!(f["_producer"].is_string() && f["_schemaURL"].is_string());
    }

    // A failed run: FAIL with the error, and still exit 1 for bad input.
    std::fs::remove_file(tmp.path().join("accounts.parquet")).expect("rm");
    let o = optgate()
        .args(["run", "--progress", "never", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(tmp.path().join("out2"))
        .arg("--openlineage")
        .arg(&event)
        .output()
        .expect("starts");
    assert_eq!(o.status.code(), Some(1));
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&event).expect("event")).expect("json");
    assert_eq!(e["eventType"], "FAIL");
    let msg = e["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .expect("message");
    assert!(msg.contains("accounts.parquet"), "{msg}");
}
