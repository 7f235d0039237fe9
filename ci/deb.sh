#!/usr/bin/env bash
# The Debian package end to end, on this machine (root and dpkg needed; skipped otherwise):
# build it (ci/build-deb.sh), `dpkg -i`, check what it installed (the binary, the man
# pages, the unit with `systemd-analyze verify` and its exposure with `systemd-analyze
# security`, the conffile, the private state directory, the completions), `dpkg --purge`,
# and check that nothing is left but the state in /var/lib/homeostat.
#
#   EXPOSURE_MAX=N   fail when `systemd-analyze security` rates the unit above N (default 2.5)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
exposure_max=${EXPOSURE_MAX:-2.5}
started=$(date +%s)

step() { printf '\n-- deb: %s\n' "$*"; }
fail() { echo "deb: FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  echo "deb: skipped (needs root and dpkg)"
  exit 0
fi
for tool in systemd-analyze man; do
  command -v "$tool" >/dev/null || fail "$tool is missing (.ci/run installs systemd and man-db)"
done
if dpkg-query -W -f='${Status}' homeostat 2>/dev/null | grep -q 'ok installed'; then
  fail "homeostat is installed already; this test would replace and purge it"
fi

step "build"
deb=$(bash ci/build-deb.sh)
echo "$deb: $(stat -c %s "$deb") bytes"

# Which of the package's paths exist before it is installed (shared directories such as
# /usr/bin), so that after the purge exactly those may remain.
mapfile -t paths < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^$')
before=$(for p in "${paths[@]}"; do [ -e "$p" ] && echo "$p"; done || true)

step "install"
# Minimal images exclude /usr/share/man from dpkg; these pages are part of the test.
dpkg --path-include='/usr/share/man/man1/homeostat*' -i "$deb"

step "binary, configuration, state directory"
version=$(/usr/bin/homeostat --version)
echo "$version"
[ "$version" = "homeostat $(dpkg-deb -f "$deb" Version)" ] \
  || fail "--version prints '$version', not the package version"
dpkg-query -W -f='${Conffiles}\n' homeostat | grep -q '^ /etc/homeostat/homeostat.toml ' \
  || fail "/etc/homeostat/homeostat.toml is not a conffile"
/usr/bin/homeostat --config /etc/homeostat/homeostat.toml config >/dev/null \
  || fail "the shipped configuration does not load"
cmp -s <(/usr/bin/homeostat config --default) /etc/homeostat/homeostat.toml \
  || fail "the shipped configuration is not the built-in default"
[ "$(stat -c %a /var/lib/homeostat)" = 700 ] || fail "/var/lib/homeostat is not 0700"

step "man pages"
page=$(MANPAGER=cat man homeostat) || fail "man homeostat"
head -5 <<<"$page"
grep -q 'homeostat' <<<"$page" || fail "man homeostat shows nothing"
for sub in run scan check restore; do
  MANPAGER=cat man "homeostat-$sub" | grep -q "homeostat-$sub" || fail "man homeostat-$sub"
done

step "completions"
bash -c 'source /usr/share/bash-completion/completions/homeostat && complete -p homeostat' \
  || fail "the bash completion does not load"
[ -s /usr/share/zsh/vendor-completions/_homeostat ] || fail "no zsh completion"
[ -s /usr/share/fish/vendor_completions.d/homeostat.fish ] || fail "no fish completion"

step "systemd unit"
unit=/lib/systemd/system/homeostat.service
# verify only warns about an unknown or misspelt setting: any word from it fails. It also
# runs `man` for each Documentation= page and checks the ExecStart binary.
said=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $said"
[ -z "$said" ] || fail "systemd-analyze verify $unit: $said"
[ -L /etc/systemd/system/multi-user.target.wants/homeostat.service ] \
  || fail "the unit is not enabled"
# Offline: this also works where systemd is not PID 1 (containers, CI).
systemd-analyze security --offline=true --no-pager "$unit" | tail -1
systemd-analyze security --offline=true --no-pager --threshold="$(awk "BEGIN{print int($exposure_max*10)}")" "$unit" >/dev/null \
  || fail "exposure above $exposure_max"

step "purge"
dpkg --purge homeostat
dpkg-query -W -f='${Status}' homeostat 2>/dev/null | grep -q 'ok installed' && fail "still installed"
after=$(for p in "${paths[@]}"; do [ -e "$p" ] && echo "$p"; done || true)
[ "$after" = "$before" ] || fail "left behind: $(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')"
[ ! -e /etc/homeostat ] || fail "/etc/homeostat is still there"
left=$(find /etc /lib/systemd /usr/lib/systemd /var/lib/systemd /usr/share -name '*homeostat*' 2>/dev/null || true)
[ -z "$left" ] || fail "left behind: $left"
if [ -d /var/lib/homeostat ]; then
  echo "kept, as meant: /var/lib/homeostat (the baseline and journal outlive the package)"
fi

echo "deb: ok in $(($(date +%s) - started)) s"
