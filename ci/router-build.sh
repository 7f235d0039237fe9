# The router build, sourced by ci/router.sh and ci/bench-size.sh: `router_setup` installs
# what it needs, `router_build TARGET FEATURES [CARGO_ARGS…]` builds
# target/TARGET/router/homeostat.
#
# Under 2 MiB only with a standard library rebuilt for size (cargo's build-std), which is
# an unstable cargo feature: RUSTC_BOOTSTRAP=1 lets the stable toolchain take it, for
# these commands only (the rest of CI stays plain stable). What it buys (aarch64):
#   -Z build-std=std,panic_abort      std from rustup's rust-src, with the flags below
#   -Z build-std-features=optimize_for_size   std's smaller algorithms
#   panic = "immediate-abort"         a panic is a bare abort: no message formatting, no
#                                     unwinding code (the daemon's supervisor restarts it)
#   -C force-unwind-tables=no         no .eh_frame (~350 KB): nothing unwinds
# 32-bit ARM is armv7-unknown-linux-musleabihf, whose prebuilt std rustup cannot install
# here: build-std makes it, and zig (cargo-zigbuild, as in ci/freebsd-link.sh) supplies
# musl's libc and crt objects (`link-self-contained=no`: not rustup's, which are absent).
# It is built as Thumb-2 (`+thumb-mode`, every ARMv7-A core runs it): a quarter smaller
# than ARM code.

router_setup() {
  grep -q '^rust-src' <<<"$(rustup component list --installed)" || rustup component add rust-src
  # aarch64 links with rust-lld against the musl crt objects and libc.a of rustup's target.
  grep -qx aarch64-unknown-linux-musl <<<"$(rustup target list --installed)" \
    || rustup target add aarch64-unknown-linux-musl
  # zig and cargo-zigbuild from PyPI (pip's scripts directory may not be on PATH).
  PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)"
  export PATH="$PATH:$(python3 -m site --user-base 2>/dev/null)/bin"
  if ! command -v cargo-zigbuild >/dev/null; then
    python3 -m pip install -q --disable-pip-version-check ziglang==0.17.1 cargo-zigbuild==0.24.1 \
      || { echo "router: cannot install ziglang and cargo-zigbuild with pip" >&2; return 1; }
    hash -r
  fi
  command -v cargo-zigbuild >/dev/null || { echo "router: cargo-zigbuild not on PATH ($PATH)" >&2; return 1; }
}

router_build() {
  local t=$1 features=$2
  shift 2
  local build=(cargo build) flags="-C force-unwind-tables=no"
  case "$t" in
    aarch64-unknown-linux-musl) ;;
    armv7-unknown-linux-musleabihf)
      build=(cargo zigbuild)
      flags="$flags -C link-self-contained=no -C target-feature=+thumb-mode"
      ;;
    *) echo "router: no router build known for $t" >&2; return 1 ;;
  esac
  local var
  var=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$t")_RUSTFLAGS
  # RUSTFLAGS from the caller would replace the per-target flags, so it is dropped here.
  env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS RUSTC_BOOTSTRAP=1 "$var=$flags" \
    "${build[@]}" -p homeostat --profile router --target "$t" \
    --no-default-features --features "$features" \
    -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size \
    -Z panic-immediate-abort --config 'profile.router.panic="immediate-abort"' "$@"
}
