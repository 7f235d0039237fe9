#!/usr/bin/env bash
# The long run of the reliability tests (not part of ci/test.sh, which runs the same
# loops short): the fault loops with hundreds of kill -9 each, every property test
# (`prop_*`) with many cases, and the tests marked #[ignore] as too heavy for ci/test.sh.
# Prints one line per fault loop (faults injected, data lost, time) and a summary of the
# steps with their elapsed times; exits non-zero when a step failed or ran out of time.
#
# Bounds (environment):
#   SOAK_FAULT_RUNS     kills per fault loop                  (default 300)
#   SOAK_PROPTEST_CASES cases per property test               (default 20000)
#   SOAK_MAX_SECONDS    the whole soak, every step included   (default 14400 = 4 h)
#   SOAK_STEPS          which steps, space-separated          (default "faults props ignored")
#   HOMEOSTAT_FAULT_SEED repeats a run's draws (each loop prints its seed)
# Debug builds, like ci/test.sh: the binary the e2e tests drive is target/debug/homeostat.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=${SOAK_FAULT_RUNS:-300}
cases=${SOAK_PROPTEST_CASES:-20000}
max=${SOAK_MAX_SECONDS:-14400}
steps=${SOAK_STEPS:-faults props ignored}
for v in "$runs" "$cases" "$max"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "soak: not a whole number: $v" >&2; exit 2; }
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-soak.XXXXXX")
report="$logs/fault-loops.txt"
: >"$report"
start=$(date +%s)
summary=()
failed=0

# step NAME CMD…: runs CMD (with the time left of the whole budget) into $logs/NAME.log.
step() {
  local name=$1
  shift
  local now left t0 rc took
  now=$(date +%s)
  left=$((max - (now - start)))
  if ((left <= 0)); then
    summary+=("$(printf '%-8s SKIPPED (SOAK_MAX_SECONDS=%s spent)' "$name" "$max")")
    failed=1
    return
  fi
  printf '\n== %s (at most %d s): %s\n' "$name" "$left" "$*"
  t0=$(date +%s)
  # timeout signals the whole process group: cargo, the test binaries and the homeostat
  # processes they drive.
  timeout --kill-after=30 "$left" "$@" >"$logs/$name.log" 2>&1
  rc=$?
  took=$(($(date +%s) - t0))
  # Tests run, summed over the test binaries (a filter leaves most of them with none).
  local counts
  counts=$(awk '/^test result:/ { b++; p += $4; f += $6 }
    END { if (b) printf "%d passed, %d failed in %d test binaries", p, f, b }' "$logs/$name.log")
  if [[ $counts == "0 passed"* ]]; then
    counts="$counts (no test matched)"
  fi
  [[ -z $counts ]] || printf '  %s\n' "$counts"
  grep -E 'panicked at' "$logs/$name.log" | head -20 | sed 's/^/  /'
  case $rc in
    0) summary+=("$(printf '%-8s ok      %6d s  %s' "$name" "$took" "$counts")") ;;
    124 | 137) summary+=("$(printf '%-8s TIMEOUT %6d s  %s (log %s)' "$name" "$took" "$counts" "$logs/$name.log")"); failed=1 ;;
    *) summary+=("$(printf '%-8s FAILED  %6d s  %s (exit %d, log %s)' "$name" "$took" "$counts" "$rc" "$logs/$name.log")"); failed=1 ;;
  esac
}

export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
step build cargo build -p homeostat --bin homeostat
for s in $steps; do
  case $s in
    faults)
      step faults env HOMEOSTAT_FAULT_RUNS="$runs" HOMEOSTAT_FAULT_REPORT="$report" \
        cargo test -p homeostat-tests --test fault_loops --test fault_loops_peers -- --nocapture
      ;;
    props)
      step props env PROPTEST_CASES="$cases" \
        cargo test --workspace --exclude firmware-demo prop_
      ;;
    ignored)
      step ignored cargo test --workspace --exclude firmware-demo -- --ignored
      ;;
    *) echo "soak: unknown step $s (faults, props, ignored)" >&2; exit 2 ;;
  esac
done

printf '\n== soak summary (%d s in all; SOAK_FAULT_RUNS=%s SOAK_PROPTEST_CASES=%s; logs in %s)\n' \
  "$(($(date +%s) - start))" "$runs" "$cases" "$logs"
sed 's/^/  /' "$report"
printf '  %s\n' "${summary[@]}"
exit $failed
