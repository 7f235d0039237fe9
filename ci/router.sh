#!/usr/bin/env bash
# Router builds: the agent with the `router` feature set (files, `run`, monitor,
# measurements, rules, journal, syslog, metrics file; no peers, HTTP server, charts,
# dashboard, progress bars, coloured help or Unicode \p{...} tables) in the size profile,
# as static musl binaries for 64-bit ARM and 32-bit ARM hard-float. Prints each stripped
# size, fails at or above 2 MiB, checks that `file` calls it statically linked, and runs it
# under QEMU user-mode emulation: `--version`, `init` and `check` of a small tree, a
# `\p{Greek}` process pattern refused with the feature named, then two `scan`s whose samples the
# learner keeps (its state file appears, then changes), the second after a change to the
# tree, where a `[[rule]]` on the file class fires; and `run`, stopped by SIGTERM after its
# first round.
#
# The build itself (a standard library rebuilt for size, with RUSTC_BOOTSTRAP=1; zig's musl
# for 32-bit ARM) is ci/router-build.sh's.
#
#   bash ci/router.sh [TARGET…]     default: aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
#   ROUTER_CEILING=BYTES            the size that fails (default: the issue's budget, 2 MiB)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source ci/router-build.sh

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
# The issue's budget: each binary under 2 MiB stripped.
ceiling=${ROUTER_CEILING:-$((2 * 1024 * 1024))}

# Debian package that provides each tool (as in ci/cross.sh).
declare -A pkg=(
  [qemu-aarch64]=qemu-user [qemu-arm]=qemu-user
  [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu   # blake3's NEON C code (.cargo/config.toml)
  [file]=file
)
missing=()
for tool in "${!pkg[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${pkg[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "router: missing tools; install: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi
router_setup

# The router set must build clean on its own (dead code, unused imports), not only inside
# the full build that clippy checks elsewhere.
printf '\n== router: clippy of the router feature set\n'
cargo clippy -p homeostat --no-default-features --features router --all-targets -- -D warnings
printf '\n== router: the agent'"'"'s unit tests in the router feature set (host)\n'
# The property tests (`prop_*`) do not depend on features: ci/test.sh runs them in the full build.
cargo test -p homeostat --bin homeostat --no-default-features --features router -- --skip prop_

qemu_for() {
  case "$1" in
    aarch64-*) echo qemu-aarch64 ;;
    armv7-*) echo qemu-arm ;;
    *) echo "router: no QEMU known for $1" >&2; return 1 ;;
  esac
}

# Runs the binary under QEMU; prints its output and returns its exit status.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hs() {
  "$qemu" "$bin" --config "$work/homeostat.toml" --state-dir "$work/state" "$@"
}
fail() {
  echo "router: $t: $*" >&2
  exit 1
}

summary=()
for t in "${targets[@]}"; do
  printf '\n== router: build for %s\n' "$t"
  start=$(date +%s)
  router_build "$t" router
  built=$(($(date +%s) - start))
  bin=${CARGO_TARGET_DIR:-target}/$t/router/homeostat
  qemu=$(qemu_for "$t")
  size=$(stat -c %s "$bin")
  what=$(file -b "$bin")
  echo "$bin: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB); $what"
  grep -qF "statically linked" <<<"$what" || fail "$bin is not statically linked: $what"
  grep -qF "stripped" <<<"$what" && ! grep -qF "not stripped" <<<"$what" || fail "$bin is not stripped: $what"
  if [ "$size" -ge "$ceiling" ]; then
    fail "$bin is $size bytes, at or above the ceiling of $ceiling"
  fi
  echo "router: $t: $((ceiling - size)) bytes under the ceiling of $ceiling"

  printf '\n== router: %s under %s\n' "$t" "$qemu"
  rm -rf "${work:?}"/*
  mkdir -p "$work/tree/sub" "$work/state"
  echo "listen 8080" >"$work/tree/app.conf"
  echo "key" >"$work/tree/sub/key"
  cat >"$work/homeostat.toml" <<EOF
update = false

[monitor]
interval = "60s"
forget_rate = 0.6
tcpdump = false

[[files]]
path = "$work/tree"
handle = "files_app"
hash = "sha256"

[[rule]]
name = "app_tampered"
when = "files_app_changed.any"
report = "app config changed on \$(sys.host) [\$(this.promiser)]"
severity = "crit"
EOF
  runs=0
  version=$("$qemu" "$bin" --version) || fail "--version failed"
  echo "$version"
  runs=$((runs + 1))
  grep -q '^homeostat ' <<<"$version" || fail "--version printed: $version"

  hs init >"$work/init.out" || fail "init failed: $(cat "$work/init.out")"
  runs=$((runs + 1))
  tail -n 1 "$work/init.out"
  [ -s "$work/state/files.db" ] || fail "init wrote no files.db"

  hs check >"$work/check.out" || fail "check of an unchanged tree failed: $(cat "$work/check.out")"
  runs=$((runs + 1))
  tail -n 1 "$work/check.out"

  # The router set has no Unicode \p{...} tables (agent feature `unicode-classes`): such a
  # pattern is refused with a message that names the feature.
  cp "$work/homeostat.toml" "$work/greek.toml"
  printf '\n[[process]]\nname = "greek"\ncommand = %s\ncount = [0, 0]\n' "'\\p{Greek}+'" >>"$work/greek.toml"
  if "$qemu" "$bin" --config "$work/greek.toml" --state-dir "$work/state" check >"$work/greek.out" 2>&1; then
    fail "a \\p{Greek} pattern was accepted without the unicode-classes feature"
  fi
  runs=$((runs + 1))
  grep -q 'unicode-classes' "$work/greek.out" || fail "the \\p{...} refusal does not name the feature: $(cat "$work/greek.out")"
  tail -n 1 "$work/greek.out"

  # A round: the files and a monitor sample, which the learner keeps.
  hs --json scan >"$work/scan1.out" || fail "scan of an unchanged tree failed: $(cat "$work/scan1.out")"
  runs=$((runs + 1))
  learner=$work/state/learner.state
  [ -s "$learner" ] || fail "scan left no learner state: $(cat "$work/scan1.out")"
  grep -q '"type":"sample"' "$work/scan1.out" || fail "scan took no sample: $(cat "$work/scan1.out")"
  ! grep -q '"type":"alert"' "$work/scan1.out" || fail "an alert with nothing changed: $(cat "$work/scan1.out")"
  first=$(sha256sum <"$learner")

  # A change: the next round's rule fires on the file class.
  echo "listen 9090" >"$work/tree/app.conf"
  set +e
  hs --json scan >"$work/scan2.out"
  status=$?
  set -e
  runs=$((runs + 1))
  [ "$status" -eq 4 ] || fail "scan after a change exited $status, not 4 (changed): $(cat "$work/scan2.out")"
  alert=$(grep '"type":"alert"' "$work/scan2.out") || fail "no alert from the rule: $(cat "$work/scan2.out")"
  echo "$alert"
  grep -q '"rule":"app_tampered"' <<<"$alert" || fail "the alert is not the rule's: $alert"
  grep -q '"app config changed on ' <<<"$alert" || fail "the alert's report is not expanded: $alert"
  [ "$(sha256sum <"$learner")" != "$first" ] || fail "a second sample left the learner state unchanged"
  echo "learner.state: $(stat -c %s "$learner") bytes, changed by the second sample; $(grep -c '"type":"sample"' "$work/scan2.out") observables sampled"

  # The daemon: its first round at once, then SIGTERM saves and stops it. Polled with a
  # generous limit: QEMU on a busy machine is slow, and only the outcome is asserted.
  # QEMU itself in the background (not the `hs` function's subshell), so the signal
  # reaches it and QEMU hands it to the agent.
  : >"$work/run.out" # there before the poll below reads it
  "$qemu" "$bin" --config "$work/homeostat.toml" --state-dir "$work/state" --json run \
    >"$work/run.out" 2>"$work/run.err" &
  daemon=$!
  for _ in $(seq 1 120); do
    grep -q '"type":"sample"' "$work/run.out" && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.5
  done
  grep -q '"type":"sample"' "$work/run.out" || { kill "$daemon" 2>/dev/null; fail "run took no sample within 60 s: $(cat "$work/run.err")"; }
  kill -TERM "$daemon"
  wait "$daemon" || fail "run exited $? after SIGTERM: $(cat "$work/run.err")"
  grep -q "stopped" "$work/run.err" || fail "run did not say it stopped: $(cat "$work/run.err")"
  runs=$((runs + 1))
  echo "run: a round, then SIGTERM: $(tail -n 1 "$work/run.err")"
  summary+=("$t: $size bytes stripped, built in $built s, $runs QEMU runs passed ($(($(date +%s) - start)) s in all)")
done
printf '\n'
for s in "${summary[@]}"; do echo "router: $s"; done
