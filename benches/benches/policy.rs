//! Criterion: rules 1–7 over one batch of posts, and the keep mask made from
//! their verdicts, small / medium / large.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use optgate_benches::{RULE_COLUMNS, posts_batch, posts_batch_dictionary_labels, side_tables};
use optgate_core::{Policy, PolicyConfig, evaluate_posts, keep_mask};

fn bench_rules(c: &mut Criterion) {
    let policy = Policy::resolve(&PolicyConfig::default()).expect("default policy");
    let mut group = c.benchmark_group("evaluate_posts");
    for (name, rows, authors) in [
        ("small", 1_024, 100),
        ("medium", 16_384, 10_000),
        ("large", 131_072, 1_000_000),
    ] {
        let batch = posts_batch(rows, authors);
        let tables = side_tables(authors);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &batch, |b, batch| {
            b.iter(|| evaluate_posts(batch, &RULE_COLUMNS, &policy, &tables).expect("evaluates"))
        });
        // The labels as the pipeline reads them: dictionaries.
        let batch = posts_batch_dictionary_labels(rows, authors);
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{name}_dictionary_labels")),
            &batch,
            |b, batch| {
                b.iter(|| {
                    evaluate_posts(batch, &RULE_COLUMNS, &policy, &tables).expect("evaluates")
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("keep_mask");
    for (name, rows, authors) in [("small", 1_024, 100), ("large", 131_072, 1_000_000)] {
        let batch = posts_batch(rows, authors);
        let tables = side_tables(authors);
        let reasons = evaluate_posts(&batch, &RULE_COLUMNS, &policy, &tables).expect("evaluates");
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &reasons, |b, reasons| {
            b.iter(|| keep_mask(reasons))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);
