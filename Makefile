# One task runner for local work, CI (.ci/run) and the image build.
CARGO ?= cargo

.PHONY: run test bench lint fmt build proto deploy-check fuzz

## run: the server on the embedded SQLite store in ./data (gRPC on 0.0.0.0:9100)
run:
	$(CARGO) run --release -p engram-server -- serve

## test: every test suite (unit, store conformance, end to end through the real binary)
test:
	bash scripts/test.sh

## bench: the load generator and the physical limits: SQLite and PostgreSQL (1 and 2 replicas) at 10^5 and 10^6, and a PostgreSQL load without ANALYZE; prints the target table (about 30 minutes on 2 cores; bench/README.md)
bench:
	bash bench/run.sh

## soak: mixed gRPC/REST load with kill -9 every SOAK_KILL_EVERY s (300), SOAK_MINUTES (30) in all split between SQLite and PostgreSQL with 2 replicas; fails on a lost acknowledged write, a failed request (5xx, INTERNAL...) outside the restart windows or RssAnon growth; builds release binaries (OPERATIONS.md "Soak")
.PHONY: soak
soak:
	bash scripts/soak.sh

## fuzz: build the fuzz targets (fuzz/, cargo-fuzz on stable, installed if missing) and run each for FUZZ_SECONDS (60) seconds; a crash fails and leaves its input in fuzz/artifacts/ (OPERATIONS.md "Fuzzing")
fuzz:
	bash scripts/fuzz.sh

## deploy-check: render deploy/ overlays and validate them against the Kubernetes schemas (part of test)
deploy-check:
	bash scripts/k8s-validate.sh

## ts-client: generate TypeScript from proto/ (ts-proto, pinned in clients/typescript), type-check it and run its smoke test against target/debug/engram, or ENGRAM_BIN (part of test)
.PHONY: ts-client
ts-client:
	bash scripts/ts-client.sh

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/module-cycles.py crates/*/

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --release -p engram-server

## proto: regenerate the engram.v1 code (the build does this when a .proto changes)
proto:
	touch crates/proto/build.rs && $(CARGO) build -p engram-proto

## py-client: regenerate the Python client's gRPC stubs (clients/python/src/engram/v1) from proto/ (grpcio-tools, pinned in clients/python/requirements-gen.txt); test runs `scripts/py-client.sh check`
.PHONY: py-client
py-client:
	bash scripts/py-client.sh gen
