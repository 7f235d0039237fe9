#!/usr/bin/env bash
# Builds the Debian package target/deb/homeostat_<version>_<arch>.deb with dpkg-deb from
# the release binary (`cargo build --release`, a no-op when ci/test.sh built it already),
# the man pages and completions agent/build.rs generated beside it, the built-in default
# configuration as a conffile, and pkg/debian/ (unit, maintainer scripts). Prints the
# path of the package on stdout, its size on stderr.
#
#   PROFILE=NAME      cargo profile to package (default: release)
#   MAINTAINER=TEXT   the Maintainer field and changelog signature (the project has no
#                     list address yet: set it when publishing)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
profile=${PROFILE:-release}
maintainer=${MAINTAINER:-homeostat developers <homeostat@localhost>}

die() { echo "build-deb: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg gzip objdump; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done

# The build, and where its build script put the man pages and completions: cargo names
# that directory in the `build-script-executed` message of the homeostat package.
msgs=$(cargo build --profile "$profile" -p homeostat --bin homeostat --message-format=json)
out_dir=$(grep '"reason":"build-script-executed"' <<<"$msgs" \
  | grep '/agent#homeostat@' \
  | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p' | tail -1)
[ -n "$out_dir" ] && [ -d "$out_dir/man" ] || die "no man pages from agent/build.rs (out_dir '$out_dir')"
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin=$target_dir/$profile/homeostat
[ -x "$bin" ] || die "$bin was not built"

version=$("$bin" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
# The newest glibc symbol version the binary needs is the libc6 it depends on.
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
[ -n "$glibc" ] || die "no GLIBC_ symbol versions in $bin"

stage=$target_dir/deb/homeostat_${version}_$arch
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
# Everything in the package is root's, 0755/0644, whatever the builder's umask.
umask 022

install -D -m 0755 "$bin" "$stage/usr/bin/homeostat"
install -d "$stage/etc/homeostat"
"$bin" config --default >"$stage/etc/homeostat/homeostat.toml"
chmod 0644 "$stage/etc/homeostat/homeostat.toml"
install -D -m 0644 pkg/debian/homeostat.service "$stage/lib/systemd/system/homeostat.service"

install -d "$stage/usr/share/man/man1"
for page in "$out_dir"/man/*.1; do
  gzip -9n <"$page" >"$stage/usr/share/man/man1/$(basename "$page").gz"
done
install -D -m 0644 "$out_dir/completions/homeostat.bash" \
  "$stage/usr/share/bash-completion/completions/homeostat"
install -D -m 0644 "$out_dir/completions/_homeostat" \
  "$stage/usr/share/zsh/vendor-completions/_homeostat"
install -D -m 0644 "$out_dir/completions/homeostat.fish" \
  "$stage/usr/share/fish/vendor_completions.d/homeostat.fish"

install -d "$stage/usr/share/doc/homeostat"
years=$(git log --format=%cd --date=format:%Y 2>/dev/null | sort -u \
  | awk 'NR == 1 { first = $0 } { last = $0 } END { if (NR) print (first == last ? first : first "-" last) }' || true)
cat >"$stage/usr/share/doc/homeostat/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: homeostat

Files: *
Copyright: ${years:-$(date +%Y)} the homeostat developers
License: MIT or Apache-2.0
 On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.
EOF

# A native package's changelog: one entry for this build, dated by its commit so that
# the same commit gives the same package.
{
  printf 'homeostat (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built from %s.\n\n' "$(git rev-parse --short HEAD 2>/dev/null || echo 'an unknown commit')"
  printf ' -- %s  %s\n' "$maintainer" "$(git log -1 --format=%cD 2>/dev/null || date -R)"
} | gzip -9n >"$stage/usr/share/doc/homeostat/changelog.gz"

install -m 0755 pkg/debian/postinst pkg/debian/prerm pkg/debian/postrm "$stage/DEBIAN/"
echo /etc/homeostat/homeostat.toml >"$stage/DEBIAN/conffiles"
installed_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: homeostat
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kib
Depends: libc6 (>= $glibc), libgcc-s1
Suggests: tcpdump
Section: admin
Priority: optional
Description: host security monitor: file integrity, learned normal state, policy
 homeostat keeps a signed record of the files that must not change and learns
 what is normal for the machine at each five-minute slot of the week, raising
 classes and alerts when a measurement leaves that normal state (CFEngine's
 tripwire promises and cf-monitord). It runs as a sandboxed systemd service.
EOF
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
  | xargs -0 md5sum >DEBIAN/md5sums)

# Same commit, same bytes: every mtime (and dpkg-deb's own timestamps) at the commit's time.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$target_dir/deb/homeostat_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "build-deb: $deb: $(stat -c %s "$deb") bytes, installed $installed_kib KiB" >&2
echo "$deb"
