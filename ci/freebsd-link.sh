#!/usr/bin/env bash
# A linked FreeBSD agent: cargo-zigbuild with zig's FreeBSD libc stubs as the linker (both
# from PyPI: `pip install ziglang cargo-zigbuild`, done by .ci/run), then checks that the
# result is an x86-64 FreeBSD ELF executable for FreeBSD's run-time linker.
#
# A debug build (the workspace's disk rule); zig's stubs are FreeBSD 14.0's, so the binary
# needs libc's FBSD_1.7 (`__libc_start1`) and runs on FreeBSD 14 and later only: zig 0.17
# cannot link for 13.0 (`-target x86_64-freebsd.13.0`: its crt1 calls `__libc_start1`,
# which the 13.0 stubs do not export). See README, "FreeBSD".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Installed here when missing, as ci/test.sh installs rustup targets: a fresh machine needs
# only python3 with pip besides the Rust toolchain. pip puts the scripts in the
# interpreter's scripts directory (not on PATH under pyenv until a rehash) or the user base.
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)"
export PATH="$PATH:$(python3 -m site --user-base 2>/dev/null)/bin"
if ! command -v cargo-zigbuild >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check ziglang==0.17.1 cargo-zigbuild==0.24.1 \
    || { echo "freebsd-link: cannot install ziglang and cargo-zigbuild with pip" >&2; exit 1; }
  hash -r
fi
command -v cargo-zigbuild >/dev/null || { echo "freebsd-link: cargo-zigbuild installed but not on PATH ($PATH)" >&2; exit 1; }
cargo zigbuild --target x86_64-unknown-freebsd -p homeostat
bin=target/x86_64-unknown-freebsd/debug/homeostat
what=$(file -b "$bin")
echo "$bin: $what"
for want in "ELF 64-bit LSB" "executable" "x86-64" "interpreter /libexec/ld-elf.so.1" "for FreeBSD"; do
  grep -qF "$want" <<<"$what" || { echo "freebsd-link: $bin is not what was asked: no \"$want\" in: $what" >&2; exit 1; }
done
needed=$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "needs: $needed"
for lib in $needed; do
  case "$lib" in
    libc.so.7|libm.so.5|libthr.so.3|libgcc_s.so.1|libutil.so.9) ;;
    *) echo "freebsd-link: $bin needs $lib, which is not in FreeBSD's base system" >&2; exit 1 ;;
  esac
done
echo "libc versions: $(readelf -V "$bin" | grep -o 'FBSD_1\.[0-9]*' | sort -t. -k2 -n -u | tr '\n' ' ')"
