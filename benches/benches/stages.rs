//! Criterion: the pipeline's stages on their own, small / medium / large:
//! id canonicalisation and keying, opt-out membership, Parquet decode of the
//! rule columns, zstd Parquet write of whole posts, and the removal ledger.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use optgate_core::policy::PostColumnNames;
use optgate_core::{DropReason, IdColumn, KeySet, ReasonSet, key_of_i64};
use optgate_io::ledger::LedgerBuilder;
use optgate_io::read::ParquetSource;
use optgate_io::sample::{SampleOptions, generate};
use optgate_io::write::{PartWriter, PlainColumns, WriteOptions};

const SIZES: [(&str, usize); 3] = [("small", 1_024), ("medium", 16_384), ("large", 131_072)];

fn bench_keying(c: &mut Criterion) {
    let mut group = c.benchmark_group("id_keying");
    for (name, rows) in SIZES {
        let batch = optgate_benches::posts_batch(rows, rows / 10 + 1);
        let ids = batch.column(0).clone();
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::new("utf8", name), &ids, |b, ids| {
            b.iter(|| {
                let col = IdColumn::new(ids).expect("ids");
                (0..col.len()).fold(0u64, |acc, i| acc ^ col.key(i).unwrap_or(0))
            })
        });
        group.bench_with_input(BenchmarkId::new("int64", name), &rows, |b, rows| {
            b.iter(|| (0..*rows as i64).fold(0u64, |acc, i| acc ^ key_of_i64(1_000_000_000 + i)))
        });
    }
    group.finish();
}

fn bench_membership(c: &mut Criterion) {
    let mut group = c.benchmark_group("optout_membership");
    let lookups: Vec<u64> = (0..131_072u64)
        .map(|i| key_of_i64(i as i64 * 7919))
        .collect();
    for (name, ids) in [
        ("1e4_ids", 10_000u64),
        ("1e6_ids", 1_000_000),
        ("1e7_ids", 10_000_000),
    ] {
        let set = KeySet::from_keys((0..ids).map(|i| key_of_i64(i as i64 * 13)).collect());
        group.throughput(Throughput::Elements(lookups.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &set, |b, set| {
            b.iter(|| lookups.iter().filter(|k| set.contains(**k)).count())
        });
        let batch: Vec<Option<u64>> = lookups.iter().copied().map(Some).collect();
        // Key by key into a vector, as a batch's answers are used: the
        // baseline of the batched lookups (the loop above only counts).
        group.bench_with_input(BenchmarkId::new("collected", name), &set, |b, set| {
            b.iter(|| {
                batch
                    .chunks(optgate_io::posts::BATCH_ROWS)
                    .map(|c| {
                        let found: Vec<bool> = c
                            .iter()
                            .map(|k| k.is_some_and(|k| set.contains(k)))
                            .collect();
                        found.iter().filter(|x| **x).count()
                    })
                    .sum::<usize>()
            })
        });
        group.bench_with_input(BenchmarkId::new("batched", name), &set, |b, set| {
            b.iter(|| {
                batch
                    .chunks(optgate_io::posts::BATCH_ROWS)
                    .map(|c| set.contains_each(c).iter().filter(|x| **x).count())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

fn bench_parquet(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut decode = c.benchmark_group("parquet_decode_rule_columns");
    let mut files = Vec::new();
    for (name, rows) in SIZES {
        let out = dir.path().join(name);
        generate(
            &out,
            &SampleOptions {
                posts: rows as u64,
                seed: 1,
                int_ids: false,
                files: Some(1),
                row_group_rows: Some(rows),
                dedup_truth: false,
            },
        )
        .expect("sample");
        let path = out.join("posts/part-00000.parquet");
        files.push((name, rows, path));
    }
    for (name, rows, path) in &files {
        let src = ParquetSource::open(path).expect("open");
        let schema = src.metadata.schema().clone();
        let indices: Vec<usize> = [
            "post_id",
            "author_id",
            "created_at",
            "platform",
            "kind",
            "visibility",
        ]
        .iter()
        .map(|n| schema.index_of(n).expect("column"))
        .collect();
        decode.throughput(Throughput::Elements(*rows as u64));
        decode.bench_with_input(BenchmarkId::from_parameter(name), &indices, |b, idx| {
            b.iter(|| {
                src.read_columns(idx)
                    .expect("read")
                    .map(|batch| batch.expect("batch").num_rows())
                    .sum::<usize>()
            })
        });
    }
    decode.finish();

    let mut write = c.benchmark_group("parquet_write_zstd");
    for (name, rows, path) in &files {
        let src = ParquetSource::open(path).expect("open");
        let all: Vec<usize> = (0..src.metadata.schema().fields().len()).collect();
        let batches: Vec<_> = src
            .read_columns(&all)
            .expect("read")
            .map(|b| b.expect("batch"))
            .collect();
        let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
        write.throughput(Throughput::Bytes(bytes as u64));
        let target = dir.path().join(format!("{name}-out.parquet"));
        write.bench_with_input(BenchmarkId::from_parameter(name), &batches, |b, batches| {
            b.iter(|| {
                let _ = std::fs::remove_file(&target);
                let schema = batches[0].schema();
                // The run's settings for the posts' columns.
                let plain = PlainColumns::for_posts(&schema, &PostColumnNames::default());
                let mut w = PartWriter::create(&target, schema, &WriteOptions::default(), &plain)
                    .expect("create");
                for batch in batches {
                    w.write(batch).expect("write");
                }
                black_box(w.finish().expect("finish"))
            })
        });
        let _ = rows;
    }
    write.finish();
}

/// The rules a dropped post of the generated sample fails, about in the
/// proportions of `optgate run` on it: not public alone, not public with a
/// private message or an objection, underage, and so on.
fn reason_mix() -> Vec<ReasonSet> {
    use DropReason::*;
    let sets: [(&[DropReason], usize); 9] = [
        (&[NotPublic], 36),
        (&[Underage], 18),
        (&[PrivateMessage, NotPublic], 16),
        (&[AgeUnknown], 7),
        (&[OptedOut], 5),
        (&[NotPublic, OptedOut], 2),
        (&[ExcludedSurface], 4),
        (&[NoAccount], 3),
        (&[InvalidRow], 1),
    ];
    let mut out = Vec::new();
    for (reasons, weight) in sets {
        let mut r = ReasonSet::EMPTY;
        reasons.iter().for_each(|x| r.insert(*x));
        out.extend(std::iter::repeat_n(r, weight));
    }
    out
}

fn bench_ledger(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let mix = reason_mix();
    let mut group = c.benchmark_group("ledger_write");
    for (name, rows) in SIZES {
        let ids: Vec<String> = (0..rows).map(|i| format!("p{:012}", i * 7919)).collect();
        group.throughput(Throughput::Elements(rows as u64));
        let target = dir.path().join(format!("{name}.parquet"));
        group.bench_with_input(BenchmarkId::from_parameter(name), &ids, |b, ids| {
            b.iter(|| {
                let _ = std::fs::remove_file(&target);
                let mut ledger = LedgerBuilder::new("posts/part-00000.parquet", 3);
                for (i, id) in ids.iter().enumerate() {
                    ledger.push(Some(id), mix[i % mix.len()]);
                }
                black_box(
                    ledger
                        .write(
                            dir.path(),
                            &format!("{name}.parquet"),
                            &WriteOptions::default(),
                        )
                        .expect("write"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_keying,
    bench_membership,
    bench_parquet,
    bench_ledger
);
criterion_main!(benches);
