# Isengard developer entry points. `make run` starts one node, `make test` runs
# every test. Both use the release profile and one shared target directory, so
# RocksDB's C++ is compiled once.

CARGO_TARGET_DIR ?= $(HOME)/.cache/isengard/target
export CARGO_TARGET_DIR
CARGO ?= cargo
CONFIG ?= scripts/dev-config.json
# Must match "StorageDirectory" in $(CONFIG).
DATA_DIR ?= ./isengard-data

.PHONY: help deps build run test orthanc-suite bench clean-data

help:
	@echo "make run         install missing deps, build, start one node with $(CONFIG)"
	@echo "make test        install missing deps, run every test (release profile), then Orthanc's suite"
	@echo "make orthanc-suite  Orthanc's integration suite against isengard (floor in .ci/orthanc-suite-floor)"
	@echo "make build       build the isengard binary (release)"
	@echo "make bench       side-by-side benchmarks against Orthanc (docs/benchmarks.md)"
	@echo "make clean-data  delete $(DATA_DIR), the data of make run"

deps:
	@bash scripts/install-deps.sh

build:
	$(CARGO) build --release --bin isengard

run: deps build
	$(CARGO_TARGET_DIR)/release/isengard $(CONFIG)

test: deps
	@bash scripts/test.sh
	@bash scripts/orthanc-suite.sh

orthanc-suite: deps
	@bash scripts/orthanc-suite.sh

# Side-by-side run against the reference Orthanc; writes docs/benchmarks.md.
# BENCH_ARGS=--scale small (or tiny) for a shorter run; --help lists options.
BENCH_ARGS ?= --scale full
bench: deps
	$(CARGO) build --release -p isengard -p isengard-benches --bins
	$(CARGO_TARGET_DIR)/release/isengard-benches $(BENCH_ARGS)

clean-data:
	rm -rf -- $(DATA_DIR)
