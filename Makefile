# optgate: the two commands a new user needs are `make sample` and `make test`.

CARGO ?= cargo
OUT ?= out/sample

.PHONY: sample test browser bench pii-eval pii-corpus fmt lint clean

## Build optgate (release) and run the default policy on the bundled sample.
sample:
	$(CARGO) build --release -p optgate-cli
	./target/release/optgate run --config sample-data/config.toml --out $(OUT) --overwrite
	@echo "manifest: $(OUT)/manifest.json"

## Run every test (unit, integration against the oracle, doc tests), with the
## report's headless-browser test (Debian's chromium, installed if missing).
test: browser
	OPTGATE_REQUIRE_BROWSER=1 $(CARGO) test --workspace --exclude optgate-benches

## Debian's chromium for the report test (apt-get; needs root or sudo).
browser:
	./scripts/install-browser.sh

## Precision, recall, leak and false-positive rates of the PII scanner.
pii-eval:
	$(CARGO) run --release -p optgate-cli -- pii-eval \
		--corpus crates/optgate-pii/eval/corpus.jsonl --hard crates/optgate-pii/eval/hard_cases.txt

## Regenerate the committed evaluation corpus (seeded; the tests check it is current).
pii-corpus:
	$(CARGO) run --release -p optgate-cli -- pii-eval --write-corpus crates/optgate-pii/eval/corpus.jsonl

## Criterion micro-benchmarks.
bench:
	$(CARGO) bench -p optgate-benches

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	rm -rf out
