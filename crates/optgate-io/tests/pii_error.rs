//! Fail closed: a post whose text cannot be scrubbed is dropped as
//! `pii_error`, counted, and never written.

use std::borrow::Cow;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use optgate_core::{ColumnNames, DropReason, Policy, PolicyConfig, SideTables};
use optgate_io::side_tables::{check_accounts, check_optouts, load_accounts, load_optouts};
use optgate_io::{WriteOptions, plan_posts, process_unit};
use optgate_pii::{EntityCounts, Scrubbed, TextScrubber};

/// Panics on any text holding an `@`, returns the rest unchanged.
struct FailsOnAt;

impl TextScrubber for FailsOnAt {
    fn scrub_text<'a>(&self, text: &'a str, _region: Option<&str>) -> Scrubbed<'a> {
        assert!(!text.contains('@'), "scanner failure stand-in");
        Scrubbed {
            text: Cow::Borrowed(text),
            counts: EntityCounts::default(),
        }
    }
}

#[test]
fn posts_whose_scrubbing_fails_are_dropped_with_pii_error() {
    // The stand-in's panics are expected; keep the test output readable.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = tempfile::tempdir().expect("tempdir");
    optgate_io::sample::generate(
        dir.path(),
        &optgate_io::sample::SampleOptions {
            posts: 3000,
            ..Default::default()
        },
    )
    .expect("sample");
    let cols = ColumnNames::default();
    let policy = Policy::resolve(&PolicyConfig::default()).expect("policy");
    let plan = plan_posts(&dir.path().join("posts"), &cols.posts).expect("plan");
    let (accounts, _) = load_accounts(
        &check_accounts(&dir.path().join("accounts.parquet"), &cols.accounts).expect("accounts"),
        &cols.accounts,
        18,
    )
    .expect("load");
    let (optouts, _) = load_optouts(
        &check_optouts(&dir.path().join("optouts.parquet"), &cols.optouts).expect("optouts"),
        &cols.optouts,
        false,
    )
    .expect("load");
    let tables = SideTables {
        accounts,
        optouts: Some(optouts),
        consents: None,
    };
    let (mut with, mut without) = (
        optgate_core::DropCounts::default(),
        optgate_core::DropCounts::default(),
    );
    let out = dir.path().join("out");
    for sub in ["a/data", "a/ledger", "b/data", "b/ledger"] {
        std::fs::create_dir_all(out.join(sub)).expect("mkdir");
    }
    let mut written = Vec::new();
    let mut ledgers = Vec::new();
    for unit in &plan.units {
        let o = process_unit(
            &plan,
            unit,
            &policy,
            &tables,
            Some(&FailsOnAt),
            None,
            &out.join("a"),
            &WriteOptions::default(),
        )
        .expect("unit");
        with.merge(&o.counts);
        written.extend(o.output);
        ledgers.extend(o.ledger);
        let o = process_unit(
            &plan,
            unit,
            &policy,
            &tables,
            None,
            None,
            &out.join("b"),
            &WriteOptions::default(),
        )
        .expect("unit");
        without.merge(&o.counts);
    }
    let failed = with.first_failing[DropReason::PiiError as usize];
    assert!(failed > 0, "the sample has kept posts with an @");
    assert_eq!(
        with.kept + failed,
        without.kept,
        "only kept posts are scrubbed, each failure drops one"
    );
    assert_eq!(with.rows_in, without.rows_in);
    assert_eq!(with.kept + with.dropped(), with.rows_in);
    // No written row holds a text the scrubber failed on.
    let mut rows = 0u64;
    for f in &written {
        for b in batches(&out.join("a").join(&f.path)) {
            let text = b.column_by_name("text").expect("text").as_string::<i32>();
            for i in 0..text.len() {
                assert!(text.is_null(i) || !text.value(i).contains('@'));
            }
            rows += b.num_rows() as u64;
        }
    }
    assert_eq!(rows, with.kept);
    // Every post dropped for a failed scrubbing is in the ledger, with that reason.
    let mut in_ledger = 0u64;
    let mut ledger_rows = 0u64;
    for f in &ledgers {
        for b in batches(&out.join("a").join(&f.path)) {
            let reason = b
                .column_by_name("reason")
                .expect("reason")
                .as_string::<i32>();
            in_ledger += reason.iter().filter(|r| *r == Some("pii_error")).count() as u64;
            ledger_rows += b.num_rows() as u64;
        }
    }
    assert_eq!(in_ledger, failed);
    assert_eq!(ledger_rows, with.dropped());
}

fn batches(path: &std::path::Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).expect("open");
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("footer")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}
