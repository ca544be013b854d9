#!/usr/bin/env bash
# Runs Orthanc's own integration suite (../shared/orthanc-tests, tag
# Orthanc-1.10.0) against the release `isengard` binary, prints its summary
# and per-group table, and fails when fewer tests pass than the floor kept in
# .ci/orthanc-suite-floor (raise it with every change that raises the score).
#
# Environment: ORTHANC_TESTS (the suite's folder), CARGO_TARGET_DIR, and
# run.sh's own (TESTS="Orthanc.test_upload ..." for a subset: the floor is
# then not checked).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

suite="${ORTHANC_TESTS:-$(pwd)/../shared/orthanc-tests}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/isengard/target}"
floor_file=.ci/orthanc-suite-floor
if [ ! -x "$suite/run.sh" ]; then
  echo "orthanc-suite: Orthanc's integration suite is not at $suite (set ORTHANC_TESTS)" >&2
  exit 1
fi
cargo build --release --bin isengard || exit 1

run_dir="$target/orthanc-suite"
rm -rf "$run_dir"
mkdir -p "$run_dir"
RUN_DIR="$run_dir" SERVER_BIN="$target/release/isengard" \
  "$suite/run.sh" Orthanc-1.10.0 > "$run_dir/run-output.txt" 2>&1
status=$?
# The per-group table and the comparison with the reference come before the
# summary line; the per-test noise goes to files in $run_dir.
sed -n '/^group/,$p' "$run_dir/run-output.txt" | grep -v '^orthanc-tests '
summary=$(tail -n 1 "$run_dir/summary.txt" 2>/dev/null || tail -n 1 "$run_dir/run-output.txt")
echo "$summary"
echo "orthanc-suite: results in $run_dir (results.tsv, failures.txt, regressions.txt, server.log)"
if [ "$status" -ne 0 ]; then
  echo "orthanc-suite: run.sh exited with status $status" >&2
  exit 1
fi
passed=$(sed -n 's/.*: \([0-9][0-9]*\) passed,.*/\1/p' <<<"$summary")
if [ -n "${TESTS:-}" ]; then
  echo "orthanc-suite: a subset ran (TESTS); the floor is not checked"
  exit 0
fi
floor=$(tr -dc '0-9' < "$floor_file")
if [ -z "$passed" ] || [ "$passed" -lt "$floor" ]; then
  echo "orthanc-suite: ${passed:-no} tests passed, below the floor of $floor ($floor_file)" >&2
  exit 1
fi
echo "orthanc-suite: $passed passed, floor $floor"
