//! An independent oracle of the policy, written from DESIGN.md for the tests.
//! It shares no code with the crates under test: ids are compared as decimal
//! text, ages are computed as whole years the way a person counts them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::common::{parquet_files, read_parquet};

pub fn id_text(a: &ArrayRef, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_owned(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        t => panic!("oracle: unexpected id type {t}"),
    })
}

pub fn str_value(a: &ArrayRef, i: usize) -> Option<String> {
    (!a.is_null(i)).then(|| a.as_string::<i32>().value(i).to_owned())
}

pub fn timestamp(a: &ArrayRef, i: usize) -> Option<DateTime<Utc>> {
    if a.is_null(i) {
        return None;
    }
    let v = |i| match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => (
            a.as_primitive::<TimestampSecondType>().value(i),
            1_000_000_000,
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => (
            a.as_primitive::<TimestampMillisecondType>().value(i),
            1_000_000,
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            (a.as_primitive::<TimestampMicrosecondType>().value(i), 1_000)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            (a.as_primitive::<TimestampNanosecondType>().value(i), 1)
        }
        t => panic!("oracle: unexpected timestamp type {t}"),
    };
    let (value, nanos_per_unit) = v(i);
    Some(DateTime::from_timestamp_nanos(value * nanos_per_unit))
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("oracle: no column {name}"))
}

/// Whole years between `birth` and `on`: the age a person would state that day.
fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    OptOut,
    Consent,
}

/// One post as the oracle sees it.
#[derive(Debug, Clone)]
pub struct Expected {
    pub post_id: String,
    /// The reason the post must be dropped for, or `None` if it must be kept.
    pub reason: Option<&'static str>,
    pub text: Option<String>,
}

pub struct Inputs<'a> {
    pub posts: &'a Path,
    pub accounts: &'a Path,
    pub optouts: Option<&'a Path>,
    pub consents: Option<&'a Path>,
}

pub fn expected(inputs: &Inputs, mode: Mode) -> Vec<Expected> {
    // accounts: every birth date given for each user.
    let mut births: HashMap<String, HashSet<Option<NaiveDate>>> = HashMap::new();
    for b in read_parquet(inputs.accounts) {
        let (ids, dob) = (col(&b, "user_id"), col(&b, "birth_date"));
        for i in 0..b.num_rows() {
            let d = (!dob.is_null(i)).then(|| {
                NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
                    + chrono::TimeDelta::days(i64::from(dob.as_primitive::<Date32Type>().value(i)))
            });
            births
                .entry(id_text(ids, i).expect("account id"))
                .or_default()
                .insert(d);
        }
    }
    let mut objectors = HashSet::new();
    if let Some(p) = inputs.optouts {
        for b in read_parquet(p) {
            for i in 0..b.num_rows() {
                objectors.insert(id_text(col(&b, "user_id"), i).expect("objector id"));
            }
        }
    }
    // consents: the latest consent must be after the latest withdrawal.
    type LatestConsentAndWithdrawal = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut consent_times: HashMap<String, LatestConsentAndWithdrawal> = HashMap::new();
    if let Some(p) = inputs.consents {
        for b in read_parquet(p) {
            for i in 0..b.num_rows() {
                let e = consent_times
                    .entry(id_text(col(&b, "user_id"), i).expect("consent id"))
                    .or_default();
                let c = timestamp(col(&b, "consented_at"), i);
                let w = b
                    .column_by_name("withdrawn_at")
                    .and_then(|a| timestamp(a, i));
                e.0 = e.0.max(c);
                e.1 = e.1.max(w);
            }
        }
    }
    let consented = |id: &str| match consent_times.get(id) {
        Some((Some(c), Some(w))) => c > w,
        Some((Some(_), None)) => true,
        _ => false,
    };

    let mut out = Vec::new();
    for file in all_parquet(inputs.posts) {
        for b in read_parquet(&file) {
            for i in 0..b.num_rows() {
                let post_id = id_text(col(&b, "post_id"), i);
                let author = id_text(col(&b, "author_id"), i);
                let at = timestamp(col(&b, "created_at"), i);
                let platform = str_value(col(&b, "platform"), i);
                let kind = str_value(col(&b, "kind"), i);
                let vis = str_value(col(&b, "visibility"), i);
                let text = str_value(col(&b, "text"), i);
                let reason = match (&post_id, &author, at, &platform, &kind, &vis) {
                    (Some(_), Some(author), Some(at), Some(platform), Some(kind), Some(vis)) => {
                        let kind = kind.trim().to_lowercase();
                        let platform = platform.trim().to_lowercase();
                        let vis = vis.trim().to_lowercase();
                        let dobs = births.get(author);
                        if dobs.is_none() {
                            Some("no_account")
                        } else if dobs.is_some_and(|d| d.len() != 1 || d.contains(&None)) {
                            Some("age_unknown")
                        } else if dobs
                            .and_then(|d| d.iter().next().copied().flatten())
                            .is_some_and(|dob| age_on(dob, at.date_naive()) < 18)
                        {
                            Some("underage")
                        } else if kind == "private_message" {
                            Some("private_message")
                        } else if platform == "whatsapp" && kind == "ai_interaction" {
                            Some("excluded_surface")
                        } else if vis != "public"
                            && kind != "business_message"
                            && kind != "ai_interaction"
                        {
                            Some("not_public")
                        } else if objectors.contains(author)
                            || (mode == Mode::Consent && !consented(author))
                        {
                            Some("opted_out")
                        } else {
                            None
                        }
                    }
                    _ => Some("invalid_row"),
                };
                out.push(Expected {
                    post_id: post_id.unwrap_or_default(),
                    reason,
                    text,
                });
            }
        }
    }
    out
}

fn all_parquet(dir: &Path) -> Vec<std::path::PathBuf> {
    let files = parquet_files(dir);
    assert!(!files.is_empty(), "oracle: no posts in {}", dir.display());
    files
}

/// Post id → text of every row in an output directory's data files.
pub fn output_rows(out: &Path) -> BTreeMap<String, Option<String>> {
    let mut rows = BTreeMap::new();
    for f in parquet_files(&out.join("data")) {
        for b in read_parquet(&f) {
            for i in 0..b.num_rows() {
                let id = id_text(col(&b, "post_id"), i).expect("output post_id");
                let prev = rows.insert(id.clone(), str_value(col(&b, "text"), i));
                assert!(prev.is_none(), "post {id} appears twice in the output");
            }
        }
    }
    rows
}

/// Checks an output directory against the oracle: exactly the expected posts
/// kept, text unchanged, and the manifest's counts per reason.
pub fn check_output(out: &Path, expected: &[Expected]) {
    let rows = output_rows(out);
    let kept: BTreeMap<&str, &Option<String>> = expected
        .iter()
        .filter(|e| e.reason.is_none())
        .map(|e| (e.post_id.as_str(), &e.text))
        .collect();
    let got: Vec<&str> = rows.keys().map(String::as_str).collect();
    let want: Vec<&str> = kept.keys().copied().collect();
    let unexpected: Vec<_> = got
        .iter()
        .filter(|g| !kept.contains_key(*g))
        .take(5)
        .collect();
    let missing: Vec<_> = want
        .iter()
        .filter(|w| !rows.contains_key(**w))
        .take(5)
        .collect();
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "kept posts differ from the oracle: {} unexpected (e.g. {unexpected:?}), {} missing (e.g. {missing:?})",
        got.iter().filter(|g| !kept.contains_key(*g)).count(),
        want.iter().filter(|w| !rows.contains_key(**w)).count(),
    );
    for (id, text) in &rows {
        let input = kept.get(id.as_str()).copied().expect("kept post");
        check_text(id, input.as_deref(), text.as_deref());
    }
    let m = crate::common::manifest(out);
    let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
    for e in expected {
        if let Some(r) = e.reason {
            *by_reason.entry(r).or_default() += 1;
        }
    }
    let counts = &m["counts"];
    assert_eq!(counts["rows_in"], expected.len() as u64);
    assert_eq!(counts["kept"], kept.len() as u64);
    for (reason, n) in counts["dropped_by_reason"].as_object().expect("reasons") {
        assert_eq!(
            n.as_u64(),
            Some(by_reason.get(reason.as_str()).copied().unwrap_or(0)),
            "manifest count for {reason}"
        );
    }
    for reason in by_reason.keys() {
        assert!(
            counts["dropped_by_reason"].get(*reason).is_some(),
            "manifest lacks {reason}"
        );
    }
}

/// [`check_output`] for an output deduplicated in exact mode: every post
/// the oracle keeps that is not in the output must be in the ledger as a
/// duplicate of a post that is (whether their texts match is the dedup
/// tests' business); the rest is held to the oracle as without it.
pub fn check_output_deduplicated(out: &Path, expected: &[Expected]) {
    let rows = output_rows(out);
    let mut duplicate_of: HashMap<String, String> = HashMap::new();
    for f in parquet_files(&out.join("ledger")) {
        for b in read_parquet(&f) {
            for i in 0..b.num_rows() {
                if str_value(col(&b, "reason"), i).as_deref() == Some("duplicate") {
                    let id = id_text(col(&b, "post_id"), i).expect("a duplicate's id");
                    let of = str_value(col(&b, "duplicate_of"), i).expect("its survivor");
                    duplicate_of.insert(id, of);
                }
            }
        }
    }
    assert!(
        !duplicate_of.is_empty(),
        "no duplicates removed: nothing to check"
    );
    let mut removed = 0usize;
    let expected: Vec<Expected> = expected
        .iter()
        .map(|e| {
            let mut e = Expected {
                post_id: e.post_id.clone(),
                reason: e.reason,
                text: e.text.clone(),
            };
            if e.reason.is_none() && !rows.contains_key(&e.post_id) {
                let survivor = duplicate_of.get(&e.post_id).unwrap_or_else(|| {
                    panic!(
                        "{} is kept by the policy, missing, and not a duplicate",
                        e.post_id
                    )
                });
                assert!(
                    rows.contains_key(survivor),
                    "{}'s survivor {survivor} is not in the output",
                    e.post_id
                );
                removed += 1;
                e.reason = Some("duplicate");
            }
            e
        })
        .collect();
    assert_eq!(
        removed,
        duplicate_of.len(),
        "every post in the ledger as a duplicate is one the policy keeps"
    );
    check_output(out, &expected);
}

/// Personal data the sample generator plants in posts.
pub const PLANTED: &[&str] = &[
    "marie.dupont@example.fr",
    "+49 30 12345678",
    "lucia.garcia@example.es",
    "+39 06 1234 5678",
    "NL91 ABNA 0417 1643 00",
    "+44 20 7946 0958",
];

/// Templated messages the generator writes, each with a value of four
/// digits in place of `{}`: (the message, the personal data in it, its tag).
pub const TEMPLATED: &[(&str, &str, &str)] = &[
    (
        "Call me on +44 20 7946 {} after six for the spare tickets.",
        "+44 20 7946 {}",
        "<PHONE>",
    ),
    (
        "Ruf mich an unter +49 30 1234 {}, ich bin ab 18 Uhr da.",
        "+49 30 1234 {}",
        "<PHONE>",
    ),
    (
        "Écrivez-moi à contact{}@example.fr pour les détails de la vente.",
        "contact{}@example.fr",
        "<EMAIL>",
    ),
    (
        "DM me or mail giveaway{}@example.com to enter the giveaway!",
        "giveaway{}@example.com",
        "<EMAIL>",
    ),
];

/// The text a templated message scrubs to, if `input` is one.
fn templated(input: &str) -> Option<String> {
    TEMPLATED.iter().find_map(|(message, value, tag)| {
        let (before, after) = message.split_once("{}")?;
        let digits = input.strip_prefix(before)?.strip_suffix(after)?;
        (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| input.replace(&value.replace("{}", digits), tag))
    })
}

/// An output text equals its input, except that planted personal data is
/// replaced by its placeholder; nothing planted survives.
fn check_text(id: &str, input: Option<&str>, output: Option<&str>) {
    let (Some(input), Some(output)) = (input, output) else {
        assert_eq!(input, output, "null text of post {id}");
        return;
    };
    if let Some(expected) = templated(input) {
        assert_eq!(output, expected, "text of templated post {id}");
        return;
    }
    for p in PLANTED {
        assert!(!output.contains(p), "post {id} still holds {p:?}: {output}");
    }
    let mut expected = input.to_owned();
    // A repost may be in capitals or have its spaces doubled.
    let variants = PLANTED.iter().flat_map(|p| {
        [(*p).to_owned(), p.replace(' ', "  "), p.to_uppercase()].map(move |v| (p, v))
    });
    for (p, v) in variants.filter(|(_, v)| input.contains(v.as_str())) {
        let tag = if p.contains('@') {
            "<EMAIL>"
        } else if p.starts_with('+') {
            "<PHONE>"
        } else {
            "<IBAN>"
        };
        expected = expected.replace(v.as_str(), tag);
    }
    assert_eq!(output, expected, "text of post {id}");
}
