#!/usr/bin/env bash
# Runs the whole workspace's tests in the one release profile and ends with a
# summary line: "tests: N passed, N failed, N skipped" (skipped = #[ignore]d).
# Every target is built and run, so the criterion benches run once in test mode
# (they cannot rot). Exits with cargo's status. Extra arguments go to `cargo test`.
set -uo pipefail

target="${CARGO_TARGET_DIR:-$HOME/.cache/isengard/target}"
mkdir -p "$target"
log="$target/test-output.log"

cargo test --release --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Every test binary ends with "test result: ok. 18 passed; 0 failed; 0 ignored; ...".
read -r binaries passed failed ignored < <(awk '
  /^test result: / {
    n++
    for (i = 1; i <= NF; i++) {
      if ($(i) ~ /^passed;?$/)  p += $(i-1)
      if ($(i) ~ /^failed;?$/)  f += $(i-1)
      if ($(i) ~ /^ignored;?$/) s += $(i-1)
    }
  }
  END { printf "%d %d %d %d\n", n, p, f, s }' "$log")

echo
if [ "$binaries" -eq 0 ]; then
  echo "tests: none ran (cargo exited with status $status; see $log)"
else
  echo "$binaries test binaries; log in $log"
  echo "tests: $passed passed, $failed failed, $ignored skipped"
fi
exit "$status"
