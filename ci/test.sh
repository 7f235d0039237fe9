#!/usr/bin/env bash
# The one test command: formatting, lints, every test, and the builds that prove the core
# stays no_std and the workspace stays portable. Installs the rustup targets and
# components it needs when they are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

need_targets=(thumbv7em-none-eabihf riscv32imac-unknown-none-elf x86_64-unknown-freebsd)
installed=$(rustup target list --installed)
for t in "${need_targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
components=$(rustup component list --installed)
for c in rustfmt clippy; do
  grep -q "^$c" <<<"$components" || rustup component add "$c"
done

step "fmt"
cargo fmt --all -- --check

step "clippy (host workspace, all targets, -D warnings)"
cargo clippy --workspace --exclude firmware-demo --all-targets -- -D warnings

step "core without features for bare-metal targets (no_std, no alloc)"
cargo build -p homeostat-core --no-default-features --target thumbv7em-none-eabihf
cargo build -p homeostat-core --no-default-features --target riscv32imac-unknown-none-elf

step "clippy for FreeBSD (workspace, -D warnings: platform-bsd's live feeds and the agent's FreeBSD path)"
cargo clippy --workspace --exclude firmware-demo --target x86_64-unknown-freebsd -- -D warnings

step "a linked FreeBSD agent (cargo-zigbuild, zig's FreeBSD 14 libc stubs)"
bash ci/freebsd-link.sh

step "tests"
cargo test --workspace --exclude firmware-demo

step "C ABI: ffi/tests/learn.c against libhomeostat.a, under valgrind"
bash ci/ffi.sh

step "core docs: no missing docs, no broken links; the host agent example"
RUSTDOCFLAGS="-D warnings" cargo doc -p homeostat-core --no-deps
cargo run -p homeostat-core --example host_agent --features std

step "golden outputs: text, JSON lines and file_changes.log byte for byte (ci/golden/)"
bash ci/golden-outputs.sh

step "Debian package: build, dpkg -i, unit verified, man pages, purge (root with dpkg only)"
bash ci/deb.sh

step "firmware: the core on a Cortex-M4F under QEMU (story, budget, no allocator)"
bash ci/firmware.sh

step "core tests on aarch64, armv7 and 32-bit big-endian PowerPC under QEMU"
bash ci/cross.sh

step "router builds: static aarch64 and armv7 agents, sizes held, scan/rule/learner/run under QEMU"
bash ci/router.sh
