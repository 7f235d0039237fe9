#!/usr/bin/env bash
# `homeostat graph` for all 128 observables: a week of synthetic history (every slot of
# every observable, all of it recorded: the most a chart draws) is replayed into a fresh state, then `graph`
# writes 128 CSVs, 128 SVGs and index.html. Prints wall time and peak RSS (GNU time's
# "Maximum resident set size") with the CPU, against the targets: under 1 s, under 32 MiB.
#
#   bash ci/bench-graph.sh          (STRICT=1: exit 1 when over a target)
#   HOMEOSTAT_BIN=PATH              use this binary (default: the release build)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${HOMEOSTAT_BIN:-} ]]; then
  bin=$(cd "$(dirname "$HOMEOSTAT_BIN")" && pwd -P)/$(basename "$HOMEOSTAT_BIN")
else
  cargo build --release -q -p homeostat --manifest-path "$root/Cargo.toml"
  bin=$root/target/release/homeostat
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-graph.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# The 43 built-in observables and 85 named ones: all 128 ids.
python3 - "$scratch/week.csv" <<'PY'
import math, sys
builtin = ["users", "rootprocs", "otherprocs", "diskfree", "loadavg"]
for s in ["netbiosns", "netbiosdgm", "netbiosssn", "irc", "cfengine", "nfsd", "smtp", "www",
          "ftp", "ssh", "telnet", "wwws", "icmp", "dns", "udp", "tcpsyn", "tcpack", "tcpfin",
          "tcpmisc"]:
    builtin += [s + "_in", s + "_out"]
names = builtin + [f"probe_{i:03}" for i in range(128 - len(builtin))]
assert len(names) == 128
t0 = 1704067200  # Monday 2024-01-01 00:00 UTC
with open(sys.argv[1], "w") as f:
    for k in range(2016):
        t = t0 + 300 * k
        day = math.sin(2 * math.pi * (k % 288) / 288)
        for i, n in enumerate(names):
            f.write(f"{t},{n},{10 + i + 5 * day + (k * 31 + i * 7) % 5:.2f}\n")
PY
"$bin" --state-dir "$scratch/state" --json replay "$scratch/week.csv" > /dev/null
/usr/bin/time -v "$bin" --state-dir "$scratch/state" graph --out "$scratch/out" \
  > /dev/null 2> "$scratch/time"
svgs=$(find "$scratch/out" -name '*.svg' | wc -l)
csvs=$(find "$scratch/out" -name '*.csv' | wc -l)
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$scratch/time")
kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$scratch/time")
cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$scratch/time")
bytes=$(du -sb "$scratch/out" | cut -f1)
printf 'cpu: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf 'graph: %s SVGs, %s CSVs, index.html; %.1f MiB written\n' "$svgs" "$csvs" "$(bc -l <<<"$bytes/1048576")"
printf 'graph: %.2f s wall (target < 1 s; %.2f s CPU), peak RSS %.2f MiB (target < 32 MiB)\n' \
  "$wall" "$cpu" "$(bc -l <<<"$kib/1024")"
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
ok=1
[[ $svgs -eq 128 && $csvs -eq 128 && -s $scratch/out/index.html ]] || ok=0
(( $(bc -l <<<"$wall < 1") )) || ok=0
(( kib < 32 * 1024 )) || ok=0
if [[ $ok -eq 1 ]]; then echo "graph: within targets"; else echo "graph: OVER a target"; fi
if [[ ${STRICT:-0} == 1 && $ok -eq 0 ]]; then exit 1; fi
