#!/usr/bin/env bash
# The C ABI: build the static library, compile ffi/tests/learn.c against it and the
# committed header, run it under valgrind (no error, no leak). The header itself is
# checked by `cargo test -p homeostat-ffi --test header`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build -p homeostat-ffi
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
lib="$target_dir/debug/libhomeostat.a"
out="$target_dir/ffi-test"
mkdir -p "$out"
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -O1 -I ffi/include \
  ffi/tests/learn.c "$lib" -lpthread -ldl -lm -o "$out/learn"
"$out/learn"
# The same program against the shared library.
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -O1 -I ffi/include \
  ffi/tests/learn.c -L "$target_dir/debug" -lhomeostat -o "$out/learn-shared"
LD_LIBRARY_PATH="$target_dir/debug" "$out/learn-shared" >/dev/null
if command -v valgrind >/dev/null; then
  valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=all "$out/learn" >/dev/null
else
  echo "valgrind missing: install it (.ci/run does)" >&2
  exit 1
fi
