#!/usr/bin/env bash
# Log scanning speed and memory against grep, in one run.
#
#   ci/bench-logscan.sh [SIZE]        SIZE like 100M, 1G (default 1G), or bytes
#
# Generates a synthetic auth.log of SIZE (sshd, pam, cron and sudo lines; about one in six
# is a break-in attempt), then counts the lines matching the `ssh` handle's patterns with
# `homeostat scan` (`[[measure]] use = "ssh"`, which also counts per source address) and
# with `LC_ALL=C grep -E -c` given the same patterns (each `(?:` written `(`). Prints both
# counts, wall and user CPU times (best of two, page cache warm), the ratio, and peak RSS
# from /usr/bin/time -v; a third row is homeostat counting with the same patterns without
# the per-address keys, to show what the extraction costs. Targets: equal counts,
# homeostat no slower than grep, homeostat's peak RSS under 64 MiB. Exits 1 when the
# counts differ.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

size_arg=${1:-1G}
size=$(numfmt --from=iec "$size_arg")
target=${CARGO_TARGET_DIR:-target}
bin="$target/release/homeostat"

[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
echo "== building homeostat (release)" >&2
cargo build --release -q -p homeostat
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-logscan.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/auth.log"

# The ssh handle's patterns, from the source, as POSIX EREs.
mapfile -t patterns < <(
  sed -n '/^pub const SSH_PATTERNS/,/^];/p' agent/src/measurements/handles.rs \
    | sed -n 's/^ *r"\(.*\)",$/\1/p' | sed 's/(?:/(/g'
)
[ "${#patterns[@]}" -gt 0 ] || { echo "no ssh patterns found in agent/src/measurements/handles.rs" >&2; exit 2; }

echo "== generating $size_arg of auth.log" >&2
block="$work/block"
perl -e '
  use strict; my $seed = 12345;
  sub r { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed % $_[0]; }
  my @mon = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
  my @users = qw(root admin oracle test ubuntu git postgres user guest pi ftp www-data deploy support);
  my @hosts = qw(web1 web2 db1 bastion mail);
  my $out = "";
  while (length($out) < 16 * 1024 * 1024) {
    my $ts = sprintf("%s %2d %02d:%02d:%02d", $mon[r(12)], 1 + r(28), r(24), r(60), r(60));
    my $h = $hosts[r(5)];
    my $pid = 1000 + r(60000);
    my $ip = join(".", 1 + r(223), r(256), r(256), 1 + r(254));
    my $u = $users[r(14)];
    my $port = 1024 + r(64000);
    my $k = r(100);
    my $l;
    if    ($k < 7)  { $l = "sshd[$pid]: Failed password for $u from $ip port $port ssh2" }
    elsif ($k < 10) { $l = "sshd[$pid]: Failed password for invalid user $u from $ip port $port ssh2" }
    elsif ($k < 13) { $l = "sshd[$pid]: Invalid user $u from $ip port $port" }
    elsif ($k < 16) { $l = "sshd[$pid]: Connection closed by authenticating user $u $ip port $port [preauth]" }
    elsif ($k < 17) { $l = "sshd[$pid]: Received disconnect from $ip port $port:11: Bye Bye [preauth]" }
    elsif ($k < 30) { $l = "sshd[$pid]: Accepted publickey for $u from $ip port $port ssh2: RSA SHA256:" . join("", map { chr(65 + r(26)) } 1..43) }
    elsif ($k < 45) { $l = "sshd[$pid]: pam_unix(sshd:session): session opened for user $u(uid=" . r(2000) . ") by (uid=0)" }
    elsif ($k < 60) { $l = "sshd[$pid]: pam_unix(sshd:session): session closed for user $u" }
    elsif ($k < 70) { $l = "sshd[$pid]: Received disconnect from $ip port $port:11: disconnected by user" }
    elsif ($k < 75) { $l = "sshd[$pid]: Disconnected from user $u $ip port $port" }
    elsif ($k < 90) { $l = "CRON[$pid]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)" }
    elsif ($k < 95) { $l = "sudo: $u : TTY=pts/" . r(9) . " ; PWD=/home/$u ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx" }
    else            { $l = "systemd-logind[$pid]: New session " . r(100000) . " of user $u." }
    $out .= "$ts $h $l\n";
  }
  print $out;
' > "$block"
: > "$log"
bs=$(stat -c %s "$block")
for _ in $(seq 1 $(( size / bs ))); do cat "$block" >> "$log"; done
# The rest: whole lines only.
head -c $(( size % bs )) "$block" | LC_ALL=C sed '$d' >> "$log"
actual=$(stat -c %s "$log")
cat "$log" > /dev/null   # warm the page cache

cfg="$work/homeostat.toml"
printf '[[measure]]\nuse = "ssh"\nfile = "%s"\n' "$log" > "$cfg"
cfg_nokeys="$work/nokeys.toml"
{
  printf '[[measure]]\nname = "ssh_breakin"\nfile = "%s"\nmatch = [\n' "$log"
  sed -n '/^pub const SSH_PATTERNS/,/^];/p' agent/src/measurements/handles.rs | sed -n 's/^ *r"\(.*\)",$/  \x27\1\x27,/p'
  printf ']\n'
} > "$cfg_nokeys"
grep_args=()
for p in "${patterns[@]}"; do grep_args+=(-e "$p"); done

elapsed() { # seconds from /usr/bin/time -v output
  sed -n 's/.*Elapsed (wall clock) time.*: //p' "$1" \
    | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
user() { sed -n 's/.*User time (seconds): //p' "$1"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }

best_h="" best_g="" best_n="" user_h="" user_g="" user_n="" rss_h=0 rss_g=0
for run in 1 2; do
  rm -rf "$work/state" "$work/state2"
  /usr/bin/time -v "$bin" --config "$cfg" --state-dir "$work/state" --json scan \
    > "$work/h.json" 2> "$work/h.time"
  LC_ALL=C /usr/bin/time -v grep -E -c "${grep_args[@]}" "$log" \
    > "$work/g.count" 2> "$work/g.time" || true
  /usr/bin/time -v "$bin" --config "$cfg_nokeys" --state-dir "$work/state2" --json scan \
    > "$work/n.json" 2> "$work/n.time"
  best_h=$(min "$(elapsed "$work/h.time")" "$best_h")
  best_g=$(min "$(elapsed "$work/g.time")" "$best_g")
  best_n=$(min "$(elapsed "$work/n.time")" "$best_n")
  user_h=$(min "$(user "$work/h.time")" "$user_h")
  user_g=$(min "$(user "$work/g.time")" "$user_g")
  user_n=$(min "$(user "$work/n.time")" "$user_n")
  r=$(rss "$work/h.time"); [ "$r" -gt "$rss_h" ] && rss_h=$r
  r=$(rss "$work/g.time"); [ "$r" -gt "$rss_g" ] && rss_g=$r
done

count_h=$(sed -n 's/.*"name":"ssh_breakin","kind":"counter","value":\([0-9]*\).*/\1/p' "$work/h.json")
count_n=$(sed -n 's/.*"name":"ssh_breakin","kind":"counter","value":\([0-9]*\).*/\1/p' "$work/n.json")
count_g=$(cat "$work/g.count")
keys=$(grep -o '"keys":{[^}]*}' "$work/h.json" | tr ',' '\n' | wc -l)
ratio=$(awk -v h="$best_h" -v g="$best_g" 'BEGIN { printf "%.2f", (g > 0 ? h / g : 0) }')
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

printf '\nlog: %s bytes (%s), %s lines\n' "$actual" "$size_arg" "$(wc -l < "$log")"
printf 'patterns (ssh handle): %s\n' "${#patterns[@]}"
printf '%-38s %10s %8s %8s %12s\n' "" "count" "wall s" "user s" "peak RSS"
printf '%-38s %10s %8s %8s %8s MiB\n' "homeostat scan (use = \"ssh\")" "$count_h" "$best_h" "$user_h" "$(mib "$rss_h")"
printf '%-38s %10s %8s %8s %8s MiB\n' "LC_ALL=C grep -E -c" "$count_g" "$best_g" "$user_g" "$(mib "$rss_g")"
printf '%-38s %10s %8s %8s\n' "homeostat, same patterns, no keys" "$count_n" "$best_n" "$user_n"
printf 'wall time ratio homeostat/grep: %s   (homeostat also counted %s source addresses)\n' "$ratio" "$keys"
printf 'load average during the run: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
if [ "$count_h" = "$count_g" ]; then echo "counts: equal"; else echo "counts: DIFFER"; status=1; fi
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.0) }' && echo "speed: no slower than grep" || echo "speed: SLOWER than grep"
[ "$rss_h" -lt $((64 * 1024)) ] && echo "memory: under 64 MiB" || echo "memory: OVER 64 MiB"
exit $status
