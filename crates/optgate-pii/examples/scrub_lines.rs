//! Scrubs each line of standard input (`REGION<TAB>text`, or text alone) and
//! prints the spans found and the scrubbed text: for looking at what the
//! scanner does with a sentence while working on it.
//!
//!     printf 'FR\tréf. 0047 8186 4229 1562\n' | cargo run -q --release -p optgate-pii --example scrub_lines

use std::io::BufRead;

use optgate_pii::{Scanner, ScannerConfig};

fn main() {
    let scanner = Scanner::new(&ScannerConfig::default());
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("standard input is UTF-8 text");
        let (region, text) = match line.split_once('\t') {
            Some((r, t)) => (Some(r), t),
            None => (None, line.as_str()),
        };
        for s in scanner.find(text, region) {
            println!("  {:?} {:?}", s.entity, &text[s.start..s.end]);
        }
        println!("{}", scanner.scrub(text, region).text);
    }
}
