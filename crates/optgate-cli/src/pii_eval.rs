//! `optgate pii-eval`: recall, precision, decoys altered and clean texts
//! changed of the scanner on labelled corpora, beside another tool's spans
//! on the same corpora.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use optgate_pii::eval::{self, Case, Found, Report};
use optgate_pii::{Scanner, ScannerConfig};
use sha2::{Digest, Sha256};

use crate::exit::Failure;

/// Arguments of `optgate pii-eval`.
#[derive(Debug, clap::Args)]
pub struct PiiEvalArgs {
    /// Labelled corpus (JSON lines: lang, region, text, labels), reported
    /// in the order given.
    #[arg(long)]
    pub corpus: Vec<PathBuf>,
    #[arg(
        long,
        help = "Hand-written cases (lang|REGION|text with [[TYPE:value]] and {{what:value}} marks)"
    )]
    pub hard: Vec<PathBuf>,
    /// Another tool's spans on a corpus, NAME=FILE: a header line naming the
    /// tool and the corpus's SHA-256, then one JSON list of
    /// {start, end, entity} per case. Reported beside optgate's figures on
    /// the corpus whose digest it names.
    #[arg(long, value_name = "NAME=FILE")]
    pub peer: Vec<String>,
    /// Write a freshly generated template corpus to this file instead of evaluating.
    #[arg(long)]
    pub write_corpus: Option<PathBuf>,
    /// Seed of the generated corpus.
    #[arg(long, default_value_t = eval::CORPUS_SEED)]
    pub seed: u64,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// How many misses to print per report.
    #[arg(long, default_value_t = 20)]
    pub misses: usize,
}

/// A peer tool's spans on one corpus.
struct Peer {
    name: String,
    tool: String,
    corpus_sha256: String,
    found: Vec<Vec<Found>>,
}

#[derive(serde::Deserialize)]
struct PeerHeader {
    tool: String,
    corpus_sha256: String,
}

fn read_peer(arg: &str) -> Result<Peer, Failure> {
    let (name, path) = arg
        .split_once('=')
        .ok_or_else(|| Failure::input(anyhow!("--peer {arg}: expected NAME=FILE")))?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{path}: cannot read"))
        .map_err(Failure::input)?;
    let mut lines = text.lines();
    let header: PeerHeader = serde_json::from_str(lines.next().unwrap_or(""))
        .map_err(|e| Failure::input(anyhow!("{path}: line 1: not a header: {e}")))?;
    let found = lines
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Failure::input(anyhow!("{path}: line {}: {e}", i + 2)))
        })
        .collect::<Result<Vec<Vec<Found>>, Failure>>()?;
    Ok(Peer {
        name: name.to_owned(),
        tool: header.tool,
        corpus_sha256: header.corpus_sha256,
        found,
    })
}

fn read_cases(path: &Path, marked: bool) -> Result<(Vec<Case>, String), Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))
        .map_err(Failure::input)?;
    let digest = hex(&Sha256::digest(text.as_bytes()));
    let cases = if marked {
        eval::read_marked(&text).map_err(|e| Failure::input(anyhow!("{}: {e}", path.display())))?
    } else {
        eval::read_jsonl(&text).map_err(|e| Failure::input(anyhow!("{}: {e}", path.display())))?
    };
    Ok((cases, digest))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn pii_eval(args: &PiiEvalArgs) -> Result<(), Failure> {
    if let Some(out) = &args.write_corpus {
        let (per_type, negatives, clean) = eval::CORPUS_SHAPE;
        let cases = eval::generate(args.seed, per_type, negatives, clean);
        std::fs::write(out, eval::to_jsonl(&cases))
            .with_context(|| format!("{}: cannot write", out.display()))
            .map_err(Failure::runtime)?;
        println!("optgate: wrote {} cases to {}", cases.len(), out.display());
        return Ok(());
    }
    if args.corpus.is_empty() && args.hard.is_empty() {
        return Err(Failure::input(anyhow!(
            "give --corpus and/or --hard files to evaluate"
        )));
    }
    let mut peers = args
        .peer
        .iter()
        .map(|p| read_peer(p))
        .collect::<Result<Vec<_>, _>>()?;
    let scanner = Scanner::new(&ScannerConfig::default());
    let mut reports = serde_json::Map::new();
    let sets = args
        .corpus
        .iter()
        .map(|p| (p, false))
        .chain(args.hard.iter().map(|p| (p, true)));
    for (path, marked) in sets {
        let (cases, digest) = read_cases(path, marked)?;
        let report = eval::evaluate(&scanner, &cases);
        let mut theirs: Vec<(String, Report)> = Vec::new();
        for peer in peers.iter_mut().filter(|p| p.corpus_sha256 == digest) {
            if peer.found.len() != cases.len() {
                return Err(Failure::input(anyhow!(
                    "--peer {}: {} lists of spans for {} cases of {}",
                    peer.name,
                    peer.found.len(),
                    cases.len(),
                    path.display()
                )));
            }
            let r = eval::evaluate_found(&cases, &std::mem::take(&mut peer.found));
            theirs.push((peer.name.clone(), r));
        }
        if args.json {
            let mut v = serde_json::Map::new();
            v.insert(
                "optgate".into(),
                serde_json::to_value(&report).map_err(Failure::runtime)?,
            );
            for (name, r) in &theirs {
                v.insert(
                    name.clone(),
                    serde_json::to_value(r).map_err(Failure::runtime)?,
                );
            }
            reports.insert(path.display().to_string(), v.into());
            continue;
        }
        println!(
            "== {} ({} cases, sha256 {}) ==",
            path.display(),
            cases.len(),
            &digest[..16]
        );
        for (name, _) in &theirs {
            let tool = &peers.iter().find(|p| &p.name == name).expect("peer").tool;
            println!("beside {name}: {tool}");
        }
        let mut side: Vec<(&str, &Report)> = vec![("optgate", &report)];
        side.extend(theirs.iter().map(|(n, r)| (n.as_str(), r)));
        print!("{}", eval::render_comparison(&side));
        println!("\noptgate in detail");
        print!("{}", eval::render(&report));
        for (what, text) in report.misses.iter().take(args.misses) {
            println!("  {what}: {text}");
        }
        println!();
    }
    if let Some(p) = peers.iter().find(|p| !p.found.is_empty()) {
        return Err(Failure::input(anyhow!(
            "--peer {}: no corpus given has sha256 {}",
            p.name,
            p.corpus_sha256
        )));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).map_err(Failure::runtime)?
        );
    }
    Ok(())
}
