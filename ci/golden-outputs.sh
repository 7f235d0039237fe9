#!/usr/bin/env bash
# Golden outputs: runs fixed scenarios with the release binary and compares what it prints
# (text, JSON lines, stderr), its exit statuses and file_changes.log, byte for byte, with
# the files committed in ci/golden/ (one file per scenario step and stream). Guards the
# output path against unintended changes in a refactor.
#
#   bash ci/golden-outputs.sh            exit 0 when all match; else a unified diff of each
#                                        mismatch and exit 1
#   bash ci/golden-outputs.sh --bless    rewrite ci/golden/ from this binary's outputs
#
# Environment:
#   HOMEOSTAT_BIN=PATH     use this binary (default: cargo build --release -p homeostat,
#                          then target/release/homeostat)
#   GOLDEN_DIFF_LINES=N    show at most N lines of each diff (default 300; 0: all)
#   KEEP=1                 keep the scratch directory
#
# Scenarios (everything in a `mktemp -d` directory; every command gets --config and
# --state-dir there, so nothing of the host is read):
#   files/   a small tree with every kind of tampering: init, check (clean), tamper, check
#            (text, then JSON: `update = false` keeps the findings), update, check (clean),
#            file_changes.log; scan (text, JSON) on fresh state dirs ("no baseline yet").
#            xattrs/ the same for a user xattr, when the temp file system takes them.
#   replay/  a generated month (4 observables, 300 s steps, weekly pattern, spikes, a level
#            shift) replayed in text and JSON (gzip'd), eval of class expressions; the
#            replay split in two halves must print what one replay prints (checked here,
#            not against a file); `state` on a flat history whose weekly pairs are the same
#            in every slot (checked here), so it cannot depend on the time of day.
#   logs/    [[measure]] blocks (counter + extract, int, real last, string, two patterns,
#            `use = "ssh"`) over append, rename-and-create, copytruncate, rename + gzip;
#            a missing log and a FIFO; one `history = "weekly"` scan on a fresh state.
#
# Masked (they vary between runs): ctime values, inode numbers, "t" epochs (the current
# time; in replay/ "t" is the lines' epoch and compared), the epoch that starts each
# file_changes.log line, the baseline's creation time and host, `state`'s current slot and
# time, and the scratch directory prefix (written `$TMP`; in file_changes.log handles,
# canonified, `<canonified-TMP>`). Everything else (mtimes, digests, modes, owners, nlink,
# sizes, order, exit statuses) is compared as is. Nothing depends on the time of day: see
# the notes at `state` and at `history = "weekly"`. TZ is a fixed zone 5:45 east of UTC,
# so local time leaking into an output shows as a difference.
# Needs root (a setuid-root file, chown), python3 for xattrs (else xattrs/ is skipped), and
# the file system the expected files were made on for the temp dir (ext4: a directory's
# size is file-system specific): set TMPDIR to an ext4 directory if /tmp is not.
set -euo pipefail
export LC_ALL=C TZ=XYZ-5:45
umask 022
BIN=
if [[ -n ${HOMEOSTAT_BIN:-} ]]; then # relative to the caller's directory
  BIN=$(cd "$(dirname "$HOMEOSTAT_BIN")" 2> /dev/null && pwd -P)/$(basename "$HOMEOSTAT_BIN") \
    || { echo "golden-outputs: no directory for HOMEOSTAT_BIN=$HOMEOSTAT_BIN" >&2; exit 2; }
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
GOLDEN=$ROOT/ci/golden

BLESS=0
case ${1:-} in
  --bless) BLESS=1 ;;
  '') ;;
  *) echo "usage: $0 [--bless]" >&2; exit 2 ;;
esac
[[ $(id -u) -eq 0 ]] || { echo "golden-outputs: needs root (setuid-root file, chown)" >&2; exit 2; }

if [[ -z $BIN ]]; then
  cargo build --release -q -p homeostat
  BIN=$ROOT/target/release/homeostat
fi
[[ -x $BIN ]] || { echo "golden-outputs: no binary at $BIN" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-golden.XXXXXX")
TMP=$(cd "$TMP" && pwd -P)
cleanup() { if [[ ${KEEP:-0} == 1 ]]; then echo "scratch kept: $TMP" >&2; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
ACT=$TMP/actual # masked outputs, laid out as ci/golden/
RAW=$TMP/raw
mkdir -p "$ACT" "$RAW"
T_RE=$(printf '%s' "$TMP" | sed 's/[][\.*^$|]/\\&/g')
C_RE=$(printf '%s' "$TMP" | sed 's/[^A-Za-z0-9_]/_/g') # in file_changes.log handles

fail() { echo "golden-outputs: $*" >&2; exit 1; }

# Everything that varies between runs, to stable tokens. "t" is the current time except
# in replay (the epoch of the lines), where MASK_T is empty and it is compared.
MASK_T=1
mask() {
  sed -E \
    -e "s|$T_RE|\$TMP|g" \
    -e "s|$C_RE|<canonified-TMP>|g" \
    -e "s/\"(ctime|inode${MASK_T:+|t})\":[0-9]+/\"\\1\":<\\1>/g" \
    -e 's/^(Change time for .*) changed [0-9TZ:.-]+ -> [0-9TZ:.-]+$/\1 changed <ctime> -> <ctime>/' \
    -e 's/^(Inode for .*) changed [0-9]+ -> [0-9]+$/\1 changed <inode> -> <inode>/' \
    -e 's/^(homeostat: baseline of )[0-9TZ:-]+ on .*(, [0-9]+ entries(, signed)?)$/\1<created> on <host>\2/'
}
mask_log() {
  mask | sed -E \
    -e 's/^[0-9]+,/<t>,/' \
    -e 's/,S,Inode: [0-9]+ -> [0-9]+$/,S,Inode: <inode> -> <inode>/' \
    -e 's/,S,Change time: [0-9TZ:.-]+ -> [0-9TZ:.-]+$/,S,Change time: <ctime> -> <ctime>/'
}

# hs OUT ARGS…: runs the binary; OUT.out gets stdout and `exit: N`, OUT.stderr stderr
# (only when there is any), both masked. OUT is relative to the golden dir.
hs() {
  local out=$1 rc=0
  shift
  mkdir -p "$(dirname "$ACT/$out")" "$(dirname "$RAW/$out")"
  "$BIN" "$@" > "$RAW/$out.out" 2> "$RAW/$out.stderr" || rc=$?
  echo "exit: $rc" >> "$RAW/$out.out"
  mask < "$RAW/$out.out" > "$ACT/$out.out"
  if [[ -s $RAW/$out.stderr ]]; then mask < "$RAW/$out.stderr" > "$ACT/$out.stderr"; fi
}
# settle: lets the coarse kernel clock tick, so that every tampering moves a ctime.
settle() { sleep 0.05; }

# ================================================================== 1. files
E0=1700000000 # file mtimes
WEIRD=$(printf 'we\nird\033[31m\377\\,name') # newline, escape, non-UTF-8, backslash, comma
files_tree() { # DIR: the tree, built deterministically
  local d=$1
  mkdir -p "$d/sub"
  printf 'hello\n' > "$d/a.txt"           # content change, same size
  printf 'short\n' > "$d/b.txt"           # content and size change
  printf 'chmod me\n' > "$d/c.txt"        # chmod
  printf 'chown me\n' > "$d/d.txt"        # chown
  printf 'touch me\n' > "$d/e.txt"        # mtime only
  printf 'becomes a dir\n' > "$d/f.txt"   # replaced by a directory
  printf 'becomes a link\n' > "$d/g.txt"  # replaced by a symlink
  printf 'doomed\n' > "$d/h.txt"          # removed
  printf 'linked\n' > "$d/i.txt"          # gets a second hard link
  printf 'renamed over\n' > "$d/j.txt"    # replaced by rename: inode change
  printf 'deep\n' > "$d/sub/k.txt"
  printf 'pair\n' > "$d/hl1"
  ln "$d/hl1" "$d/hl2"                    # a hardlinked pair
  ln -s a.txt "$d/link"                   # retargeted
  printf '#!/bin/sh\n' > "$d/suid"
  printf '#!/bin/sh\n' > "$d/sgid"
  printf 'odd\n' > "$d/$WEIRD"                 # chmod
  : > "$d/empty"
  mkfifo -m 0644 "$d/fifo"
  chown -hR 0:0 "$d"
  chmod 4755 "$d/suid"                        # after chown, which clears set-id bits
  chmod 2755 "$d/sgid"
  stamp_tree "$d"
}
stamp_tree() { # DIR: fixed mtimes, the directories last (their entries change theirs)
  local i=0 p
  while IFS= read -r -d '' p; do
    touch -h -d "@$((E0 + i))" "$p"
    i=$((i + 1))
  done < <(find "$1" -mindepth 1 ! -type d -print0 | sort -z)
  while IFS= read -r -d '' p; do
    touch -h -d "@$((E0 + 1000 + i))" "$p"
    i=$((i + 1))
  done < <(find "$1" -depth -type d -print0 | sort -zr)
}
files_tamper() { # DIR
  local d=$1 E1=$((E0 + 5000))
  printf 'jello\n' > "$d/a.txt"; touch -d "@$E1" "$d/a.txt"
  printf 'much longer now\n' > "$d/b.txt"; touch -d "@$((E1 + 1))" "$d/b.txt"
  chmod 0600 "$d/c.txt"
  chown 4242:4242 "$d/d.txt"
  touch -d "@$((E1 + 2))" "$d/e.txt"
  mkdir "$d/f.tmp"; touch -d "@$((E1 + 3))" "$d/f.tmp"
  rm "$d/f.txt"; mv "$d/f.tmp" "$d/f.txt"  # the new inode exists before the old one goes
  ln -s a.txt "$d/g.tmp"; touch -h -d "@$((E1 + 4))" "$d/g.tmp"
  mv -T "$d/g.tmp" "$d/g.txt"
  ln -s b.txt "$d/link.tmp"; touch -h -d "@$((E1 + 5))" "$d/link.tmp"
  mv -T "$d/link.tmp" "$d/link"
  rm "$d/h.txt"
  printf 'new\n' > "$d/new.txt"; touch -d "@$((E1 + 6))" "$d/new.txt"
  printf '#!/bin/sh\nexit 0\n' > "$d/sub/newsuid"; chmod 4755 "$d/sub/newsuid"
  touch -d "@$((E1 + 7))" "$d/sub/newsuid"
  ln "$d/i.txt" "$d/i2.txt"
  chmod 0640 "$d/$WEIRD"
  printf 'tab\n' > "$d/$(printf 'new,\tfile')"; touch -d "@$((E1 + 8))" "$d/$(printf 'new,\tfile')"
  ln -s "$WEIRD" "$d/odd-link"; touch -h -d "@$((E1 + 9))" "$d/odd-link"
  printf 'renamed over\n' > "$d/j.new"
  touch -d "@$(stat -c %Y "$d/j.txt")" "$d/j.new"
  mv "$d/j.new" "$d/j.txt"
  touch -h -d "@$((E1 + 100))" "$d/sub"
  touch -h -d "@$((E1 + 101))" "$d"
}

scenario_files() {
  local s=$TMP/files tree
  tree=$s/tree
  mkdir -p "$s"
  files_tree "$tree"
  cat > "$s/config.toml" <<TOML
update = false
[[files]]
path = "$tree"
hash = "sha256"
attrs = "all"
TOML
  local c=(--config "$s/config.toml")
  hs files/01-init.text "${c[@]}" --state-dir "$s/state" init
  hs files/02-check-clean.text "${c[@]}" --state-dir "$s/state" check
  hs files/02-check-clean.json "${c[@]}" --state-dir "$s/state" --json check
  settle
  files_tamper "$tree"
  settle
  hs files/03-check-tampered.text "${c[@]}" --state-dir "$s/state" check
  hs files/03-check-tampered.json "${c[@]}" --state-dir "$s/state" --json check
  hs files/04-update.text "${c[@]}" --state-dir "$s/state" update
  hs files/05-check-after-update.text "${c[@]}" --state-dir "$s/state" check
  hs files/05-check-after-update.json "${c[@]}" --state-dir "$s/state" --json check
  mask_log < "$s/state/file_changes.log" > "$ACT/files/file_changes.log"
  # "No baseline yet": scan on fresh state dirs records one; a second scan checks.
  hs files/06-scan-fresh.text "${c[@]}" --state-dir "$s/scan-text" scan
  hs files/07-scan-again.text "${c[@]}" --state-dir "$s/scan-text" scan
  hs files/06-scan-fresh.json "${c[@]}" --state-dir "$s/scan-json" --json scan
  hs files/07-scan-again.json "${c[@]}" --state-dir "$s/scan-json" --json scan
}

scenario_xattrs() {
  local s=$TMP/xattrs
  mkdir -p "$s/tree"
  printf 'x\n' > "$s/tree/probe"
  if ! python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.probe", b"1")' "$s/tree/probe" 2> /dev/null; then
    echo "golden-outputs: the temp file system refuses user xattrs: xattrs/ skipped" >&2
    return 1
  fi
  rm "$s/tree/probe"
  printf 'plain\n' > "$s/tree/plain"
  printf 'tagged\n' > "$s/tree/tagged"
  python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.a", b"one")' "$s/tree/tagged"
  stamp_tree "$s/tree"
  cat > "$s/config.toml" <<TOML
update = false
[[files]]
path = "$s/tree"
attrs = "all"
handle = "xattr_tree"
TOML
  local c=(--config "$s/config.toml" --state-dir "$s/state")
  hs xattrs/01-init.text "${c[@]}" init
  settle
  python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.x", b"set")' "$s/tree/plain"
  python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.a", b"two")' "$s/tree/tagged"
  settle
  hs xattrs/02-check.text "${c[@]}" check
  hs xattrs/02-check.json "${c[@]}" --json check
  mask_log < "$s/state/file_changes.log" > "$ACT/xattrs/file_changes.log"
}

# ================================================================== 2. replay
# A month from Monday 2024-01-01 00:00 UTC at 300 s steps: users, loadavg, www_in and a
# log-style ssh_failed, with a daily triangle, quieter weekends, ripples, spikes and a
# level shift of loadavg from day 20. Integer arithmetic only.
month() {
  awk 'BEGIN {
    t0 = 1704067200; n = 30 * 288
    for (k = 0; k < n; k++) {
      t = t0 + 300 * k
      m = k % 288; d = int(k / 288) % 7; h = int(m / 12)
      tri = (h < 12) ? h : 23 - h
      u = 2 + tri + (d < 5 ? 4 : 0) + (k % 3)
      l = 20 + 7 * tri + (k % 5) * 3 + (k >= 20 * 288 ? 200 : 0)
      w = 10 + 3 * tri + (k % 7)
      f = (k % 12 == 0) ? 1 : 0
      if (k == 3000 || k == 3001 || k == 5000 || k == 7777) w = 900
      if (k == 4500) u = 60
      if (k == 6000) l += 1500
      if (k == 8000) f = 40
      printf "%d,users,%d\n%d,loadavg,%d.%02d\n%d,www_in,%d\n%d,ssh_failed,%d\n", t, u, t, int(l / 100), l % 100, t, w, t, f
    }
  }'
}
# Four weeks: two of zeros (the learner is young for its first two weeks), then a week of
# A and a week of B, every slot alike: every slot's weekly pair ends the same (the values
# stay within the noise threshold of the weekly average, so the local pair never counts).
flat() {
  awk 'BEGIN {
    t0 = 1704067200
    for (k = 0; k < 4 * 2016; k++) {
      t = t0 + 300 * k; w = int(k / 2016)
      u = (w < 2) ? 0 : (w == 2 ? 4 : 5)
      l = (w < 2) ? "0" : (w == 2 ? "0.5" : "0.8")
      x = (w < 2) ? 0 : (w == 2 ? 8 : 9)
      printf "%d,users,%d\n%d,loadavg,%s\n%d,www_in,%d\n", t, u, t, l, t, x
    }
  }'
}

scenario_replay() {
  local s=$TMP/replay MASK_T=
  mkdir -p "$s"
  : > "$s/config.toml"
  local c=(--config "$s/config.toml")
  month > "$s/month.csv"
  hs replay/01-month.text "${c[@]}" --state-dir "$s/text" replay "$s/month.csv"
  hs replay/01-month.json "${c[@]}" --state-dir "$s/json" --json replay "$s/month.csv"
  # Split in two halves on one state dir: the same output as one replay.
  local half=$(( $(wc -l < "$s/month.csv") / 2 ))
  half=$(( half - half % 4 )) # whole samples
  head -n "$half" "$s/month.csv" > "$s/first.csv"
  tail -n "+$((half + 1))" "$s/month.csv" > "$s/second.csv"
  local mode
  for mode in text json; do
    local j=()
    [[ $mode == json ]] && j=(--json)
    { "$BIN" "${c[@]}" --state-dir "$s/split-$mode" "${j[@]}" replay "$s/first.csv"
      "$BIN" "${c[@]}" --state-dir "$s/split-$mode" "${j[@]}" replay "$s/second.csv"
      echo "exit: 0"; } > "$RAW/split-$mode.out"
    cmp -s "$RAW/split-$mode.out" "$RAW/replay/01-month.$mode.out" \
      || fail "replay ($mode) split in two halves differs from one replay: $(diff "$RAW/split-$mode.out" "$RAW/replay/01-month.$mode.out" | head -20)"
  done
  # eval: the last sample's classes; persistent ones expired long ago (the data is of 2024).
  hs replay/02-eval-loadavg-high.text "${c[@]}" --state-dir "$s/text" eval 'loadavg_high'
  hs replay/02-eval-anomaly.text "${c[@]}" --state-dir "$s/text" eval 'www_in_high_anomaly|users_high_anomaly'
  hs replay/02-eval-compound.text "${c[@]}" --state-dir "$s/text" eval '(users_high|users_low).!www_in_high_dev2&any'
  hs replay/02-eval-syntax-error.text "${c[@]}" --state-dir "$s/text" eval 'users_high.(loadavg_high'
  # state: uses the weekly pair of the current slot, so it runs on the flat history.
  flat > "$s/flat.csv"
  "$BIN" "${c[@]}" --state-dir "$s/flat" --json replay "$s/flat.csv" > "$RAW/flat.json"
  local pairs
  pairs=$(awk 'NR > 4 * 3 * 2016' "$RAW/flat.json" | grep '"type":"sample"' \
    | sed -E 's/.*"observable":("[a-z_]+"),"value":[^,]*,("expect":[^,]*,"stddev":[^,]*),.*/\1 \2/' | sort -u | wc -l)
  [[ $pairs -eq 3 ]] || fail "flat history: the last week's weekly pairs differ between slots ($pairs distinct)"
  hs replay/03-state.text "${c[@]}" --state-dir "$s/flat" state
  sed -i -E 's/^(learner: [0-9]+ samples, slot )[0-9]+ \([0-9TZ:-]+\)/\1<slot> (<now>)/' "$ACT/replay/03-state.text.out"
  hs replay/03-state.json "${c[@]}" --state-dir "$s/flat" --json state
  hs replay/03-state-vars.text "${c[@]}" --state-dir "$s/flat" state --vars
  hs replay/03-state-named.text "${c[@]}" --state-dir "$s/flat" state www_in users
  sed -i -E 's/^(learner: [0-9]+ samples, slot )[0-9]+ \([0-9TZ:-]+\)/\1<slot> (<now>)/' "$ACT/replay/03-state-named.text.out"
  hs replay/03-state-unknown.text "${c[@]}" --state-dir "$s/flat" state nosuch
  hs replay/04-eval-flat.text "${c[@]}" --state-dir "$s/flat" eval 'users_high.www_in_high'
}

# ================================================================== 3. logs
scenario_logs() {
  local s=$TMP/logs log
  log=$s/var/app.log
  mkdir -p "$s/var"
  cat > "$s/config.toml" <<TOML
[[measure]]
name = "failed_logins"
file = "$log"
match = 'Failed password for (?:invalid user )?(\S+) from (\S+)'
kind = "counter"
extract = 2
history = "scalar"

[[measure]]
name = "bytes_sent"
file = "$log"
match = 'sent ([0-9]+) bytes'
kind = "int"
history = "scalar"

[[measure]]
name = "latency_ms"
file = "$log"
match = ['latency ([0-9.]+) ms', 'took ([0-9.]+) ms']
kind = "real"
aggregate = "last"
history = "scalar"

[[measure]]
name = "last_user"
file = "$log"
match = 'session opened for user (\S+)'
kind = "string"
history = "scalar"

[[measure]]
name = "errors"
file = "$log"
match = ['ERROR', 'FATAL']
kind = "counter"
history = "scalar"

[[measure]]
use = "ssh"
file = "$log"
history = "scalar"
TOML
  local n=0
  lines() { # COUNT: appends COUNT lines of a fixed cycle to the log
    local i
    for ((i = 0; i < $1; i++)); do
      n=$((n + 1))
      case $((n % 6)) in
        0) echo "Jan  1 00:00:$((n % 60)) host sshd[$n]: Failed password for root from 203.0.113.$((n % 3)) port 22 ssh2" ;;
        1) echo "Jan  1 00:00:$((n % 60)) host sshd[$n]: Failed password for invalid user u$((n % 4)) from 198.51.100.$((n % 2)) port 22 ssh2" ;;
        2) echo "Jan  1 00:00:$((n % 60)) host app[1]: sent $((n * 10)) bytes, latency $((n % 9)).$((n % 10)) ms" ;;
        3) echo "Jan  1 00:00:$((n % 60)) host sshd[$n]: pam_unix(sshd:session): session opened for user user$n by (uid=0)" ;;
        4) echo "Jan  1 00:00:$((n % 60)) host app[1]: ERROR request $n took $n.5 ms" ;;
        5) echo "Jan  1 00:00:$((n % 60)) host app[1]: FATAL nothing $n" ;;
      esac
    done >> "$log"
  }
  scan() { # STEP
    hs "logs/$1.text" --config "$s/config.toml" --state-dir "$s/state-text" scan
    hs "logs/$1.json" --config "$s/config.toml" --state-dir "$s/state-json" --json scan
  }
  lines 12
  scan 01-first
  scan 02-nothing-new
  lines 7
  scan 03-appended
  # rename-and-create: lines left unread in the old file, then the new one
  lines 5
  mv "$log" "$log.1"
  lines 4
  scan 04-rename-and-create
  # copytruncate: the copy holds the unread rest; the log starts again at 0
  lines 6
  mv "$log.1" "$log.2"
  cp -p "$log" "$log.1"
  : > "$log"
  lines 3
  scan 05-copytruncate
  # rename, then gzip at once: the rest is read from app.log.1.gz
  lines 5
  mv "$log.2" "$log.3"
  mv "$log.1" "$log.2"
  mv "$log" "$log.1"
  lines 2
  gzip -n "$log.1"
  scan 06-rename-then-gzip
  # A missing log and a FIFO: warnings, the scan goes on.
  local fifo=$s/var/pipe.log
  mkfifo "$fifo"
  cat > "$s/config-odd.toml" <<TOML
[[measure]]
name = "missing"
file = "$s/var/nosuch.log"
match = 'x'
history = "scalar"

[[measure]]
name = "piped"
file = "$fifo"
match = 'x'
history = "scalar"
TOML
  hs logs/07-missing-and-fifo.text --config "$s/config-odd.toml" --state-dir "$s/odd-text" scan
  hs logs/07-missing-and-fifo.json --config "$s/config-odd.toml" --state-dir "$s/odd-json" --json scan
  printf 'x\nx y\nno\n' > "$s/var/nosuch.log"
  hs logs/08-missing-appears.text --config "$s/config-odd.toml" --state-dir "$s/odd-text" scan
  hs logs/08-missing-appears.json --config "$s/config-odd.toml" --state-dir "$s/odd-json" --json scan
  # history = "weekly": one scan on a fresh state only. The sample goes to the slot of
  # the current time; on an empty table every slot gives the same outcome, while a second
  # scan would depend on whether it fell in the same five-minute slot as the first.
  cat > "$s/config-weekly.toml" <<TOML
[[measure]]
name = "failed_weekly"
file = "$log"
match = 'Failed password'
history = "weekly"
TOML
  hs logs/09-weekly-first.text --config "$s/config-weekly.toml" --state-dir "$s/weekly-text" scan
  hs logs/09-weekly-first.json --config "$s/config-weekly.toml" --state-dir "$s/weekly-json" --json scan
}

# ================================================================== run and compare
scenario_files
if scenario_xattrs; then xattrs=1; else xattrs=0; fi
scenario_replay
scenario_logs

# Large outputs are kept gzip'd.
BIG=(replay/01-month.text.out replay/01-month.json.out)
for f in "${BIG[@]}"; do gzip -9n "$ACT/$f"; done

if [[ $BLESS == 1 ]]; then
  rm -rf "$GOLDEN"
  mkdir -p "$GOLDEN"
  cp -R "$ACT/." "$GOLDEN/"
  [[ $xattrs == 1 ]] || echo "golden-outputs: warning: blessed without xattrs/" >&2
  echo "golden-outputs: blessed $(find "$GOLDEN" -type f | wc -l) files in ci/golden/"
  exit 0
fi

limit=${GOLDEN_DIFF_LINES:-300}
bad=0
files=0
while IFS= read -r rel; do
  case $rel in xattrs/*) [[ $xattrs == 1 ]] || continue ;; esac
  files=$((files + 1))
  exp=$GOLDEN/$rel act=$ACT/$rel
  e=$exp a=$act
  if [[ $rel == *.gz ]]; then
    e=$TMP/cmp.expected a=$TMP/cmp.actual
    if [[ -f $exp ]]; then gzip -dc "$exp" > "$e"; else : > "$e"; fi
    if [[ -f $act ]]; then gzip -dc "$act" > "$a"; else : > "$a"; fi
  else
    [[ -f $e ]] || e=/dev/null
    [[ -f $a ]] || a=/dev/null
  fi
  if ! cmp -s "$e" "$a"; then
    bad=$((bad + 1))
    echo "== mismatch: ci/golden/$rel"
    if [[ $limit -gt 0 ]]; then
      { diff -u --label "expected/$rel" --label "actual/$rel" "$e" "$a" || true; } | awk -v n="$limit" \
        'NR <= n { print } END { if (NR > n) printf "... (%d more diff lines; GOLDEN_DIFF_LINES=0 shows all)\n", NR - n }'
    else
      diff -u --label "expected/$rel" --label "actual/$rel" "$e" "$a" || true
    fi
  fi
done < <({ (cd "$GOLDEN" 2> /dev/null && find . -type f); (cd "$ACT" && find . -type f); } | sed 's|^\./||' | sort -u)

if [[ $bad -gt 0 ]]; then
  echo "golden-outputs: $bad of $files files differ (bash ci/golden-outputs.sh --bless accepts them)"
  exit 1
fi
echo "golden-outputs: all $files files match"
