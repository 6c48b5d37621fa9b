//! `optgate pii-eval`: precision, recall, leak and false-positive rates of the
//! scanner on labelled corpora.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use optgate_pii::eval::{self, Case};
use optgate_pii::{Scanner, ScannerConfig};

use crate::exit::Failure;

/// Arguments of `optgate pii-eval`.
#[derive(Debug, clap::Args)]
pub struct PiiEvalArgs {
    /// Generated corpus (JSON lines), as written by --write-corpus.
    #[arg(long)]
    pub corpus: Vec<PathBuf>,
    /// Hand-written cases (lang|REGION|text with [[TYPE:value]] and {{what:value}} marks).
    #[arg(long)]
    pub hard: Vec<PathBuf>,
    /// Write a freshly generated corpus to this file instead of evaluating.
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
    let scanner = Scanner::new(&ScannerConfig::default());
    let mut reports = serde_json::Map::new();
    let sets = args
        .corpus
        .iter()
        .map(|p| (p, true))
        .chain(args.hard.iter().map(|p| (p, false)));
    for (path, generated) in sets {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))
            .map_err(Failure::input)?;
        let cases: Vec<Case> = if generated {
            eval::read_jsonl(&text)
                .map_err(|e| Failure::input(anyhow!("{}: {e}", path.display())))?
        } else {
            eval::read_marked(&text)
                .map_err(|e| Failure::input(anyhow!("{}: {e}", path.display())))?
        };
        let report = eval::evaluate(&scanner, &cases);
        if args.json {
            reports.insert(
                path.display().to_string(),
                serde_json::to_value(&report).map_err(Failure::runtime)?,
            );
        } else {
            println!("== {} ==", path.display());
            print!("{}", eval::render(&report));
            for (what, text) in report.misses.iter().take(args.misses) {
                println!("  {what}: {text}");
            }
            println!();
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).map_err(Failure::runtime)?
        );
    }
    Ok(())
}
