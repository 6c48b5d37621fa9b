//! Benchmark fixtures for optgate: synthetic batches and side tables shared
//! by the criterion benchmarks in `benches/`.

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use optgate_core::{AccountIndexBuilder, KeySet, RuleColumns, SideTables, key_of_str};

/// Column positions of [`posts_batch`].
pub const RULE_COLUMNS: RuleColumns = RuleColumns {
    post_id: 0,
    author_id: 1,
    created_at: 2,
    platform: 3,
    kind: 4,
    visibility: 5,
};

/// A batch of `rows` posts by `authors` authors with a realistic mix of kinds and visibilities.
pub fn posts_batch(rows: usize, authors: usize) -> RecordBatch {
    posts_batch_with(rows, authors, false)
}

/// [`posts_batch`] with its label columns (platform, kind, visibility) as
/// dictionaries with `i32` keys, as the pipeline reads them.
pub fn posts_batch_dictionary_labels(rows: usize, authors: usize) -> RecordBatch {
    posts_batch_with(rows, authors, true)
}

fn posts_batch_with(rows: usize, authors: usize, dictionary_labels: bool) -> RecordBatch {
    let kinds = [
        "post",
        "comment",
        "photo_caption",
        "private_message",
        "business_message",
        "ai_interaction",
    ];
    let platforms = ["facebook", "instagram", "messenger", "whatsapp", "threads"];
    let vis = ["public", "public", "public", "friends", "private"];
    let col = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from((0..rows).map(f).collect::<Vec<_>>()))
    };
    let label = |f: &dyn Fn(usize) -> &'static str| -> ArrayRef {
        if dictionary_labels {
            Arc::new((0..rows).map(f).collect::<DictionaryArray<Int32Type>>())
        } else {
            Arc::new(StringArray::from((0..rows).map(f).collect::<Vec<_>>()))
        }
    };
    let created: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from(
            (0..rows)
                .map(|i| 1_546_300_800_000_000 + (i as i64 * 7_919_000_000) % 220_924_799_000_000)
                .collect::<Vec<_>>(),
        )
        .with_timezone("UTC"),
    );
    RecordBatch::try_from_iter([
        ("post_id", col(&|i| (1_000_000_000 + i).to_string())),
        (
            "author_id",
            col(&|i| (100_000_000 + (i * 7919) % authors).to_string()),
        ),
        ("created_at", created),
        ("platform", label(&|i| platforms[i % platforms.len()])),
        ("kind", label(&|i| kinds[(i / 3) % kinds.len()])),
        ("visibility", label(&|i| vis[(i / 7) % vis.len()])),
    ])
    .expect("benchmark batch is well-formed")
}

/// Accounts for every author (a few with unknown age), and 5% of them objecting.
pub fn side_tables(authors: usize) -> SideTables {
    let mut b = AccountIndexBuilder::new(18);
    let mut optouts = Vec::new();
    for a in 0..authors {
        let key = key_of_str(&(100_000_000 + a).to_string());
        // Born between 1950 and 2010, so some are minors at posting time.
        let birth = (a % 60) as i32 * 365 - 7305;
        b.push(key, (a % 50 != 0).then_some(birth));
        if a % 20 == 0 {
            optouts.push(key);
        }
    }
    SideTables {
        accounts: b.finish(),
        optouts: Some(KeySet::from_keys(optouts)),
        consents: None,
    }
}
