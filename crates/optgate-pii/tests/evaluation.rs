//! The scanner against the committed evaluation corpus and hand-written hard
//! cases: the recall, leak and false-positive targets of the project.

use optgate_pii::eval::{self, Case, Report};
use optgate_pii::{Entity, Scanner, ScannerConfig};

fn corpus() -> Vec<Case> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/eval");
    let mut cases =
        eval::read_jsonl(&std::fs::read_to_string(format!("{dir}/corpus.jsonl")).expect("corpus"))
            .expect("corpus parses");
    cases.extend(
        eval::read_marked(
            &std::fs::read_to_string(format!("{dir}/hard_cases.txt")).expect("hard cases"),
        )
        .expect("hard cases parse"),
    );
    cases
}

fn report() -> Report {
    eval::evaluate(&Scanner::new(&ScannerConfig::default()), &corpus())
}

const STRUCTURED: [Entity; 6] = [
    Entity::Email,
    Entity::Phone,
    Entity::Iban,
    Entity::Card,
    Entity::Ip,
    Entity::NationalId,
];

#[test]
fn structured_types_have_recall_of_at_least_99_percent() {
    let r = report();
    for e in STRUCTURED {
        let s = &r.by_entity[e.name()];
        assert!(s.planted >= 200, "{}: only {} planted", e.name(), s.planted);
        assert!(s.recall() >= 0.99, "{}: recall {:.4}", e.name(), s.recall());
    }
    for (kind, s) in &r.by_kind {
        if kind.starts_with("ipv")
            || [
                "fr_nir",
                "es_dni",
                "es_nie",
                "it_codice_fiscale",
                "nl_bsn",
                "pl_pesel",
                "be_national_number",
                "pt_nif",
                "de_steuer_id",
                "uk_nino",
                "us_ssn",
            ]
            .contains(&kind.as_str())
        {
            assert!(
                s.planted >= 20 && s.recall() >= 0.99,
                "{kind}: {} planted, recall {:.4}",
                s.planted,
                s.recall()
            );
        }
    }
}

#[test]
fn names_and_addresses_reach_80_percent_recall() {
    let r = report();
    for e in [Entity::Person, Entity::Address] {
        assert!(
            r.by_entity[e.name()].recall() >= 0.8,
            "{}: {:.4}",
            e.name(),
            r.by_entity[e.name()].recall()
        );
    }
}

#[test]
fn at_most_half_a_percent_of_negatives_are_scrubbed() {
    let r = report();
    assert!(r.negatives >= 1000);
    assert!(
        r.false_positive_rate() <= 0.005,
        "false-positive rate {:.4}",
        r.false_positive_rate()
    );
}

#[test]
fn clean_texts_come_back_unchanged() {
    let r = report();
    assert!(r.clean >= 400);
    assert_eq!(r.clean_changed, 0);
}

#[test]
fn committed_corpus_is_what_the_generator_makes() {
    let (per_type, negatives, clean) = eval::CORPUS_SHAPE;
    let fresh = eval::to_jsonl(&eval::generate(
        eval::CORPUS_SEED,
        per_type,
        negatives,
        clean,
    ));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/corpus.jsonl"))
            .expect("corpus");
    assert!(
        fresh == committed,
        "eval/corpus.jsonl is stale: run `make pii-corpus`"
    );
}

#[test]
fn every_planted_value_passes_its_validator() {
    use optgate_pii::checks;
    let compact = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_uppercase())
            .collect()
    };
    for c in corpus() {
        for l in &c.labels {
            let v = &c.text[l.start..l.end];
            let ok = match l.what.as_str() {
                "iban" => checks::iban(&compact(v)),
                "card" => checks::card(&compact(v)),
                "fr_nir" => checks::fr_nir(&compact(v)),
                "es_dni" | "es_nie" => checks::es_dni_nie(&compact(v)),
                "it_codice_fiscale" => checks::it_codice_fiscale(&compact(v)),
                "nl_bsn" => checks::nl_bsn(&compact(v)),
                "pl_pesel" => checks::pl_pesel(&compact(v)),
                "be_national_number" => checks::be_national_number(&compact(v)),
                "pt_nif" => checks::pt_nif(&compact(v)),
                "de_steuer_id" => checks::de_steuer_id(&compact(v)),
                "uk_nino" => checks::uk_nino(&compact(v)),
                "us_ssn" => checks::us_ssn(&compact(v)),
                "luhn_fail" => !checks::luhn(&compact(v)),
                "iban_fail" => !checks::iban(&compact(v)),
                _ => true,
            };
            assert!(ok, "{} {v:?} in {:?}", l.what, c.text);
        }
    }
}

/// The SHA-256 of `eval/test.jsonl`, frozen when it was written, before
/// the scanner was tuned on `eval/dev.jsonl`. Never change it to make a
/// test pass: a changed test part is no longer a test part.
const TEST_PART_SHA256: &str = "ac085b56d2045d56f983004108ccf8a22dab55b8f080dfbf93a7fd85b9a39265";

#[test]
fn test_part_is_frozen() {
    use sha2::{Digest, Sha256};
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/test.jsonl")).expect("test part");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest, TEST_PART_SHA256,
        "eval/test.jsonl changed after it was frozen"
    );
}

#[test]
fn dev_and_test_parts_share_no_planted_value() {
    let read = |name: &str| {
        eval::read_jsonl(
            &std::fs::read_to_string(format!("{}/eval/{name}", env!("CARGO_MANIFEST_DIR")))
                .expect("part"),
        )
        .expect("part parses")
    };
    let values = |cases: &[Case]| -> std::collections::HashSet<String> {
        cases
            .iter()
            .flat_map(|c| {
                c.labels
                    .iter()
                    .filter(|l| l.entity.is_some() && l.what != "person")
                    .map(|l| c.text[l.start..l.end].to_owned())
            })
            .collect()
    };
    let (dev, test) = (read("dev.jsonl"), read("test.jsonl"));
    assert!(test.len() > 15_000 && dev.len() > 15_000);
    let shared: Vec<_> = values(&dev).intersection(&values(&test)).cloned().collect();
    // A phone number may be written the same way from two numbers' forms
    // only by accident; nothing else may repeat.
    assert!(shared.is_empty(), "values in both parts: {shared:?}");
}

/// What the scanner reached on the frozen test part when it was last
/// tuned (on the development part), a little below: a change that loses
/// recall or precision there fails here. These are floors, not the
/// project's targets (`eval::ROWS`, printed by `make pii-eval`), which the
/// person, address, national phone and id rows do not meet yet.
#[test]
fn test_part_holds_what_was_reached() {
    let cases = eval::read_jsonl(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/eval/test.jsonl"))
            .expect("test part"),
    )
    .expect("test part parses");
    let r = eval::evaluate(&Scanner::new(&ScannerConfig::default()), &cases);
    let floors: [(&str, f64); 11] = [
        ("e-mail", 0.99),
        ("IBAN", 0.99),
        ("IPv6", 0.99),
        ("card numbers", 0.99),
        ("IPv4", 0.99),
        ("phones, international", 0.99),
        ("phones, national", 0.95),
        ("national id numbers", 0.94),
        ("profile URLs, handles", 0.99),
        ("street addresses", 0.88),
        ("person names", 0.70),
    ];
    for (name, floor) in floors {
        let row = eval::ROWS.iter().find(|r| r.name == name).expect("a row");
        let (found, planted) = r.row(row);
        assert!(planted >= 190, "{name}: only {planted} labels");
        let recall = found as f64 / planted as f64;
        assert!(recall >= floor, "{name}: recall {recall:.4} < {floor}");
    }
    assert!(r.negatives >= 2000 && r.clean == 8000);
    assert!(
        r.false_positive_rate() <= 0.004,
        "decoys altered {:.4}",
        r.false_positive_rate()
    );
    assert!(
        r.clean_changed_rate() <= 0.018,
        "clean changed {:.4}",
        r.clean_changed_rate()
    );
    for e in Entity::ALL {
        let s = &r.by_entity[e.name()];
        // Person names gave up a little precision (0.947 to 0.940) for
        // recall (0.636 to 0.670) when the SSA's first names were added.
        let floor = if e == Entity::Person { 0.93 } else { 0.94 };
        assert!(
            s.precision() >= floor,
            "{}: precision {:.4}",
            e.name(),
            s.precision()
        );
    }
}

/// Person labels are scored apart by their number of words: a name of one
/// word is one a first-name lexicon cannot find.
#[test]
fn person_labels_are_scored_by_their_number_of_words() {
    let person = |start: usize, end: usize| eval::Label {
        start,
        end,
        entity: Some(Entity::Person),
        what: "person".to_owned(),
        detail: String::new(),
    };
    let text = "Hindenburg met Anna Nowak and Jan van der Berg.";
    let cases = vec![Case {
        lang: "en".to_owned(),
        region: None,
        text: text.to_owned(),
        labels: vec![person(0, 10), person(15, 25), person(30, 46)],
    }];
    // Found: "Anna Nowak" only.
    let found = vec![vec![eval::Found {
        start: 15,
        end: 25,
        entity: Some(Entity::Person),
    }]];
    let r = eval::evaluate_found(&cases, &found);
    let one = &r.person_by_words["one word"];
    let more = &r.person_by_words["two words or more"];
    assert_eq!((one.planted, one.found), (1, 0));
    assert_eq!((more.planted, more.found), (2, 1));
    assert!(eval::render(&r).contains("ceiling, no one-word"));
}
