#!/usr/bin/env bash
# The engine on a router board: lints and builds firmware-demo for the Cortex-M4F, runs it
# under QEMU (mps2-an386) with a timeout, checks its story and exit status, proves that the
# image links no allocator, and holds it to the budget. Its last line is always
#
#   firmware: flash N B, ram M B, qemu exit S
#
# with flash = text + rodata + data (the vector table counted as text) and ram = data + bss,
# from llvm-size of the ELF. Budget: flash under 128 KiB; RAM (statics plus the deepest the
# stack went) under the learner's table plus 64 KiB. Installs what it needs when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=thumbv7em-none-eabihf
PROFILE=fw # opt-level "s", fat LTO, one codegen unit, panic abort (root Cargo.toml)
TABLE=2064384
FLASH_MAX=$((128 * 1024))
RAM_MAX=$((TABLE + 64 * 1024))

step() { printf '\n== firmware: %s\n' "$*"; }
fail() {
  echo "firmware: FAILED: $*" >&2
  exit 1
}

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
components=$(rustup component list --installed)
for c in llvm-tools clippy; do
  grep -q "^$c" <<<"$components" || rustup component add "$c"
done
if ! command -v qemu-system-arm >/dev/null; then
  [ "$(id -u)" -eq 0 ] || fail "qemu-system-arm missing: apt-get install qemu-system-arm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
tools=("$(rustc --print sysroot)"/lib/rustlib/*/bin)
SIZE=${tools[0]}/llvm-size
NM=${tools[0]}/llvm-nm
[ -x "$SIZE" ] && [ -x "$NM" ] || fail "llvm-size/llvm-nm not found in ${tools[*]}"

step "clippy for $TARGET (text and defmt images), -D warnings"
cargo clippy -p firmware-demo --target "$TARGET" -- -D warnings
cargo clippy -p firmware-demo --target "$TARGET" --features defmt -- -D warnings

step "build ($PROFILE profile)"
# The core must come without its `alloc` feature: nothing in this image may ask for a heap.
if cargo tree -p firmware-demo --target "$TARGET" -e features -i homeostat-core 2>/dev/null |
  grep -q 'homeostat-core feature "alloc"'; then
  fail "homeostat-core is built with its alloc feature for the firmware"
fi
ELF=${CARGO_TARGET_DIR:-target}/$TARGET/$PROFILE/firmware-demo

# The defmt image first (both images land on the same path): it must link and exit 0.
# Its output is binary frames for `defmt-print -e ELF`, a host tool CI does without.
cargo build -p firmware-demo --target "$TARGET" --profile "$PROFILE" --features defmt
set +e
FRAMES=$(timeout 60 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$ELF" | wc -c)
RC=$?
set -e
echo "defmt image: $FRAMES B of frames, qemu exit $RC"
[ "$RC" -eq 0 ] && [ "$FRAMES" -gt 0 ] || fail "the defmt image did not run clean"

# The text image, which the rest checks.
cargo build -p firmware-demo --target "$TARGET" --profile "$PROFILE"
[ -f "$ELF" ] || fail "no ELF at $ELF"

# Link-level proof of no allocation: the image has no #[global_allocator] and links no
# `alloc` crate (rustc would refuse to link it without an allocator), and no allocator
# entry point survives in the ELF.
if "$NM" "$ELF" | grep -E '__rust_(alloc|dealloc|realloc|alloc_zeroed|alloc_error_handler)|__rg_alloc|__rdl_alloc'; then
  fail "allocator symbols in $ELF"
fi

step "run under QEMU"
set +e
OUT=$(timeout 60 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$ELF" 2>&1)
RC=$?
set -e
echo "$OUT"

# The story must hold these lines exactly (the firmware checks the values themselves too).
want_config=$(sha256sum firmware-demo/router.toml | cut -d' ' -f1)
expected=(
  "  sha256:$want_config"
  "ALERT: Hash (sha256) for /flash/router.toml changed!"
  "  changed: ctime content"
  "rule \`entropy_www_in_low.www_in_high_anomaly\` fires:"
  "  LOW ENTROPY incident: 123 connections"
)
# …and lines matching these (ERE), for the values the learner computes.
patterns=(
  '^www_in, the flood: 123 connections from 4 sources, entropy 0\.[0-9]{3} -> entropy_www_in_low$'
  '^Mon 20:00:00 www_in = 123\.000 .* www_in_high_anomaly'
  '^Mon 20:10:00 .* www_in_high_anomaly persists'
  '^Mon 22:00:00 dns_out = .* dns_out_high_anomaly.* dns_out_high_ldt'
  '^classes at the flood: .*www_in_high_anomaly.* entropy_www_in_low$'
  '^table 2064384 B in \.bss at 0x2'
)
problems=()
for line in "${expected[@]}"; do
  grep -Fxq -- "$line" <<<"$OUT" || problems+=("missing line: $line")
done
for re in "${patterns[@]}"; do
  grep -Eq -- "$re" <<<"$OUT" || problems+=("no line matches: $re")
done
grep -Eq '^firmware-demo: [0-9]+ checks, 0 failures$' <<<"$OUT" || problems+=("no clean verdict line")
! grep -q '^FAIL' <<<"$OUT" || problems+=("FAIL lines")
[ "$RC" -eq 0 ] || problems+=("qemu exit $RC (101 panic, 102 HardFault, 124 timeout)")

# Sizes: llvm-size -A lists every section; flash holds the read-only ones and .data's
# initial values, RAM holds .data, .bss and .uninit (all at 0x2000_0000 and up).
read -r FLASH RAM < <("$SIZE" -A "$ELF" | awk '
  $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" || $1 == ".gnu.sgstubs" { flash += $2 }
  $1 == ".data" { flash += $2; ram += $2 }
  $1 == ".bss" || $1 == ".uninit" { ram += $2 }
  END { print flash + 0, ram + 0 }')
STACK=$(sed -nE 's/^stack: ([0-9]+) B at most.*/\1/p' <<<"$OUT")
[ -n "$STACK" ] || problems+=("no stack line")
STACK=${STACK:-0}
echo
echo "firmware: budget flash $FLASH / $FLASH_MAX B; RAM statics $RAM + stack $STACK = $((RAM + STACK)) / $RAM_MAX B"
[ "$FLASH" -lt "$FLASH_MAX" ] || problems+=("flash $FLASH B over $FLASH_MAX B")
[ $((RAM + STACK)) -lt "$RAM_MAX" ] || problems+=("RAM $RAM + stack $STACK B over $RAM_MAX B")
[ "$RAM" -ge "$TABLE" ] || problems+=("RAM $RAM B cannot hold the $TABLE B table")

for p in "${problems[@]}"; do echo "firmware: FAILED: $p" >&2; done
echo "firmware: flash $FLASH B, ram $RAM B, qemu exit $RC"
[ ${#problems[@]} -eq 0 ]
