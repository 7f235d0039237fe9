#!/usr/bin/env bash
# ci/bench-serve.sh [N]
#
# `homeostat serve` streaming a real database to many peers at once, on loopback:
#   * a tree of N empty files with long names (default 200000: a database of ~50 MB),
#     made once with python3 and reused while DIR.done records the same N;
#   * `homeostat init` on it (signed with a fresh key), then `homeostat serve`;
#   * ROUNDS rounds of CLIENTS concurrent `curl` fetches of /v1/files.db, each copy
#     compared byte for byte with the database on disk (`cmp`, streamed: no copies kept);
#   * aggregate throughput per round (CLIENTS x size / wall time), and the server's peak
#     RSS (VmHWM from /proc/PID/status, read before it is stopped). Target: < 32 MiB.
#
# Environment:
#   CLIENTS=20  concurrent fetches per round
#   ROUNDS=3    rounds (throughput: each round and the median)
#   HOMEOSTAT=  use this binary instead of `cargo build --release -p homeostat`
#   DIR=        the tree (default ${TMPDIR:-/var/tmp}/homeostat-bench/serve-N)
#   KEEP=0      1: keep the scratch directory (config, state, server log)
#
# Not run by ci/test.sh. Needs python3, curl, cmp. Loopback only.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/.." && pwd -P)
TMPBASE=${TMPDIR:-/var/tmp}
N=${1:-200000}
CLIENTS=${CLIENTS:-20}
ROUNDS=${ROUNDS:-3}
KEEP=${KEEP:-0}
DIR=${DIR:-$TMPBASE/homeostat-bench/serve-$N}

die() { echo "bench-serve: error: $*" >&2; exit 1; }
log() { printf 'bench-serve: %s\n' "$*" >&2; }

[[ $N =~ ^[0-9]+$ && $N -ge 100 ]] || die "N must be an integer >= 100 (got '$N')"
[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "CLIENTS must be a positive integer"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
for c in python3 curl cmp; do command -v "$c" > /dev/null || die "$c is needed"; done

SCRATCH=$(mktemp -d "$TMPBASE/homeostat-bench-serve.XXXXXX")
SERVER=
cleanup() {
  [[ -n $SERVER ]] && kill "$SERVER" 2> /dev/null && wait "$SERVER" 2> /dev/null
  if [[ $KEEP == 1 ]]; then log "scratch kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ binary
if [[ -n ${HOMEOSTAT:-} ]]; then
  HS=$HOMEOSTAT
else
  log "cargo build --release -p homeostat"
  (cd "$ROOT" && cargo build --release -p homeostat --quiet) || die "build failed"
  HS=$ROOT/target/release/homeostat
fi
[[ -x $HS ]] || die "no binary at $HS"

# ------------------------------------------------------------------ tree
# 1000 files a directory; names of ~200 bytes so that each record is ~270 bytes. The
# marker records N and the generator's version.
MARK="$N names-v2"
if [[ ! -f $DIR.done || $(cat "$DIR.done") != "$MARK" ]]; then
  log "making $N files in $DIR"
  rm -rf "$DIR" "$DIR.done"
  mkdir -p "$DIR"
  python3 - "$DIR" "$N" << 'EOF'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
pad = "long-name-for-a-database-that-is-worth-serving-" * 4
for i in range(n):
    d = os.path.join(top, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.mkdir(d)
    os.close(os.open(os.path.join(d, "f%07d-%s" % (i, pad)), os.O_CREAT | os.O_WRONLY, 0o644))
EOF
  echo "$MARK" > "$DIR.done"
fi

# ------------------------------------------------------------------ database
STATE=$SCRATCH/state
mkdir -p "$STATE"
"$HS" keygen --out "$SCRATCH/db.key" > /dev/null
cat > "$SCRATCH/homeostat.toml" << EOF
[database]
key = "$SCRATCH/db.key"

[[files]]
path = "$DIR"
hash = "sha256"
attrs = "all"

[peers]
listen = "127.0.0.1:0"
allow = ["127.0.0.1"]
max_connections = 64
EOF
log "homeostat init"
"$HS" --config "$SCRATCH/homeostat.toml" --state-dir "$STATE" init > /dev/null
DB=$STATE/files.db
SIZE=$(stat -c %s "$DB")
cat "$DB" > /dev/null # warm: the server reads it from the page cache

# ------------------------------------------------------------------ server
"$HS" --config "$SCRATCH/homeostat.toml" --state-dir "$STATE" serve 2> "$SCRATCH/serve.log" &
SERVER=$!
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's/^homeostat: serving on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$SCRATCH/serve.log")
  [[ -n $PORT ]] && break
  sleep 0.1
done
[[ -n $PORT ]] || die "the server did not start: $(cat "$SCRATCH/serve.log")"
URL=http://127.0.0.1:$PORT/v1/files.db
RSS_IDLE=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status")

# ------------------------------------------------------------------ rounds
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
now() { date +%s.%N; }
RATES=()
for r in $(seq "$ROUNDS"); do
  pids=()
  t0=$(now)
  for c in $(seq "$CLIENTS"); do
    (curl -sf "$URL" | cmp -s - "$DB") &
    pids+=($!)
  done
  bad=0
  for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
  t1=$(now)
  [[ $bad -eq 0 ]] || die "round $r: $bad of $CLIENTS copies differ from the database"
  rate=$(python3 -c "print(f'{$CLIENTS * $SIZE / 1e6 / ($t1 - $t0):.0f}')")
  RATES+=("$rate")
  log "round $r: $CLIENTS copies identical, $(python3 -c "print(f'{$t1 - $t0:.2f}')") s, $rate MB/s"
done
HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status")
kill "$SERVER"
wait "$SERVER" 2> /dev/null || true
SERVER=

MEDIAN=$(printf '%s\n' "${RATES[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "cpu: $CPU ($(nproc) cores), load before: $LOAD"
echo "database: $SIZE bytes ($(python3 -c "print(f'{$SIZE / 1e6:.1f}')") MB), $N files"
echo "throughput: ${RATES[*]} MB/s aggregate over $CLIENTS concurrent clients (median $MEDIAN MB/s)"
echo "server RSS: idle $(python3 -c "print(f'{$RSS_IDLE / 1024:.1f}')") MiB, peak $(python3 -c "print(f'{$HWM / 1024:.1f}')") MiB (target < 32 MiB)"
