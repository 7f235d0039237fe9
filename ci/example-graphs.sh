#!/usr/bin/env bash
# Makes the two example charts in docs/ (shown in the README) from a replayed synthetic
# month: www_in with business hours, and in the last week a Tuesday spike and a Friday
# outage; ssh_failed, a nightly batch and a Saturday brute force, with error bars.
# Deterministic; the host name in the titles is written `example`.
#
#   bash ci/example-graphs.sh          (HOMEOSTAT_BIN=PATH: use this binary)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${HOMEOSTAT_BIN:-} ]]; then
  bin=$(cd "$(dirname "$HOMEOSTAT_BIN")" && pwd -P)/$(basename "$HOMEOSTAT_BIN")
else
  cargo build --release -q -p homeostat --manifest-path "$root/Cargo.toml"
  bin=$root/target/release/homeostat
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-examples.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
python3 - "$scratch/month.csv" <<'PY'
import sys
t0 = 1704067200  # Monday 2024-01-01 00:00 UTC
x = 12345
def noise():
    global x
    x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF; x ^= x >> 7; x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
    return (x % 601) / 100 - 3
with open(sys.argv[1], "w") as f:
    for k in range(28 * 576):
        t = t0 + 150 * k
        day, sec = (t - t0) // 86400 % 7, (t - t0) % 86400
        busy = day < 5 and 9 * 3600 <= sec < 17 * 3600
        www = (80 if busy else 20) + noise()
        ssh = 6 if 2 * 3600 <= sec < 3 * 3600 else (1 if k % 7 == 0 else 0)
        if k >= 21 * 576:  # the last week: a spike, an outage, a brute force
            if day == 1 and 14 * 3600 <= sec < 14 * 3600 + 900: www = 260
            if day == 4 and 10 * 3600 <= sec < 12 * 3600: www = 2
            if day == 5 and 22 * 3600 <= sec: ssh = 40
        f.write(f"{t},www_in,{www:.2f}\n{t},ssh_failed,{ssh}\n")
PY
"$bin" --state-dir "$scratch/state" --json replay "$scratch/month.csv" > /dev/null
"$bin" --state-dir "$scratch/state" graph --out "$scratch/band" --obs www_in > /dev/null
"$bin" --state-dir "$scratch/state" graph --out "$scratch/bars" --obs ssh_failed --bars > /dev/null
host=$(hostname)
sed "s/^\([a-z_]*\) on $host\$/\1 on example/" "$scratch/band/www_in.svg" > "$root/docs/graph-www_in.svg"
sed "s/^\([a-z_]*\) on $host\$/\1 on example/" "$scratch/bars/ssh_failed.svg" > "$root/docs/graph-ssh_failed.svg"
ls -l "$root/docs/graph-www_in.svg" "$root/docs/graph-ssh_failed.svg"
