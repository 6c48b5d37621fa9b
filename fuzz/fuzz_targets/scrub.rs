//! The scanner on arbitrary text: `find` on each text alone, then the batch
//! path on all of them (split at U+0001), each with a region hint. A panic
//! anywhere is a finding, even one the batch path catches (libfuzzer-sys
//! aborts on every panic), and so is a text the batch fails.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use optgate_pii::{Scanner, ScannerConfig, Scrubbing, TextScrubber};

fn scanner() -> &'static Scanner {
    static S: OnceLock<Scanner> = OnceLock::new();
    S.get_or_init(|| Scanner::new(&ScannerConfig::default()))
}

const REGIONS: [Option<&str>; 5] = [None, Some("FR"), Some("DE"), Some("PL"), Some("NL")];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let texts: Vec<Option<&str>> = text.split('\u{1}').map(Some).collect();
    let regions: Vec<Option<&str>> = (0..texts.len())
        .map(|i| REGIONS[i % REGIONS.len()])
        .collect();
    for (t, r) in texts.iter().zip(&regions) {
        scanner().find(t.expect("every text is some"), *r);
    }
    let out = scanner().scrub_texts(&texts, &regions);
    for (t, s) in texts.iter().zip(&out.texts) {
        assert!(!matches!(s, Scrubbing::Failed), "scrubbing failed on {t:?}");
    }
});
