//! Criterion: the personal-data scanner on post text, in bytes per second.
//! Clean text (the common case), the sample mix (8% of posts with personal
//! data), the texts `optgate gen-sample` writes (all, and split into those
//! with a digit or slash and the others), text dense with personal data, and
//! the development part of the evaluation sets (Wikipedia sentences with
//! planted values and persons, and without);
//! one text at a time (`scrub_text`) and as the pipeline scrubs a batch
//! (`scrub_texts`: the keyword search of two texts side by side).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use optgate_pii::eval;
use optgate_pii::{Scanner, ScannerConfig, TextScrubber};

/// Texts with the author's region hint.
type Texts = Vec<(String, Option<String>)>;

fn texts() -> Vec<(&'static str, Texts)> {
    let corpus = eval::generate(3, 200, 0, 400);
    let clean: Vec<_> = corpus
        .iter()
        .filter(|c| c.labels.is_empty())
        .map(|c| (c.text.clone(), c.region.clone()))
        .collect();
    let dense: Vec<_> = corpus
        .iter()
        .filter(|c| !c.labels.is_empty())
        .map(|c| (c.text.clone(), c.region.clone()))
        .collect();
    // The sample mix: about 200-byte posts, one in twelve with a planted value.
    let mix: Vec<_> = (0..1000)
        .map(|i| {
            let (a, r) = &clean[i % clean.len()];
            let (b, _) = &clean[(i * 7 + 3) % clean.len()];
            let mut t = format!("{a} {b}");
            if i % 12 == 0 {
                t.push(' ');
                t.push_str(&dense[i % dense.len()].0);
            }
            (t, r.clone())
        })
        .collect();
    // Exactly the texts `optgate gen-sample` writes.
    let generated: Vec<_> = optgate_io::sample::sample_texts(42, 2000)
        .into_iter()
        .map(|(t, c)| (t, Some(c.to_owned())))
        .collect();
    // The generated texts split as a batch scrubs them: those with a digit
    // or a slash (the full keyword search and the word walk) and the others
    // (the titles' search over joined texts and the name-pair test).
    let (gen_digits, gen_no_digits): (Vec<_>, Vec<_>) = generated
        .iter()
        .cloned()
        .partition(|(t, _)| optgate_pii::needs_all_keywords(t));
    // The development part of the evaluation sets (eval/dev.jsonl):
    // Wikipedia sentences in eight languages, those with a planted value
    // or a person (dense) and those without (clean).
    let dev = eval::read_jsonl(include_str!("../../crates/optgate-pii/eval/dev.jsonl"))
        .expect("the development part parses");
    let (eval_dense, eval_clean): (Vec<_>, Vec<_>) = dev
        .into_iter()
        .map(|c| (c.labels.is_empty(), (c.text, c.region)))
        .partition(|(clean, _)| !clean);
    let strip = |v: Vec<(bool, (String, Option<String>))>| -> Texts {
        v.into_iter().map(|(_, t)| t).collect()
    };
    vec![
        ("eval_dense", strip(eval_dense)),
        ("eval_clean", strip(eval_clean)),
        ("clean", clean),
        ("sample_mix", mix),
        ("gen_sample", generated),
        ("gen_sample_digits", gen_digits),
        ("gen_sample_no_digits", gen_no_digits),
        ("dense", dense),
    ]
}

fn bench_scanner(c: &mut Criterion) {
    let scanner = Scanner::new(&ScannerConfig::default());
    let mut group = c.benchmark_group("scrub_text");
    for (name, texts) in texts() {
        let bytes: usize = texts.iter().map(|(t, _)| t.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &texts, |b, texts| {
            b.iter(|| {
                let mut changed = 0usize;
                for (t, r) in texts {
                    changed += usize::from(matches!(
                        scanner.scrub(t, r.as_deref()).text,
                        std::borrow::Cow::Owned(_)
                    ));
                }
                changed
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("scrub_texts");
    for (name, texts) in texts() {
        let bytes: usize = texts.iter().map(|(t, _)| t.len()).sum();
        let (texts, regions): (Vec<Option<&str>>, Vec<Option<&str>>) = texts
            .iter()
            .map(|(t, r)| (Some(t.as_str()), r.as_deref()))
            .unzip();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &texts, |b, texts| {
            b.iter(|| scanner.scrub_texts(texts, &regions).changed)
        });
    }
    group.finish();
}

criterion_group!(benches, bench_scanner);
criterion_main!(benches);
