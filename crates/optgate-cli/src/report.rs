//! `optgate report OUT`: one self-contained HTML page (inline CSS and SVG, no
//! scripts, no external assets) and a Markdown summary for a dataset card.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use optgate_core::StrColumn;
use optgate_io::ParquetSource;
use optgate_manifest::{Manifest, TableSnapshot};

use crate::dataset::Dataset;
use crate::exit::Failure;

/// Arguments of `optgate report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The output directory.
    pub out: PathBuf,
    /// Where to write the HTML page [default: OUT/report.html].
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Where to write the Markdown summary [default: OUT/report.md].
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// Posts per (platform, kind): in the inputs (when still readable) and kept.
#[derive(Debug, Default)]
struct Breakdown {
    rows: BTreeMap<(String, String), (Option<u64>, u64)>,
}

fn count_platform_kind(
    path: &Path,
    platform: &str,
    kind: &str,
) -> Result<BTreeMap<(String, String), u64>, Failure> {
    let src = ParquetSource::open(path)?;
    let p = src.column("posts", "platform", platform)?;
    let k = src.column("posts", "kind", kind)?;
    let mut idx = [p, k];
    idx.sort_unstable();
    let (pp, kp) = if p < k { (0, 1) } else { (1, 0) };
    let mut out = BTreeMap::new();
    for batch in src.read_columns(&idx)? {
        let batch = batch?;
        let (Some(pc), Some(kc)) = (
            StrColumn::new(batch.column(pp)),
            StrColumn::new(batch.column(kp)),
        ) else {
            continue;
        };
        for i in 0..batch.num_rows() {
            let key = (
                pc.get(i).unwrap_or("(null)").to_owned(),
                kc.get(i).unwrap_or("(null)").to_owned(),
            );
            *out.entry(key).or_insert(0) += 1;
        }
    }
    Ok(out)
}

fn breakdown(ds: &Dataset) -> Result<Breakdown, Failure> {
    let cols = &ds.columns.posts;
    let mut b = Breakdown::default();
    for f in &ds.manifest.outputs {
        for (key, n) in count_platform_kind(&ds.dir.join(&f.path), &cols.platform, &cols.kind)? {
            b.rows.entry(key).or_insert((None, 0)).1 += n;
        }
    }
    let dir = Path::new(&ds.manifest.inputs.posts_dir);
    let inputs: Option<Vec<_>> = ds
        .manifest
        .inputs
        .posts
        .iter()
        .map(|f| count_platform_kind(&dir.join(&f.path), &cols.platform, &cols.kind).ok())
        .collect();
    if let Some(inputs) = inputs {
        for counts in inputs {
            for (key, n) in counts {
                let e = b.rows.entry(key).or_insert((None, 0));
                e.0 = Some(e.0.unwrap_or(0) + n);
            }
        }
    }
    Ok(b)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Thousands separated by a thin space, as people read large counts.
fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    out
}

/// A horizontal bar chart as inline SVG.
fn bars(items: &[(String, u64, &str)]) -> String {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let (label_w, bar_w, row_h) = (230.0, 420.0, 26.0);
    let height = row_h * items.len() as f64 + 8.0;
    let mut svg = format!(
        r#"<svg role="img" width="{w}" height="{height}" viewBox="0 0 {w} {height}">"#,
        w = label_w + bar_w + 110.0
    );
    for (i, (label, n, color)) in items.iter().enumerate() {
        let y = 4.0 + row_h * i as f64;
        let w = (*n as f64 / max as f64 * bar_w).max(if *n > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            svg,
            r#"<text x="{tx}" y="{ty}" text-anchor="end" class="lbl">{label}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{h}" fill="{color}"><title>{label}: {n}</title></rect><text x="{vx:.1}" y="{ty}" class="val">{nf}</text>"#,
            tx = label_w - 8.0,
            ty = y + 15.0,
            h = row_h - 8.0,
            vx = label_w + w + 6.0,
            label = esc(label),
            nf = num(*n),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table_facts(name: &str, t: &TableSnapshot) -> String {
    let mut rows = vec![
        ("file", esc(&t.path)),
        ("rows", num(t.rows)),
        ("distinct ids", num(t.distinct_ids)),
        ("file SHA-256", format!("<code>{}</code>", esc(&t.sha256))),
    ];
    if let Some(k) = &t.keys_sha256 {
        rows.push(("key-set SHA-256", format!("<code>{}</code>", esc(k))));
    }
    if let Some(l) = &t.latest_at {
        rows.push(("latest entry", esc(l)));
    }
    if let Some(n) = t.null_timestamps {
        rows.push(("rows without a timestamp", num(n)));
    }
    if let Some(n) = t.unknown_age {
        rows.push(("ids of unknown age", num(n)));
    }
    if let Some(n) = t.valid_consents {
        rows.push(("ids with a valid consent", num(n)));
    }
    let mut s = format!("<h3>{}</h3><table class=\"kv\">", esc(name));
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    s.push_str("</table>");
    s
}

fn html(m: &Manifest, ds: &Dataset, b: &Breakdown) -> String {
    let c = &m.counts;
    let mut reasons: Vec<(String, u64, &str)> = vec![("kept".to_owned(), c.kept, "#2e7d32")];
    for (r, n) in &c.dropped_by_reason {
        reasons.push((format!("dropped: {r}"), *n, "#c62828"));
    }
    let pii: Vec<(String, u64, &str)> = m
        .pii
        .replacements
        .iter()
        .map(|(e, n)| (e.clone(), *n, "#1565c0"))
        .collect();
    let v = &m.verification;
    let mut s = String::with_capacity(32 * 1024);
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>optgate report: {out}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #1a1a1a; padding: 0 1em; }}
h1 {{ font-size: 1.6em; margin-bottom: .2em; }} h2 {{ margin-top: 1.8em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: .6em 0; }} th, td {{ padding: .25em .7em; border-bottom: 1px solid #eee; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }} code {{ font-size: .85em; word-break: break-all; }}
.pass {{ color: #1b5e20; background: #e8f5e9; }} .fail {{ color: #b71c1c; background: #ffebee; font-weight: bold; }}
.badge {{ display: inline-block; padding: .3em .8em; border-radius: .3em; font-weight: bold; }}
.figs {{ display: flex; gap: 1.5em; flex-wrap: wrap; }} .fig {{ background: #f6f6f6; padding: .6em 1em; border-radius: .3em; }}
.fig b {{ display: block; font-size: 1.5em; }} svg .lbl {{ font-size: 13px; }} svg .val {{ font-size: 12px; fill: #333; }}
</style></head><body>
<h1>optgate report</h1>
<p>Output <code>{out}</code>, written by {tool} {version}, run <code>{run_id}</code>, {started} to {finished}.</p>
<p id="verdict" class="badge {vclass}">Verification: {vtext}</p>
<div class="figs">
<div class="fig" id="rows-in">posts in<b>{rows_in}</b></div>
<div class="fig" id="kept">kept<b>{kept}</b></div>
<div class="fig" id="dropped">dropped<b>{dropped}</b></div>
<div class="fig" id="pii-changed">posts with personal data scrubbed<b>{changed}</b></div>
</div>
<h2>Posts kept and dropped, by the first rule failed</h2>
{reason_chart}
<table><tr><th>rule</th><th>dropped (first failing)</th><th>failing (any)</th></tr>"#,
        out = esc(&ds.dir.display().to_string()),
        tool = esc(&m.tool.name),
        version = esc(&m.tool.version),
        run_id = esc(&m.run.run_id),
        started = esc(&m.run.started_at),
        finished = esc(&m.run.finished_at),
        vclass = if v.passed { "pass" } else { "fail" },
        vtext = if v.passed {
            format!(
                "all {} assertions the run checked on its written output passed",
                v.assertions.len()
            )
        } else {
            "FAILED".to_owned()
        },
        rows_in = num(c.rows_in),
        kept = num(c.kept),
        dropped = num(c.dropped),
        changed = num(m.pii.posts_changed),
        reason_chart = bars(&reasons),
    );
    for (r, n) in &c.dropped_by_reason {
        let any = c.failing_by_rule.get(r).copied().unwrap_or(0);
        let _ = write!(
            s,
            r#"<tr id="reason-{r}"><td>{r}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            num(*n),
            num(any),
            r = esc(r)
        );
    }
    s.push_str("</table>");

    let _ = write!(
        s,
        "<h2>Personal data replaced, by type</h2><p>{}</p>",
        if m.pii.applied {
            format!(
                "Scrubbing on; placeholder <code>{}</code>; types: {}.",
                esc(&m.pii.placeholder),
                esc(&m.pii.entities.join(", "))
            )
        } else {
            "Scrubbing was OFF for this run: the text of kept posts is as it was.".to_owned()
        }
    );
    s.push_str(&bars(&pii));

    s.push_str("<h2>Kept posts by platform and kind</h2><table><tr><th>platform</th><th>kind</th><th>in the inputs</th><th>kept</th></tr>");
    for ((p, k), (input, kept)) in &b.rows {
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            esc(p),
            esc(k),
            input.map_or("(inputs not readable)".to_owned(), num),
            num(*kept)
        );
    }
    s.push_str("</table>");

    s.push_str("<h2>Verification</h2><table><tr><th>assertion</th><th>what it checks</th><th>expected</th><th>found</th><th></th></tr>");
    for a in &v.assertions {
        let (class, word) = if a.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            s,
            r#"<tr class="{class}" id="assert-{name}"><td>{name}</td><td>{d}</td><td class="n">{e}</td><td class="n">{f}</td><td>{word}</td></tr>"#,
            name = esc(&a.name),
            d = esc(&a.description),
            e = num(a.expected),
            f = num(a.actual),
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<p>These are the assertions the run checked on its written output, as the manifest records them. {}</p>",
        esc(VERIFY_ADDS.trim_end()).replace('`', "")
    );

    s.push_str("<h2>Inputs and registries</h2>");
    let _ = write!(
        s,
        "<p>{} posts files in <code>{}</code> ({} rows).</p>",
        m.inputs.posts.len(),
        esc(&m.inputs.posts_dir),
        num(m.inputs.posts.iter().map(|f| f.rows).sum())
    );
    s.push_str(&table_facts("Accounts", &m.inputs.accounts));
    if let Some(t) = &m.inputs.optouts {
        s.push_str(&table_facts("Objection registry", t));
    }
    if let Some(t) = &m.inputs.consents {
        s.push_str(&table_facts("Consent registry", t));
    }
    if m.inputs.allow_empty_registry {
        s.push_str("<p class=\"fail\">The run was allowed to use an empty objection registry.</p>");
    }

    let _ = write!(
        s,
        "<h2>Policy</h2><p>SHA-256 <code>{}</code></p><pre>{}</pre>",
        esc(&m.policy.sha256),
        esc(&serde_json::to_string_pretty(&m.policy.resolved["policy"]).unwrap_or_default())
    );
    let _ = write!(
        s,
        "<h2>Manifest</h2><p><code>manifest.json</code> SHA-256 <code>{}</code>{}</p>",
        esc(&ds.manifest_sha256),
        m.supersedes
            .as_ref()
            .map(|p| format!("; supersedes the manifest <code>{}</code>", esc(p)))
            .unwrap_or_default()
    );
    s.push_str("</body></html>\n");
    s
}

fn markdown(m: &Manifest, ds: &Dataset) -> String {
    let c = &m.counts;
    let v = &m.verification;
    let mut s = String::new();
    let _ = writeln!(s, "## Data processing (optgate)\n");
    let _ = writeln!(
        s,
        "Filtered and scrubbed with {} {} (run `{}`, {}); manifest SHA-256 `{}`.\n",
        m.tool.name, m.tool.version, m.run.run_id, m.run.finished_at, ds.manifest_sha256
    );
    let _ = writeln!(s, "| | posts |\n|---|---:|");
    let _ = writeln!(
        s,
        "| in | {} |\n| kept | {} |\n| dropped | {} |",
        c.rows_in, c.kept, c.dropped
    );
    let _ = writeln!(
        s,
        "\n| dropped because (first rule failed) | posts |\n|---|---:|"
    );
    for (r, n) in &c.dropped_by_reason {
        let _ = writeln!(s, "| {r} | {n} |");
    }
    if m.pii.applied {
        let _ = writeln!(
            s,
            "\nPersonal data replaced by typed placeholders (`{}`) in {} kept posts:\n\n| type | replacements |\n|---|---:|",
            m.pii.placeholder, m.pii.posts_changed
        );
        for (e, n) in &m.pii.replacements {
            let _ = writeln!(s, "| {e} | {n} |");
        }
    } else {
        let _ = writeln!(s, "\nPersonal-data scrubbing was **off** for this run.");
    }
    let _ = writeln!(s, "\nRegistries applied:\n");
    for (name, t) in [
        ("objection registry", &m.inputs.optouts),
        ("consent registry", &m.inputs.consents),
    ] {
        if let Some(t) = t {
            let _ = writeln!(
                s,
                "- {name}: {} distinct ids, latest entry {}, key-set SHA-256 `{}`",
                t.distinct_ids,
                t.latest_at.as_deref().unwrap_or("(none)"),
                t.keys_sha256.as_deref().unwrap_or("(not recorded)")
            );
        }
    }
    let failed: Vec<&str> = v
        .assertions
        .iter()
        .filter(|a| !a.passed)
        .map(|a| a.name.as_str())
        .collect();
    let _ = writeln!(
        s,
        "\nVerification: {}.",
        if v.passed {
            format!(
                "all {} assertions the run checked on its written output passed",
                v.assertions.len()
            )
        } else {
            format!("FAILED ({})", failed.join(", "))
        }
    );
    s.push_str(VERIFY_ADDS);
    s
}

/// What `optgate verify` checks beyond the run's own assertions, which the
/// manifest records: a report reader comparing the two counts sees why they
/// differ.
const VERIFY_ADDS: &str = "`optgate verify` checks these again and 4 more that only make sense \
after publishing: the manifest's digest (`manifest_digest`), the policy's digest \
(`policy_digest`), that the counts add up (`counts_add_up`) and that the side tables \
are those recorded (`registry_snapshot`).\n";

pub fn report(args: &ReportArgs) -> Result<(), Failure> {
    let ds = Dataset::open(&args.out)?;
    let b = breakdown(&ds)?;
    let html_path = args
        .html
        .clone()
        .unwrap_or_else(|| args.out.join("report.html"));
    let md_path = args
        .markdown
        .clone()
        .unwrap_or_else(|| args.out.join("report.md"));
    crate::publish::write_private(&html_path, html(&ds.manifest, &ds, &b).as_bytes())
        .with_context(|| format!("{}: cannot write", html_path.display()))
        .map_err(Failure::runtime)?;
    crate::publish::write_private(&md_path, markdown(&ds.manifest, &ds).as_bytes())
        .with_context(|| format!("{}: cannot write", md_path.display()))
        .map_err(Failure::runtime)?;
    println!("{}\n{}", html_path.display(), md_path.display());
    Ok(())
}
