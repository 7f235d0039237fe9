#!/usr/bin/env bash
# What the agent weighs: the stripped size of the x86-64 release build (every feature) and
# of the router builds (ci/router.sh), then each optional feature's share, measured as the
# growth of the aarch64 router build when that one feature is added to the router set,
# and the sections of the router binary (`llvm-size` from rustup's llvm-tools). With
# `cargo bloat` installed, also the crates' shares of `.text`. The router builds are
# ci/router-build.sh's (std rebuilt for size). Not part of ci/test.sh: it links eleven
# optimised binaries (about 25 minutes on two cores; run it alone).
#
#   bash ci/bench-size.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source ci/router-build.sh
router_setup

router=aarch64-unknown-linux-musl
features=(peers http-metrics graph dashboard progress cli-extras unicode-classes)

size() { stat -c %s "$1"; }
mib() { awk -v s="$1" 'BEGIN { printf "%.2f MiB", s / 1048576 }'; }
row() { printf '%-44s %10s bytes  %s\n' "$1" "$2" "$3"; }

printf '== binaries (stripped)\n'
cargo build -q -p homeostat --release
s=$(size target/release/homeostat)
row "x86_64-unknown-linux-gnu release (full)" "$s" "$(mib "$s")"
for t in aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf; do
  router_build "$t" router -q
  s=$(size "target/$t/router/homeostat")
  row "$t router" "$s" "$(mib "$s")"
done
router_build "$router" full -q
s=$(size "target/$router/router/homeostat")
row "$router router profile, full" "$s" "$(mib "$s")"

printf '\n== each feature'"'"'s share: the %s router build with it added\n' "$router"
router_build "$router" router -q
base=$(size "target/$router/router/homeostat")
row "router" "$base" "$(mib "$base")"
for f in "${features[@]}"; do
  router_build "$router" "router,$f" -q
  s=$(size "target/$router/router/homeostat")
  row "router + $f" "$s" "+$((s - base))"
done
router_build "$router" router -q

printf '\n== sections of the %s router binary (llvm-size -A)\n' "$router"
llvm_size=$(find "$(rustc --print sysroot)/lib/rustlib" -name llvm-size -type f | head -n 1)
if [ -z "$llvm_size" ]; then
  rustup component add llvm-tools >/dev/null 2>&1 || true
  llvm_size=$(find "$(rustc --print sysroot)/lib/rustlib" -name llvm-size -type f | head -n 1)
fi
if [ -n "$llvm_size" ]; then
  "$llvm_size" -A "target/$router/router/homeostat" | awk '$2 > 4096 || /Total/'
else
  echo "(llvm-size not found: rustup component add llvm-tools)"
fi

if cargo bloat --version >/dev/null 2>&1; then
  printf '\n== crates'"'"' shares of .text (cargo bloat; needs symbols, so a build not stripped)\n'
  # The same build as router_build's (aarch64), not stripped.
  env -u RUSTFLAGS RUSTC_BOOTSTRAP=1 CARGO_PROFILE_ROUTER_STRIP=false \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C force-unwind-tables=no" \
    cargo bloat -p homeostat --profile router --target "$router" \
    --no-default-features --features router --crates -n 20 \
    -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size \
    -Z panic-immediate-abort --config 'profile.router.panic="immediate-abort"' 2>/dev/null
else
  echo "(cargo bloat not installed: cargo install cargo-bloat for the crates' shares)"
fi
