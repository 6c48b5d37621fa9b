# optgate: the two commands a new user needs are `make sample` and `make test`.

CARGO ?= cargo
OUT ?= out/sample

.PHONY: sample test bench fmt lint clean

## Build optgate (release) and run the default policy on the bundled sample.
sample:
	$(CARGO) build --release -p optgate-cli
	./target/release/optgate run --config sample-data/config.toml --out $(OUT) --overwrite
	@echo "manifest: $(OUT)/manifest.json"

## Run every test (unit, integration against the oracle, doc tests).
test:
	$(CARGO) test --workspace --exclude optgate-benches

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
