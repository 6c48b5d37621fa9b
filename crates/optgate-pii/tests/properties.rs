//! Properties on arbitrary input: never panics, only placeholders are added,
//! scrubbing is idempotent.

use optgate_pii::{Scanner, ScannerConfig};
use proptest::prelude::*;

fn scanner() -> &'static Scanner {
    static S: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
    S.get_or_init(|| Scanner::new(&ScannerConfig::default()))
}

/// Text built from the pieces personal data is made of, so the scanner's
/// paths are exercised, not only its fast path.
fn pii_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("@".to_owned()),
        Just("+".to_owned()),
        Just("00".to_owned()),
        Just(" ".to_owned()),
        Just("\u{00A0}".to_owned()),
        Just("\u{202F}".to_owned()),
        Just(".".to_owned()),
        Just("-".to_owned()),
        Just("/".to_owned()),
        Just(":".to_owned()),
        Just("rue ".to_owned()),
        Just("ul. ".to_owned()),
        Just("Herr ".to_owned()),
        Just("je m'appelle ".to_owned()),
        Just("facebook.com/".to_owned()),
        Just("wa.me/".to_owned()),
        Just("NL91".to_owned()),
        Just("BSN ".to_owned()),
        Just("é".to_owned()),
        Just("Łukasz ".to_owned()),
        "[0-9]{1,6}",
        "[A-Za-z]{1,8}",
        "\\PC{1,4}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_is_idempotent(text in pii_like(), region in prop_oneof![Just(None), Just(Some("FR")), Just(Some("DE")), Just(Some("US"))]) {
        let once = scanner().scrub(&text, region);
        let twice = scanner().scrub(&once.text, region);
        prop_assert_eq!(&twice.text, &once.text);
        prop_assert_eq!(twice.counts.total(), 0);
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in "\\PC{0,200}") {
        let out = scanner().scrub(&text, Some("PL"));
        // Whatever was replaced, the text outside the spans is kept in order,
        // pass after pass until nothing more is found.
        let mut current = text.clone();
        loop {
            let spans = scanner().find(&current, Some("PL"));
            if spans.is_empty() {
                break;
            }
            let mut rebuilt = String::new();
            let mut at = 0;
            for s in &spans {
                prop_assert!(s.start >= at && s.end > s.start && current.is_char_boundary(s.start) && current.is_char_boundary(s.end));
                rebuilt.push_str(&current[at..s.start]);
                rebuilt.push('<');
                rebuilt.push_str(s.entity.tag());
                rebuilt.push('>');
                at = s.end;
            }
            rebuilt.push_str(&current[at..]);
            current = rebuilt;
        }
        prop_assert_eq!(out.text.as_ref(), current.as_str());
    }
}
