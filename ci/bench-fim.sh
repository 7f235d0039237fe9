#!/usr/bin/env bash
# ci/bench-fim.sh [N] [DIR]
# ci/bench-fim.sh rss-scaling
#
# Whole-program benchmark of `homeostat init` / `homeostat check` against the peers,
# timed the way ../shared/bench/peers.sh times them (see ../shared/bench/RESULTS.md):
#   * openssl: `find DIR -type f -print0 | xargs -0 -r -P2 -n 256 batch.sh` where each
#     batch runs `openssl dgst -sha256 -r` into its own file -- once as the "init"
#     analogue, once again as the "check" analogue (the list comparison is not timed);
#   * AIDE (if installed): `aide --config=CFG --init` then `aide --config=CFG --check`
#     with num_workers=2, gzip_dbout=no and peers.sh's rule `FIM = ftype+p+u+g+s+m+i+n+l+sha256`
#     (the selection line anchored as `DIR($|/) FIM`, see bench_aide);
#   * homeostat: `homeostat --config CFG --state-dir S init`, then `... check`, with
#       [[files]] path = "DIR", hash = "sha256", attrs = "all"
#     and a fresh scratch state dir per run. `check` must exit 0 on the unchanged tree.
# Warm cache: the whole tree is read (find | xargs cat) before every timed step.
# Wall time from `date +%s.%N` around the command; CPU (user+sys) and peak RSS (largest
# single process, KiB/1024 = MiB, the same figure peers.sh labels "MB") from
# `/usr/bin/time -v`. Every figure is the median of RUNS runs. The load average before the
# runs is printed (with a warning above half the cores): wall-time ratios need an idle machine.
#
# Prints a table and the ratios measured in this run, with the targets beside them:
#   homeostat/openssl <= 0.70 (init), <= 1.0 (check), aide/homeostat >= 5 (init and check),
#   homeostat check peak RSS < 32 MiB.
#
# Floor (same run): F = (kernel CPU of reading every file with `nproc` parallel `cat`
# processes + bytes / the best single-core `openssl speed -evp sha256` rate) / cores: the
# least wall time any tool that reads and SHA-256s every file can take on this machine.
# Printed warm, and cold when root can write /proc/sys/vm/drop_caches (caches dropped
# before each cold `cat` pass and each cold homeostat init; COLD=0 skips it), with
# homeostat init's ratio to it; cold, also init / the cold parallel `cat` wall time.
#
# Mode `rss-scaling`: init (untimed) + check (timed) at N=20000 and N=100000, prints both
# check peak RSS figures and whether RSS(100k) <= 1.2 x RSS(20k) + 4 MiB.
#
# Arguments / environment:
#   N          number of regular files in the tree (default 20000, >= 50)
#   DIR        tree directory (default ${TMPDIR:-/var/tmp}/homeostat-bench/t$N). Made with
#              ../shared/bench/mktree.sh DIR N 1 unless it exists and is complete (marker
#              file DIR.mktree-done next to it). A stale/incomplete default tree is remade;
#              a stale/incomplete tree given on the command line is an error.
#   RUNS=3     repetitions; medians are reported
#   STRICT=0   1: exit 1 if a target is missed or could not be measured
#   PAR=2      xargs parallelism for the openssl pass and for the cache warm-up;
#              AIDE num_workers (as peers.sh's aide-w2)
#   AIDE=      `install`: apt-get install -y aide first if it is missing
#   HOMEOSTAT= use this binary instead of building (default: cargo build --release -p homeostat)
#   KERNELS=   extra homeostat rows, each init+check with HOMEOSTAT_SHA256_KERNEL=K
#              (avx512x16 shanix2 avx2x8 one): other CPUs' kernels compared in one run
#   COLD=1     0: no cold-cache measurement even as root
#   KEEP=0     1: keep the scratch directory (configs, state dirs, outputs) for inspection
#
# Writes nothing outside the tree, its marker and a scratch dir under ${TMPDIR:-/var/tmp}
# (removed on exit). Runs from any cwd. Run as root for the tree's chown'd files and so
# that every file of the tree can be read.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/.." && pwd -P)
SHARED=$ROOT/../shared
MKTREE=$SHARED/bench/mktree.sh
TMPBASE=${TMPDIR:-/var/tmp}
RUNS=${RUNS:-3}
STRICT=${STRICT:-0}
PAR=${PAR:-2}
KEEP=${KEEP:-0}
KERNELS=${KERNELS:-}
COLD=${COLD:-1}
SEED=1

die() { echo "bench-fim: error: $*" >&2; exit 1; }
log() { printf 'bench-fim: %s\n' "$*" >&2; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ $PAR =~ ^[1-9][0-9]*$ ]] || die "PAR must be a positive integer (got '$PAR')"

MODE=bench
N=20000
DIR=
if [[ ${1:-} == rss-scaling ]]; then
  MODE=rss-scaling
  [[ $# -eq 1 ]] || die "usage: $0 rss-scaling"
else
  [[ $# -le 2 ]] || die "usage: $0 [N] [DIR] | $0 rss-scaling"
  N=${1:-20000}
  DIR=${2:-}
  [[ $N =~ ^[0-9]+$ && $N -ge 50 ]] || die "N must be an integer >= 50 (got '$N')"
fi

# ------------------------------------------------------------------ scratch + cleanup
mkdir -p "$TMPBASE"
SCRATCH=$(mktemp -d "$TMPBASE/homeostat-bench-fim.XXXXXX")
cleanup() {
  if [[ $KEEP == 1 ]]; then
    log "scratch kept: $SCRATCH"
  else
    rm -rf "$SCRATCH"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools
have_cmd() { # an executable regular file on PATH (bash's `command -v` also returns non-executable ones)
  local p; p=$(command -v "$1" 2> /dev/null) && [[ -f $p && -x $p ]]
}

HAVE_TIME=1
ensure_time() {
  [[ -f /usr/bin/time && -x /usr/bin/time ]] && return 0
  if [[ $(id -u) -eq 0 ]] && have_cmd apt-get; then
    log "/usr/bin/time missing: apt-get install -y time"
    apt-get install -y time > "$SCRATCH/apt-time.log" 2>&1 \
      || { apt-get update > /dev/null 2>&1 && apt-get install -y time >> "$SCRATCH/apt-time.log" 2>&1; } \
      || log "apt-get install time failed (see above)"
  fi
  if [[ ! -f /usr/bin/time || ! -x /usr/bin/time ]]; then
    HAVE_TIME=0
    log "WARNING: /usr/bin/time is not available (not root, or install failed):" \
        "measuring wall time only; CPU and peak RSS are reported as '-'"
  fi
}

HAVE_AIDE=1
ensure_aide() {
  if ! have_cmd aide && [[ ${AIDE:-} == install ]]; then
    if [[ $(id -u) -eq 0 ]] && have_cmd apt-get; then
      log "AIDE=install: apt-get install -y aide"
      apt-get install -y aide > "$SCRATCH/apt-aide.log" 2>&1 \
        || { apt-get update > /dev/null 2>&1 && apt-get install -y aide >> "$SCRATCH/apt-aide.log" 2>&1; } \
        || log "apt-get install aide failed"
    else
      log "AIDE=install: cannot install (need root and apt-get)"
    fi
  fi
  if ! have_cmd aide; then
    HAVE_AIDE=0
    echo "aide: not installed, skipped"
  fi
}

have_cmd python3 || die "python3 is needed by $MKTREE"
have_cmd bc || die "bc is needed"
have_cmd openssl || die "openssl is needed"
[[ -x $MKTREE || -f $MKTREE ]] || die "tree generator not found: $MKTREE (../shared beside the repo root)"

HS=
build_homeostat() {
  if [[ -n ${HOMEOSTAT:-} ]]; then
    HS=$(cd "$(dirname "$HOMEOSTAT")" && pwd -P)/$(basename "$HOMEOSTAT")
    [[ -x $HS ]] || die "HOMEOSTAT=$HOMEOSTAT is not executable"
    log "using HOMEOSTAT=$HS (not building)"
    return
  fi
  log "cargo build --release -p homeostat"
  local msgs=$SCRATCH/cargo-messages.json
  if ! (cd "$ROOT" && cargo build --release -p homeostat --message-format=json-render-diagnostics) > "$msgs"; then
    die "cargo build --release -p homeostat failed"
  fi
  # the path of the built executable, whatever CARGO_TARGET_DIR is
  HS=$(grep -o '"executable":"[^"]*/homeostat"' "$msgs" | tail -n 1 | sed 's/^"executable":"//; s/"$//')
  [[ -n $HS && -x $HS ]] || die "could not find the homeostat executable in cargo's output"
  log "binary: $HS"
}

# ------------------------------------------------------------------ tree
mktree_sig() { echo "N=$1 SEED=$SEED mktree-sha256=$(sha256sum < "$MKTREE" | cut -d' ' -f1)"; }

check_path() { # the tree path goes into TOML and AIDE config lines unquoted-safe only
  case $1 in *[[:space:]]*|*\"*|*\'*|*\\*|*'$'*|*'#'*|*'@'*)
    die "DIR path must not contain spaces, quotes, backslashes, \$, # or @ (config syntaxes): $1";; esac
}

# prepare_tree N DIR_OR_EMPTY -> sets TREE (absolute, physical)
prepare_tree() {
  local n=$1 d=$2 is_default=0
  if [[ -z $d ]]; then d=$TMPBASE/homeostat-bench/t$n; is_default=1; fi
  check_path "$d"
  mkdir -p "$(dirname "$d")"
  d=$(cd "$(dirname "$d")" && pwd -P)/$(basename "$d")
  check_path "$d"
  local marker=$d.mktree-done sig
  sig=$(mktree_sig "$n")
  if [[ -d $d && -f $marker && $(cat "$marker") == "$sig" ]]; then
    log "reusing tree $d ($sig)"
  else
    if [[ -e $d ]] && [[ ! -d $d || -n $(ls -A "$d" 2>/dev/null) ]]; then
      if [[ $is_default == 1 ]]; then
        log "removing incomplete or stale tree $d"
        rm -rf "$d"
      else
        die "$d exists but has no matching marker $marker ($sig): remove it or pass another DIR"
      fi
    fi
    rm -f "$marker"
    log "making tree: $MKTREE $d $n $SEED"
    local t0 t1; t0=$(date +%s.%N)
    bash "$MKTREE" "$d" "$n" "$SEED" || die "mktree.sh failed"
    t1=$(date +%s.%N)
    printf '%s\n' "$sig" > "$marker"
    log "tree made in $(printf '%.1f' "$(echo "$t1 - $t0" | bc -l)") s"
  fi
  TREE=$d
}

warm_cache() { # read every regular file of the tree (as peers.sh CACHE=warm)
  find "$1" -type f -print0 | xargs -0 -r -P"$PAR" -n 512 cat > /dev/null 2>&1 || true
}

# ------------------------------------------------------------------ timing
CMDLOG=$SCRATCH/commands.txt
: > "$CMDLOG"
# timed LABEL OUTFILE -- CMD...   -> sets T_WALL T_CPU T_RSS T_RC
timed() {
  local label=$1 out=$2; shift 3
  local tv=$SCRATCH/time-$label.txt t0 t1
  { printf '%s:' "$label"; printf ' %q' "$@"; echo; } >> "$CMDLOG"
  T_RC=0
  if [[ $HAVE_TIME == 1 ]]; then
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$tv" "$@" > "$out" 2>&1 || T_RC=$?
    t1=$(date +%s.%N)
    local u s ex
    u=$(awk -F': ' '/User time/{print $2}' "$tv")
    s=$(awk -F': ' '/System time/{print $2}' "$tv")
    T_CPU=$(echo "${u:-0} + ${s:-0}" | bc -l)
    T_SYS=${s:-0}
    T_RSS=$(awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$tv")
    [[ -n $T_RSS ]] || T_RSS=-
    ex=$(awk -F': ' '/Exit status/{print $2}' "$tv")
    [[ -n $ex && $T_RC -lt 128 ]] && T_RC=$ex
  else
    t0=$(date +%s.%N)
    "$@" > "$out" 2>&1 || T_RC=$?
    t1=$(date +%s.%N)
    T_CPU=- T_RSS=- T_SYS=-
  fi
  T_WALL=$(echo "$t1 - $t0" | bc -l)
}

median() { # prints "-" if any value is "-" or there are none
  local v; for v in "$@"; do [[ $v == - ]] && { echo -; return; }; done
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if(NR==0){print "-"} else if(NR%2){print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2} }'
}
fmt() { [[ $1 == - ]] && echo - || printf '%.2f' "$1"; }
ratio() { # ratio A B -> A/B with 2 decimals, "-" if unknown
  [[ $1 == - || $2 == - ]] && { echo -; return; }
  awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) print "-"; else printf "%.2f", a / b }'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a <= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a < b) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a >= b) }'; }

show_tail() { # show_tail FILE: the end of a failed step's output
  echo "---- last lines of $1 ----" >&2
  tail -n 30 "$1" >&2 || true
  echo "----" >&2
}

# timed_pass TREE NAME PHASE RUN OUTFILE -- CMD...: warms TREE's cache, times CMD (see
# timed; the label is NAME-PHASE, spaces as dashes) and adds its wall time, CPU time and
# peak RSS to the calling bench_*'s init (iw ic ir) or check (cw cc cr) samples.
timed_pass() {
  local tree=$1 name=$2 phase=$3 run=$4 out=$5; shift 5
  warm_cache "$tree"
  log "$name run $run/$RUNS: $phase"
  timed "${name// /-}-$phase" "$out" "$@"
  case $phase in
    init) iw+=("$T_WALL"); ic+=("$T_CPU"); ir+=("$T_RSS") ;;
    check) cw+=("$T_WALL"); cc+=("$T_CPU"); cr+=("$T_RSS") ;;
    *) die "timed_pass: phase $phase" ;;
  esac
}

# medians PREFIX: sets PREFIX_IW PREFIX_CW PREFIX_IC PREFIX_CC PREFIX_IR PREFIX_CR to the
# medians of the calling bench_*'s samples.
medians() {
  printf -v "$1_IW" '%s' "$(median "${iw[@]}")"; printf -v "$1_CW" '%s' "$(median "${cw[@]}")"
  printf -v "$1_IC" '%s' "$(median "${ic[@]}")"; printf -v "$1_CC" '%s' "$(median "${cc[@]}")"
  printf -v "$1_IR" '%s' "$(median "${ir[@]}")"; printf -v "$1_CR" '%s' "$(median "${cr[@]}")"
}

# ------------------------------------------------------------------ homeostat
hs_config() { # hs_config TREE CFG
  cat > "$2" <<EOF
[[files]]
path = "$1"
hash = "sha256"
attrs = "all"
EOF
}

# Untimed guard against a binary that exits 0 without doing the work (a stub would
# otherwise "win"): on a tiny tree, init must write a file database (magic HMSTDB),
# check must exit 0 unchanged and report a content change (bit 4) after one.
hs_sanity() {
  local d=$SCRATCH/sanity t=$SCRATCH/sanity/tree s=$SCRATCH/sanity/state rc=0
  mkdir -p "$t/sub" "$s"
  printf 'alpha\n' > "$t/a.conf"; printf 'beta\n' > "$t/sub/b.txt"; : > "$t/empty"
  hs_config "$t" "$d/config.toml"
  "$HS" --config "$d/config.toml" --state-dir "$s" init > "$d/init.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || { show_tail "$d/init.out"; die "sanity: homeostat init exited $rc on a 3-file tree"; }
  local f found=0
  while IFS= read -r -d '' f; do
    [[ $(head -c 6 "$f") == HMSTDB ]] && { found=1; break; }
  done < <(find "$s" -type f -print0)
  [[ $found == 1 ]] || die "sanity: homeostat init exited 0 but wrote no file database (magic HMSTDB) into --state-dir"
  "$HS" --config "$d/config.toml" --state-dir "$s" check > "$d/check0.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || { show_tail "$d/check0.out"; die "sanity: homeostat check exited $rc on an unchanged 3-file tree (expected 0)"; }
  printf 'changed\n' >> "$t/a.conf"
  "$HS" --config "$d/config.toml" --state-dir "$s" check > "$d/check1.out" 2>&1 || rc=$?
  (( rc < 16 && (rc & 4) )) || { show_tail "$d/check1.out"; die "sanity: homeostat check exited $rc after a content change (expected bit 4 set, < 16)"; }
  log "sanity ok: init writes a database, check is 0 unchanged and $rc after a change"
}

# bench_homeostat TREE TAG [check-only-timing] -> HS_IW HS_CW HS_IC HS_CC HS_IR HS_CR (medians)
# HS_PRE: words before the binary (env HOMEOSTAT_SHA256_KERNEL=K for KERNELS rows)
HS_PRE=()
bench_homeostat() {
  local tree=$1 tag=$2 time_init=${3:-1} r
  local cfg=$SCRATCH/homeostat-$tag.toml
  local -a iw=() cw=() ic=() cc=() ir=() cr=()
  hs_config "$tree" "$cfg"
  for ((r = 1; r <= RUNS; r++)); do
    local st=$SCRATCH/state-$tag
    rm -rf "$st"; mkdir -p "$st"
    if [[ $time_init == 1 ]]; then
      timed_pass "$tree" "homeostat $tag" init "$r" "$SCRATCH/homeostat-$tag-init.out" -- "${HS_PRE[@]}" "$HS" --config "$cfg" --state-dir "$st" init
    else
      log "homeostat $tag run $r/$RUNS: init (not timed)"
      T_RC=0; "${HS_PRE[@]}" "$HS" --config "$cfg" --state-dir "$st" init > "$SCRATCH/homeostat-$tag-init.out" 2>&1 || T_RC=$?
    fi
    if [[ $T_RC != 0 ]]; then
      show_tail "$SCRATCH/homeostat-$tag-init.out"
      die "homeostat init exited $T_RC on $tree"
    fi
    timed_pass "$tree" "homeostat $tag" check "$r" "$SCRATCH/homeostat-$tag-check.out" -- "${HS_PRE[@]}" "$HS" --config "$cfg" --state-dir "$st" check
    if [[ $T_RC != 0 ]]; then
      show_tail "$SCRATCH/homeostat-$tag-check.out"
      die "homeostat check exited $T_RC on the unchanged tree $tree (expected 0)"
    fi
    log "  homeostat: init $([[ $time_init == 1 ]] && echo "$(fmt "${iw[-1]}") s" || echo untimed), check $(fmt "${cw[-1]}") s, peak RSS check $(fmt "${cr[-1]}") MiB"
    rm -rf "$st"
  done
  medians HS
}

# ------------------------------------------------------------------ openssl (peers.sh recipe)
bench_openssl() {
  local tree=$1 r S=$SCRATCH/openssl
  local -a iw=() cw=() ic=() cc=() ir=() cr=()
  mkdir -p "$S"
  # one output file per xargs batch: concurrent stdio writers to one file split lines
  cat > "$S/batch.sh" <<'EOF'
#!/bin/sh
p=$1; shift
t=$(mktemp "$p.part.XXXXXX") || exit 1
exec openssl dgst -sha256 -r "$@" > "$t"
EOF
  chmod 755 "$S/batch.sh"
  # shellcheck disable=SC2016  # expanded by the inner bash, as in peers.sh
  local script='find "$1" -type f -print0 | xargs -0 -r -P"$2" -n 256 "$3/batch.sh" "$4"; rc=$?; cat "$4".part.* > "$4"; rm -f "$4".part.*; exit $rc'
  OSSL_VERDICT=clean
  for ((r = 1; r <= RUNS; r++)); do
    rm -f "$S"/list.*
    timed_pass "$tree" openssl init "$r" "$S/init.out" -- bash -c "$script" _ "$tree" "$PAR" "$S" "$S/list.init"
    local irc=$T_RC
    timed_pass "$tree" openssl check "$r" "$S/check.out" -- bash -c "$script" _ "$tree" "$PAR" "$S" "$S/list.check"
    if [[ $irc != 0 || $T_RC != 0 ]] || ! cmp -s <(sort "$S/list.init") <(sort "$S/list.check"); then
      OSSL_VERDICT="rc=$irc/$T_RC or lists differ"
      show_tail "$S/check.out"
      log "WARNING: openssl pass not clean: $OSSL_VERDICT"
    fi
    log "  openssl: init $(fmt "${iw[-1]}") s, check $(fmt "${cw[-1]}") s"
  done
  medians OS
}

# ------------------------------------------------------------------ AIDE (peers.sh recipe, aide-w2)
# One deliberate difference from peers.sh: the rule line is anchored, `DIR($|/) FIM`.
# AIDE rules are regexes matched as prefixes, so peers.sh's bare `DIR FIM` for .../t2000
# also selects a sibling .../t20000 (and the DIR.mktree-done marker); anchored, AIDE
# sees exactly the tree. For trees without such a sibling the two select the same entries.
aide_escape() { # AIDE rule paths are regexes; escape metacharacters
  printf '%s' "$1" | sed -e 's/[][\\.^$*+?(){}|]/\\&/g'
}
bench_aide() {
  local tree=$1 r S=$SCRATCH/aide
  local -a iw=() cw=() ic=() cc=() ir=() cr=()
  mkdir -p "$S"
  cat > "$S/aide.conf" <<EOF
database_in=file:$S/aide.db
database_out=file:$S/aide.db.new
gzip_dbout=no
num_workers=$PAR
log_level=warning
database_attrs=sha256
report_level=changed_attributes
report_url=file:$S/report.txt
FIM = ftype+p+u+g+s+m+i+n+l+sha256
$(aide_escape "$tree")(\$|/) FIM
EOF
  AIDE_VERDICT=clean
  for ((r = 1; r <= RUNS; r++)); do
    rm -f "$S/aide.db" "$S/aide.db.new" "$S/report.txt"
    timed_pass "$tree" aide init "$r" "$S/init.out" -- aide --config="$S/aide.conf" --init
    if [[ $T_RC != 0 ]]; then show_tail "$S/init.out"; die "aide --init exited $T_RC"; fi
    mv -f "$S/aide.db.new" "$S/aide.db"
    rm -f "$S/report.txt"
    timed_pass "$tree" aide check "$r" "$S/check.out" -- aide --config="$S/aide.conf" --check
    if [[ $T_RC != 0 ]]; then
      AIDE_VERDICT="rc=$T_RC (changes or error)"
      show_tail "$S/check.out"
      log "WARNING: aide --check on the unchanged tree exited $T_RC"
    fi
    log "  aide: init $(fmt "${iw[-1]}") s, check $(fmt "${cw[-1]}") s"
  done
  medians AD
}

# ------------------------------------------------------------------ floor
# openssl_rate -> OSSL_RATE: the best of three `openssl speed -evp sha256` runs on 64 KiB
# blocks, one process (one core), bytes per second
openssl_rate() {
  local i r best=0
  for i in 1 2 3; do
    r=$(openssl speed -seconds 2 -bytes 65536 -evp sha256 2> /dev/null \
      | awk '$1 == "sha256" || $1 == "SHA256" { v = $NF; sub(/k$/, "", v); print v * 1000 }' | tail -n 1)
    [[ -n $r ]] && awk -v a="$r" -v b="$best" 'BEGIN{ exit !(a > b) }' && best=$r
  done
  [[ $best != 0 ]] || die "could not parse openssl speed -evp sha256"
  OSSL_RATE=$best
}

CAN_DROP=0
can_drop() {
  [[ $COLD != 0 && $(id -u) -eq 0 && -w /proc/sys/vm/drop_caches ]] && CAN_DROP=1
  [[ $CAN_DROP == 1 ]] || log "cold cache not measured (needs root and COLD=1)"
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# bench_floor TREE -> FL_SYS (median kernel CPU of the parallel cat pass, warm), FL_BYTES,
# FL_W (the floor, s); cold when possible: FLC_SYS, FLC_WALL (cold cat wall), FLC_W,
# HSC_IW (homeostat init wall, cold)
bench_floor() {
  local tree=$1 r cores st cfg=$SCRATCH/homeostat-cold.toml
  cores=$(nproc)
  local -a sys=() csys=() cwall=() hinit=()
  # shellcheck disable=SC2016  # expanded by the inner bash
  local script='find "$1" -type f -print0 | xargs -0 -r -P"$2" -n 512 cat > /dev/null'
  FL_BYTES=$(find "$tree" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
  openssl_rate
  for ((r = 1; r <= RUNS; r++)); do
    warm_cache "$tree"
    log "floor run $r/$RUNS: $cores parallel cat, warm"
    timed floor-cat-warm "$SCRATCH/floor-cat.out" -- bash -c "$script" _ "$tree" "$cores"
    sys+=("$T_SYS")
  done
  FL_SYS=$(median "${sys[@]}")
  FL_W=-
  [[ $FL_SYS != - ]] && FL_W=$(awk -v s="$FL_SYS" -v b="$FL_BYTES" -v r="$OSSL_RATE" -v c="$cores" 'BEGIN{ printf "%.4f", (s + b / r) / c }')
  FLC_SYS=- FLC_WALL=- FLC_W=- HSC_IW=-
  [[ $CAN_DROP == 1 ]] || return 0
  hs_config "$tree" "$cfg"
  for ((r = 1; r <= RUNS; r++)); do
    drop_caches
    log "floor run $r/$RUNS: $cores parallel cat, cold"
    timed floor-cat-cold "$SCRATCH/floor-cat.out" -- bash -c "$script" _ "$tree" "$cores"
    csys+=("$T_SYS"); cwall+=("$T_WALL")
    st=$SCRATCH/state-cold; rm -rf "$st"; mkdir -p "$st"
    drop_caches
    log "homeostat cold run $r/$RUNS: init"
    timed homeostat-cold-init "$SCRATCH/homeostat-cold-init.out" -- "$HS" --config "$cfg" --state-dir "$st" init
    [[ $T_RC == 0 ]] || { show_tail "$SCRATCH/homeostat-cold-init.out"; die "homeostat init (cold) exited $T_RC"; }
    hinit+=("$T_WALL")
    log "  cold: cat $(fmt "${cwall[-1]}") s, homeostat init $(fmt "$T_WALL") s"
  done
  rm -rf "$SCRATCH/state-cold"
  FLC_SYS=$(median "${csys[@]}"); FLC_WALL=$(median "${cwall[@]}"); HSC_IW=$(median "${hinit[@]}")
  [[ $FLC_SYS != - ]] && FLC_W=$(awk -v s="$FLC_SYS" -v b="$FL_BYTES" -v r="$OSSL_RATE" -v c="$cores" 'BEGIN{ printf "%.4f", (s + b / r) / c }')
}

# ------------------------------------------------------------------ targets
MISSED=()
# target NAME VALUE OP LIMIT  (OP: le | ge | lt) -> sets TV to "met" / "MISSED" / "not measured"
# (not called in $(...): MISSED must survive)
target() {
  local name=$1 v=$2 op=$3 lim=$4
  if [[ $v == - ]]; then
    MISSED+=("$name: not measured")
    TV="not measured"
  elif $op "$v" "$lim"; then
    TV=met
  else
    MISSED+=("$name = $v")
    TV=MISSED
  fi
}
finish() {
  if [[ ${#MISSED[@]} -gt 0 ]]; then
    if [[ $STRICT == 1 ]]; then
      echo "STRICT=1: targets missed or not measured: $(IFS=';'; echo "${MISSED[*]}")" >&2
      exit 1
    fi
    echo "targets missed or not measured (not enforced; STRICT=1 makes this fatal): $(IFS=';'; echo "${MISSED[*]}")"
  else
    echo "all targets met"
  fi
}

note_load() { # sets LOAD0; warns when other work is running (wall times and ratios suffer)
  LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
  if awk -v l="${LOAD0%% *}" -v n="$(nproc)" 'BEGIN{ exit !(l > 0.5 * n) }'; then
    log "WARNING: 1-min load average ${LOAD0%% *} on $(nproc) cores: other work is running, wall times and ratios will be noisy"
  fi
}

tree_line() { # tree_line TREE
  local nfiles bytes
  nfiles=$(find "$1" -type f | wc -l)
  bytes=$(du -sb "$1" | cut -f1)
  echo "Tree: $1 — $nfiles regular files, $(numfmt --to=iec --suffix=B "$bytes"); cache=warm; runs=$RUNS (median); $(nproc) cores; load avg $LOAD0 before the runs; $(date -u +%Y-%m-%dT%H:%MZ)"
}

# ------------------------------------------------------------------ main
ensure_time
build_homeostat
hs_sanity

if [[ $MODE == rss-scaling ]]; then
  declare -A RSS=() CHW=()
  for n in 20000 100000; do
    prepare_tree "$n" ""
    note_load
    bench_homeostat "$TREE" "n$n" 0
    RSS[$n]=$HS_CR; CHW[$n]=$HS_CW
    tree_line "$TREE"
  done
  echo
  echo "| N | homeostat check wall s | homeostat check peak RSS MiB |"
  echo "|---:|---:|---:|"
  for n in 20000 100000; do echo "| $n | $(fmt "${CHW[$n]}") | $(fmt "${RSS[$n]}") |"; done
  echo
  lim=-
  [[ ${RSS[20000]} != - ]] && lim=$(awk -v a="${RSS[20000]}" 'BEGIN{printf "%.2f", 1.2 * a + 4}')
  echo "homeostat check peak RSS N=20000 = $(fmt "${RSS[20000]}") MiB"
  echo "homeostat check peak RSS N=100000 = $(fmt "${RSS[100000]}") MiB"
  if [[ $lim == - ]]; then
    verdict="not measured"; MISSED+=("RSS scaling: not measured (no /usr/bin/time)")
  elif le "${RSS[100000]}" "$lim"; then
    verdict="yes (met)"
  else
    verdict="no (MISSED)"; MISSED+=("RSS(100k) = ${RSS[100000]} > $lim")
  fi
  echo "RSS(100k) <= 1.2 x RSS(20k) + 4 MiB = $lim MiB: $verdict"
  finish
  exit 0
fi

prepare_tree "$N" "$DIR"
ensure_aide
note_load
declare -A KW=() KC=() KIC=() KCR=()
for k in $KERNELS; do
  HS_PRE=(env "HOMEOSTAT_SHA256_KERNEL=$k")
  bench_homeostat "$TREE" "kernel-$k"
  KW[$k]=$HS_IW; KC[$k]=$HS_CW; KIC[$k]=$HS_IC; KCR[$k]=$HS_CR
  HS_PRE=()
done
bench_homeostat "$TREE" main
bench_openssl "$TREE"
can_drop
bench_floor "$TREE"
if [[ $HAVE_AIDE == 1 ]]; then
  bench_aide "$TREE"
else
  AD_IW=- AD_CW=- AD_IC=- AD_CC=- AD_IR=- AD_CR=- AIDE_VERDICT="not installed"
fi

R_IO=$(ratio "$HS_IW" "$OS_IW")
R_CO=$(ratio "$HS_CW" "$OS_CW")
R_AI=$(ratio "$AD_IW" "$HS_IW")
R_AC=$(ratio "$AD_CW" "$HS_CW")

echo
tree_line "$TREE"
echo "homeostat: $HS --config CFG --state-dir S init|check  (CFG: [[files]] path = \"$TREE\", hash = \"sha256\", attrs = \"all\")"
echo "openssl: find DIR -type f -print0 | xargs -0 -r -P$PAR -n 256 (openssl dgst -sha256 -r, one output file per batch); aide: num_workers=$PAR"
[[ $HAVE_TIME == 1 ]] || echo "note: /usr/bin/time unavailable: wall time only"
echo
echo "| tool | init s | check s | CPU s init / check | peak RSS MiB init / check | check verdict (unchanged tree) |"
echo "|---|---:|---:|---:|---:|---|"
echo "| homeostat | $(fmt "$HS_IW") | $(fmt "$HS_CW") | $(fmt "$HS_IC") / $(fmt "$HS_CC") | $(fmt "$HS_IR") / $(fmt "$HS_CR") | clean |"
for k in $KERNELS; do
  echo "| homeostat, kernel $k | $(fmt "${KW[$k]}") | $(fmt "${KC[$k]}") | $(fmt "${KIC[$k]}") / - | - / $(fmt "${KCR[$k]}") | clean |"
done
echo "| openssl | $(fmt "$OS_IW") | $(fmt "$OS_CW") | $(fmt "$OS_IC") / $(fmt "$OS_CC") | $(fmt "$OS_IR") / $(fmt "$OS_CR") | $OSSL_VERDICT |"
if [[ $HAVE_AIDE == 1 ]]; then
  echo "| aide-w$PAR | $(fmt "$AD_IW") | $(fmt "$AD_CW") | $(fmt "$AD_IC") / $(fmt "$AD_CC") | $(fmt "$AD_IR") / $(fmt "$AD_CR") | $AIDE_VERDICT |"
else
  echo "| aide | - | - | - | - | not installed, skipped |"
fi
echo
target 'init homeostat/openssl' "$R_IO" le 0.70
echo "ratio init homeostat/openssl = $R_IO   (target <= 0.70: $TV)"
target 'check homeostat/openssl' "$R_CO" le 1.0
echo "ratio check homeostat/openssl = $R_CO   (target <= 1.0: $TV)"
target 'aide/homeostat init' "$R_AI" ge 5
echo "ratio aide/homeostat init = $R_AI   (target >= 5: $TV)"
target 'aide/homeostat check' "$R_AC" ge 5
echo "ratio aide/homeostat check = $R_AC   (target >= 5: $TV)"
for k in $KERNELS; do
  echo "ratio init homeostat(kernel $k)/openssl = $(ratio "${KW[$k]}" "$OS_IW"), aide/homeostat(kernel $k) init = $(ratio "$AD_IW" "${KW[$k]}")"
done
echo
echo "Floor: $(numfmt --to=iec --suffix=B "$FL_BYTES") in the tree; openssl speed -evp sha256 (64 KiB, one core, best of 3) = $(awk -v r="$OSSL_RATE" 'BEGIN{ printf "%.2f", r / 1e9 }') GB/s; $(nproc) cores"
echo "floor warm = (cat kernel CPU $(fmt "$FL_SYS") s + $(awk -v b="$FL_BYTES" -v r="$OSSL_RATE" 'BEGIN{ printf "%.2f", b / r }') s of SHA-256) / $(nproc) = $(fmt "$FL_W") s; homeostat init / floor = $(ratio "$HS_IW" "$FL_W")"
if [[ $FLC_WALL != - ]]; then
  echo "floor cold = (cat kernel CPU $(fmt "$FLC_SYS") s + SHA-256) / $(nproc) = $(fmt "$FLC_W") s; parallel cat cold wall = $(fmt "$FLC_WALL") s; homeostat init cold = $(fmt "$HSC_IW") s"
  echo "homeostat init cold / floor cold = $(ratio "$HSC_IW" "$FLC_W"); homeostat init cold / cat cold = $(ratio "$HSC_IW" "$FLC_WALL")"
  target 'init cold homeostat/cat' "$(ratio "$HSC_IW" "$FLC_WALL")" le 1.2
  echo "ratio init cold homeostat/parallel cat cold = $(ratio "$HSC_IW" "$FLC_WALL")   (target <= 1.2: $TV)"
else
  echo "cold: not measured (needs root and COLD=1)"
fi
echo
target 'homeostat check peak RSS MiB' "$HS_CR" lt 32
echo "homeostat check peak RSS = $(fmt "$HS_CR") MiB   (target < 32 MiB: $TV)"
echo
echo "Timed command lines (scratch paths; KEEP=1 keeps them):"
awk '!seen[$0]++' "$CMDLOG" | sed 's/^/  /'
finish
