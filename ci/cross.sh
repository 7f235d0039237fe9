#!/usr/bin/env bash
# The core's own tests on the CPU families routers and appliances use, under QEMU user-mode
# emulation: 64-bit ARM (musl, static), 32-bit ARM hard-float, and 32-bit big-endian
# PowerPC. Among them the golden files of core/tests/golden/, written on x86-64, must read
# the same. Linkers and runners are in .cargo/config.toml; this script installs the rustup
# targets it needs, and the Debian packages when it runs as root (.ci/run lists them too).
#
#   bash ci/cross.sh [TARGET…]      default: all three
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf powerpc-unknown-linux-gnu)

# Debian package that provides each tool the targets need.
declare -A pkg=(
  [qemu-aarch64]=qemu-user [qemu-arm]=qemu-user [qemu-ppc]=qemu-user
  [aarch64-linux-gnu-gcc]=gcc-aarch64-linux-gnu   # blake3's NEON C code (see .cargo/config.toml)
  [arm-linux-gnueabihf-gcc]=gcc-arm-linux-gnueabihf
  [powerpc-linux-gnu-gcc]=gcc-powerpc-linux-gnu
)
declare -A libc_pkg=(
  [aarch64-linux-gnu-gcc]=libc6-dev-arm64-cross
  [arm-linux-gnueabihf-gcc]=libc6-dev-armhf-cross
  [powerpc-linux-gnu-gcc]=libc6-dev-powerpc-cross
)
missing=()
for tool in "${!pkg[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${pkg[$tool]}" ${libc_pkg[$tool]:+"${libc_pkg[$tool]}"})
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "cross: missing tools; install: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

declare -A skip=()

# Lean: the library's unit tests and the integration tests, no benches, no doc tests.
summary=()
for t in "${targets[@]}"; do
  printf '\n== cross: homeostat-core tests on %s\n' "$t"
  start=$(date +%s)
  log=$(mktemp)
  skips=()
  for name in ${skip[$t]:-}; do skips+=(--skip "$name"); done
  if ! cargo test -p homeostat-core --target "$t" --lib --tests -- "${skips[@]}" 2>&1 | tee "$log"; then
    rm -f "$log"
    echo "cross: $t FAILED" >&2
    exit 1
  fi
  passed=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$log")
  rm -f "$log"
  skipped=$((${#skips[@]} / 2))
  summary+=("$t: $passed passed, $skipped skipped, $(($(date +%s) - start)) s")
done
printf '\n'
for s in "${summary[@]}"; do echo "cross: $s"; done
