# optgate: the two commands a new user needs are `make sample` and `make test`.

CARGO ?= cargo
OUT ?= out/sample

.PHONY: sample test test-ray test-readers golden browser bench bench-stages bench-tables pii-eval pii-corpus dedup-eval fuzz fmt lint clean

## Build optgate (release) and run the default policy on the bundled sample.
sample:
	$(CARGO) build --release -p optgate-cli
	./target/release/optgate run --config sample-data/config.toml --out $(OUT) --overwrite
	@echo "manifest: $(OUT)/manifest.json"

## Run every test (unit, integration against the oracle, doc tests), with the
## report's headless-browser test (Debian's chromium, installed if missing),
## then optgate-ray's tests on a local Ray cluster (Ray from PyPI, in .venv).
test: browser
	OPTGATE_REQUIRE_BROWSER=1 $(CARGO) test --workspace --exclude optgate-benches
	$(MAKE) test-readers
	$(MAKE) test-ray

## optgate's output read back by pyarrow, DuckDB and Polars (pinned in
## testdata/golden/requirements-readers.txt, installed from PyPI into
## .venv-readers), against target/debug/optgate, built as `cargo test` builds
## it (the same features: nothing is compiled twice); and exact dedup against
## the rule written again in Python (eval/dedup/test_dedup_rule.py).
test-readers: .venv-readers/.installed
	$(CARGO) test --workspace --exclude optgate-benches --no-run
	OPTGATE_BIN=$(CURDIR)/target/debug/optgate .venv-readers/bin/python -m unittest discover -s testdata/golden -p 'test_readers.py' -v
	OPTGATE_BIN=$(CURDIR)/target/debug/optgate .venv-readers/bin/python -m unittest discover -s eval/dedup -p 'test_*.py' -v

.venv-readers/.installed: testdata/golden/requirements-readers.txt
	@echo "test-readers: creating .venv-readers and installing pyarrow, duckdb and polars from PyPI (about 440 MB installed)"
	python3 -m venv .venv-readers
	.venv-readers/bin/pip install --quiet -r testdata/golden/requirements-readers.txt
	touch $@

## Rewrite the golden files of testdata/golden/ (pyarrow, pandas, DuckDB,
## Polars, Spark, delta-rs; Spark needs Java 17): only to add a variant.
golden:
	$(CARGO) build --release -p optgate-cli
	python3 -m venv .venv-golden
	.venv-golden/bin/pip install --quiet pyarrow pandas duckdb polars pyspark deltalake
	.venv-golden/bin/python testdata/golden/make_golden.py --optgate target/release/optgate

## optgate-ray (python/) on a local Ray cluster, against target/debug/optgate.
## The binary is built as `cargo test` builds it (same features: nothing is
## compiled twice when `make test` runs this after the cargo tests).
test-ray: .venv/.installed
	$(CARGO) test --workspace --exclude optgate-benches --no-run
	# A local test cluster needs no token: without this, Ray writes one under $$HOME/.ray.
	RAY_AUTH_MODE=disabled OPTGATE_BIN=$(CURDIR)/target/debug/optgate .venv/bin/python -m unittest discover -s python/tests -v

.venv/.installed: python/pyproject.toml python/optgate_ray/*.py
	@echo "test-ray: creating .venv and installing optgate-ray with Ray from PyPI (about 20 s); the test cluster keeps its session files under /tmp/ray"
	python3 -m venv .venv
	.venv/bin/pip install --quiet ./python
	touch $@

## Debian's chromium for the report test (apt-get; needs root or sudo).
browser:
	./scripts/install-browser.sh

## The personal-data scanner on the frozen test part (first), the development
## part it is tuned on, and the hand-written hard cases, beside Presidio's
## figures on the same parts (presidio-analyzer with spaCy's English model from
## PyPI, in .venv-presidio; its spans cached per part in target/pii-eval/),
## and of a plain DuckDB script with six regular expressions (DuckDB from
## .venv-readers).
PII_EVAL := crates/optgate-pii/eval
## "presidio" counts every result Presidio gives (as its anonymizer would
## replace them: dates among them); "presidio-types" only those of optgate's types.
pii-eval: target/pii-eval/presidio.test.jsonl target/pii-eval/presidio.dev.jsonl \
		target/pii-eval/duckdb.test.jsonl target/pii-eval/duckdb.dev.jsonl
	$(CARGO) run --release -p optgate-cli -- pii-eval \
		--corpus $(PII_EVAL)/test.jsonl --corpus $(PII_EVAL)/dev.jsonl --hard $(PII_EVAL)/hard_cases.txt \
		--peer presidio=target/pii-eval/presidio.test.jsonl --peer presidio=target/pii-eval/presidio.dev.jsonl \
		--peer presidio-types=target/pii-eval/presidio-types.test.jsonl \
		--peer presidio-types=target/pii-eval/presidio-types.dev.jsonl \
		--peer duckdb=target/pii-eval/duckdb.test.jsonl --peer duckdb=target/pii-eval/duckdb.dev.jsonl

target/pii-eval/duckdb.%.jsonl: $(PII_EVAL)/%.jsonl $(PII_EVAL)/duckdb_spans.py .venv-readers/.installed
	@mkdir -p target/pii-eval
	.venv-readers/bin/python $(PII_EVAL)/duckdb_spans.py $< $@.tmp && mv $@.tmp $@

## Deduplication on two frozen sets of real tweets (eval/dedup/SOURCES.md; truth:
## shingle sets at least 0.8 similar, computed exactly) and on duplicates planted
## the way social media makes them (gen-sample --dedup-truth): optgate's exact and
## near modes, the exact rule written in Python, and datasketch's MinHashLSH (from
## PyPI, into .venv-dedup) on the same scrubbed texts: precision, recall, recall
## per planted kind.
dedup-eval: .venv-dedup/.installed
	$(CARGO) build --release -p optgate-cli
	.venv-dedup/bin/python eval/dedup/dedup_eval.py --binary target/release/optgate --json target/dedup-eval/report.json

.venv-dedup/.installed: eval/dedup/requirements.txt
	@echo "dedup-eval: creating .venv-dedup and installing datasketch and pyarrow from PyPI"
	python3 -m venv .venv-dedup
	.venv-dedup/bin/pip install --quiet -r eval/dedup/requirements.txt
	touch $@

target/pii-eval/presidio.%.jsonl: $(PII_EVAL)/%.jsonl $(PII_EVAL)/presidio_spans.py .venv-presidio/.installed
	@mkdir -p target/pii-eval
	@echo "pii-eval: Presidio on $< (about 5 minutes; cached until the part or the script changes)"
	.venv-presidio/bin/python $(PII_EVAL)/presidio_spans.py $< $@.tmp target/pii-eval/presidio-types.$*.jsonl \
		&& mv $@.tmp $@

.venv-presidio/.installed: $(PII_EVAL)/requirements-presidio.txt
	@echo "pii-eval: creating .venv-presidio and installing Presidio and spaCy from PyPI (about 400 MB installed)"
	python3 -m venv .venv-presidio
	.venv-presidio/bin/pip install --quiet -r $(PII_EVAL)/requirements-presidio.txt
	touch $@

## Regenerate the template corpus eval/corpus.jsonl (seeded; the tests check it
## is current). It is a regression set of our own making, not evidence.
pii-corpus:
	$(CARGO) run --release -p optgate-cli -- pii-eval --write-corpus crates/optgate-pii/eval/corpus.jsonl

## End-to-end benchmark: cached 2M- and 20M-post samples, each also re-written
## warehouse-style (snappy, INT96, 128 MiB row groups; benches/warehouse.py,
## pyarrow from .venv-readers), the floor (decode + re-encode) alternating
## with full runs; writes benches/runs/<date>-<machine>/.
## BENCH_ARGS passes options, e.g. BENCH_ARGS="--sizes 2000000 --runs 3".
bench: .venv-readers/.installed
	$(CARGO) build --release -p optgate-cli
	python3 benches/e2e.py --warehouse-python .venv-readers/bin/python $(BENCH_ARGS)

## Criterion benchmarks of each stage on its own (policy, stages, pii).
bench-stages:
	$(CARGO) bench -p optgate-benches --bench policy --bench stages --bench pii --bench near

## Side tables at 10^6-10^8 ids: load time, bytes per id, lookups, prefilter.
bench-tables:
	$(CARGO) bench -p optgate-benches --bench tables

## Fuzz the personal-data scanner with libFuzzer for FUZZ_SECONDS (600) on two
## workers: `find` on each text and the batch path on several, overflow checks
## on, seeded from the development part and the hard cases. cargo-fuzz comes
## from crates.io if missing; the stable toolchain builds with RUSTC_BOOTSTRAP=1.
## A finding lands in fuzz/artifacts/scrub/. Not part of `make test`.
FUZZ_SECONDS ?= 600
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	python3 fuzz/seeds.py $(PII_EVAL) fuzz/corpus/scrub
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -a scrub fuzz/corpus/scrub -- \
		-max_total_time=$(FUZZ_SECONDS) -max_len=400 -timeout=10 -jobs=2 -workers=2

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --exclude optgate-benches

clean:
	rm -rf out
