#!/usr/bin/env bash
# The long runs of issue 20: the tests too slow for ci/test.sh, marked #[ignore] there.
# Each section names what it runs and what it proves; the tests print their figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

export CARGO_INCREMENTAL=0
cargo build -p homeostat

step "walk: a directory of 1,000,000 entries (peak memory per entry added, one finding)"
cargo test -p homeostat-tests --test walk_limits -- --ignored --nocapture
