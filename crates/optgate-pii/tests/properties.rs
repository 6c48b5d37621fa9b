//! Properties on arbitrary input: never panics, only placeholders are added,
//! scrubbing is idempotent, and a batch scrubs each text as it would be alone.

use std::borrow::Cow;

use optgate_pii::{EntityCounts, Scanner, ScannerConfig, Scrubbing, TextScrubber};
use proptest::prelude::*;

/// The development part's texts.
fn dev_texts() -> &'static Vec<String> {
    static T: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/dev.jsonl"))
            .expect("development part");
        optgate_pii::eval::read_jsonl(&raw)
            .expect("development part parses")
            .into_iter()
            .map(|c| c.text)
            .collect()
    })
}

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
        Just("My name is ".to_owned()),
        Just("facebook.com/".to_owned()),
        Just("wa.me/".to_owned()),
        Just("NL91".to_owned()),
        Just("BSN ".to_owned()),
        Just("é".to_owned()),
        Just("Łukasz ".to_owned()),
        Just(" van der ".to_owned()),
        Just("y ".to_owned()),
        Just("ship to ".to_owned()),
        Just("dostawa na ".to_owned()),
        Just(", ".to_owned()),
        Just("St. ".to_owned()),
        Just(" I ".to_owned()),
        Just("XIV ".to_owned()),
        Just("H.W. ".to_owned()),
        Just(" and ".to_owned()),
        Just("Anna Nowak".to_owned()),
        Just("le président ".to_owned()),
        "[0-9]{1,6}",
        "[A-Za-z]{1,8}",
        "\\PC{1,4}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// Scrubbing as the scanner's documentation defines it, from `find` alone:
/// the spans replaced by their placeholders, again on the result until
/// nothing is found (at most the scanner's eight passes).
fn reference(text: &str, region: Option<&str>) -> (String, EntityCounts) {
    let mut current = text.to_owned();
    let mut counts = EntityCounts::default();
    for _ in 0..8 {
        let spans = scanner().find(&current, region);
        if spans.is_empty() {
            break;
        }
        let mut rebuilt = String::new();
        let mut at = 0;
        for s in &spans {
            rebuilt.push_str(&current[at..s.start]);
            rebuilt.push('<');
            rebuilt.push_str(s.entity.tag());
            rebuilt.push('>');
            counts.add(s.entity);
            at = s.end;
        }
        rebuilt.push_str(&current[at..]);
        current = rebuilt;
    }
    (current, counts)
}

/// `scrub_texts` on a batch gives each text the reference result, borrowed
/// exactly when nothing was found, keeps nulls null, and counts what the
/// references replaced.
fn check_batch(texts: &[Option<String>], regions: &[Option<&str>]) -> Result<(), TestCaseError> {
    let borrowed: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
    let out = scanner().scrub_texts(&borrowed, regions);
    prop_assert_eq!(out.texts.len(), texts.len());
    let mut counts = EntityCounts::default();
    let mut changed = 0;
    for ((t, r), got) in borrowed.iter().zip(regions).zip(&out.texts) {
        match (t, got) {
            (None, Scrubbing::Null) => {}
            (Some(t), Scrubbing::Done(s)) => {
                let (text, c) = reference(t, *r);
                prop_assert_eq!(s.as_ref(), text.as_str(), "{:?}", t);
                prop_assert_eq!(matches!(s, Cow::Borrowed(_)), c.total() == 0);
                counts.merge(&c);
                changed += u64::from(c.total() > 0);
            }
            (t, got) => prop_assert!(false, "{:?} gave {:?}", t, got),
        }
    }
    prop_assert_eq!(out.counts, counts);
    prop_assert_eq!(out.changed, changed);
    Ok(())
}

#[test]
fn a_batch_of_the_evaluation_corpus_scrubs_each_text_as_alone() {
    let corpus = optgate_pii::eval::generate(7, 60, 60, 200);
    let mut texts: Vec<Option<String>> = corpus
        .iter()
        .enumerate()
        .map(|(i, c)| (i % 17 != 5).then(|| c.text.clone()))
        .collect();
    let mut regions: Vec<Option<&str>> = corpus.iter().map(|c| c.region.as_deref()).collect();
    // A text that takes a second pass (see the scanner's tests), between
    // texts that need the full keyword search and texts that do not.
    let second_pass = "BSN \u{202f}\u{a0}facebook.com/je m'appelle Łukasz  001010001";
    for at in [0, texts.len() / 2, texts.len()] {
        texts.insert(at, Some(second_pass.to_owned()));
        regions.insert(at, None);
    }
    check_batch(&texts, &regions).expect("each text as alone");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_batch_scrubs_each_text_as_alone(
        batch in proptest::collection::vec(
            (proptest::option::weighted(0.9, pii_like()), prop_oneof![Just(None), Just(Some("FR")), Just(Some("DE"))]),
            0..10,
        ),
    ) {
        let (texts, regions): (Vec<Option<String>>, Vec<Option<&str>>) = batch.into_iter().unzip();
        check_batch(&texts, &regions)?;
    }

    /// Text without digits, where a batch takes the joined titles search and
    /// walks a text only if it may hold a first name before a capitalised
    /// word: names, titles, introductions, handles and words glued to them.
    #[test]
    fn a_batch_of_text_without_digits_scrubs_each_text_as_alone(
        batch in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(vec![
                        "Marie", "Jean", "Łukasz", "Élodie", "Chloé", "Curie", "Nowak", "Émile",
                        "Herr", "Frau", "Dr.", "je m'appelle", "My name is", "ich heiße",
                        "@marie", "anna@example.org", "dead:beef::cafe", " ", "  ", "-", "'",
                        ". ", ", ", "\u{a0}", "<PERSON>", "van", "der", "de", "la", "y",
                        "van der", "dos", "von", "bin", "ibn", "d'", "d\u{2019}", "al-", "el-",
                    ])
                    .prop_map(str::to_owned),
                    "[a-z]{1,6}",
                    "[A-Z][a-z]{1,6}",
                ],
                0..16,
            ).prop_map(|v| v.concat()),
            0..10,
        ),
    ) {
        let texts: Vec<Option<String>> = batch.into_iter().map(Some).collect();
        let regions = vec![Some("FR"); texts.len()];
        check_batch(&texts, &regions)?;
    }

    #[test]
    fn never_panics_and_is_idempotent(text in pii_like(), region in prop_oneof![Just(None), Just(Some("FR")), Just(Some("DE")), Just(Some("US"))]) {
        let once = scanner().scrub(&text, region);
        let twice = scanner().scrub(&once.text, region);
        prop_assert_eq!(&twice.text, &once.text);
        prop_assert_eq!(twice.counts.total(), 0);
    }

    /// Sentences of the development part (Wikipedia prose in eight
    /// languages, with planted values) with pieces of values and cue words
    /// put in at any character: the scanner's paths over text nobody here
    /// wrote, at every offset a slip could make (boundaries, brackets,
    /// multi-byte letters next to digits).
    #[test]
    fn the_development_part_with_pieces_put_anywhere_never_panics_and_is_idempotent(
        pick in 0usize..1_000_000,
        inserts in proptest::collection::vec((0.0f64..1.0, prop_oneof![
            proptest::sample::select(vec![
                "(", ")", "  ", ".", "-", "/", "+", "PT ", "NL91 ", "número de identidade: ",
                "dni. ", "vei ", "Tv. ", "gata ", " W. ", "85.07.30-", "á", "ł", "\u{a0}", "Andrés ",
                "I live at ", "moro na ", ", ", "Kpt. ", "12 ", "17B ", "EC1N 8QX",
                " and ", " i ", "Anna Nowak, ", "papa ", "Trainer ",
            ]).prop_map(str::to_owned),
            "[0-9]{1,4}",
        ]), 1..6),
        region in prop_oneof![Just(None), Just(Some("FR")), Just(Some("PL")), Just(Some("NO"))],
    ) {
        let texts = dev_texts();
        let mut text = texts[pick % texts.len()].clone();
        for (at, piece) in inserts {
            let mut i = (at * text.len() as f64) as usize;
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            text.insert_str(i, &piece);
        }
        let once = scanner().scrub(&text, region);
        let twice = scanner().scrub(&once.text, region);
        prop_assert_eq!(&twice.text, &once.text);
        prop_assert_eq!(twice.counts.total(), 0);
        check_batch(&[Some(text.clone()), Some(once.text.into_owned())], &[region, region])?;
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
