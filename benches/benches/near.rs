//! Criterion: near mode's signature of a normalised text, in texts per
//! second, with 128 and 256 permutations: the texts `optgate gen-sample`
//! writes and the Wikipedia sentences of the personal-data evaluation's
//! development part (tweet-sized: many of a signature's bins are empty, and
//! those that are banded are filled by densification).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use optgate_core::NearParams;
use optgate_core::dedup::normalize;
use optgate_core::near::{Signature, SignatureScratch, signature};
use optgate_pii::eval;

fn normalised(texts: impl IntoIterator<Item = String>) -> Vec<String> {
    texts
        .into_iter()
        .map(|t| {
            let mut n = String::new();
            normalize(&t, &mut n);
            n
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let generated = normalised(
        optgate_io::sample::sample_texts(42, 2000)
            .into_iter()
            .map(|(t, _)| t),
    );
    let sentences = normalised(
        eval::read_jsonl(include_str!("../../crates/optgate-pii/eval/dev.jsonl"))
            .expect("the development part parses")
            .into_iter()
            .take(4000)
            .map(|c| c.text),
    );
    let mut g = c.benchmark_group("signature");
    for (name, texts) in [("gen_sample", &generated), ("sentences", &sentences)] {
        g.throughput(Throughput::Elements(texts.len() as u64));
        for k in [128u32, 256] {
            let params = NearParams {
                permutations: k,
                ..NearParams::default()
            };
            let mut scratch = SignatureScratch::default();
            let mut out = Signature::default();
            g.bench_with_input(BenchmarkId::new(name, k), texts, |b, texts| {
                b.iter(|| {
                    let mut x = 0u8;
                    for t in texts {
                        signature(&params, t.as_bytes(), &mut scratch, &mut out);
                        x ^= out.bins[0];
                    }
                    x
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
