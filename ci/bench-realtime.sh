#!/usr/bin/env bash
# The real-time watch under load, beside `inotifywait -m -r` on the same tree in the same
# run (not run by ci/test.sh; root for fanotify, else the daemon falls back to inotify):
#  1. latency p50/p99 from a write (its open) to the event line on stdout, for 1,000
#     writes/s inside the watched tree while 10,000 writes/s go to a directory beside it on
#     the same file system; the CPU each process used per 1,000 writes inside;
#  2. the daemon's resident set with 1,000,000 files under watch (target under 32 MiB
#     with fanotify), after the first round has checked them all.
#
#   bash ci/bench-realtime.sh                 (SECONDS_LOAD=10, FILES=1000000 by default)
#   SKIP_RSS=1 bash ci/bench-realtime.sh      (the latency part only)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v inotifywait >/dev/null || { echo "inotifywait missing: apt-get install -y inotify-tools" >&2; exit 1; }
cargo build --release -q -p homeostat --manifest-path "$root/Cargo.toml"
bin=$root/target/release/homeostat
scratch=$(mktemp -d "${TMPDIR:-/tmp}/homeostat-realtime.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; kernel $(uname -r)"

python3 - "$bin" "$scratch" "${SECONDS_LOAD:-10}" <<'PY'
import os, subprocess, sys, threading, time, json

binary, scratch, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
inside_rate, outside_rate = 1000, 10000
tree, outside, state = (os.path.join(scratch, d) for d in ("tree", "outside", "state"))
n_inside = inside_rate * seconds
for d in (tree, outside, state):
    os.makedirs(d)
# Each inside file is written once during the load, so each event names one write.
for i in range(n_inside):
    with open(f"{tree}/{i:06d}", "wb") as f:
        f.write(b"0")
for i in range(1000):
    with open(f"{outside}/{i:04d}", "wb") as f:
        f.write(b"0")
cfg = os.path.join(scratch, "config.toml")
with open(cfg, "w") as f:
    f.write(f'update = true\n[[files]]\npath = "{tree}"\nhash = "sha256"\nrealtime = true\n')
subprocess.run([binary, "--config", cfg, "--state-dir", state, "init"], check=True,
               stdout=subprocess.DEVNULL)

def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

seen = {"daemon": {}, "inotifywait": {}}
def reader(name, stream, path_of):
    for line in stream:
        t = time.monotonic()
        p = path_of(line)
        if p is not None and p not in seen[name]:
            seen[name][p] = t

def daemon_path(line):
    try:
        v = json.loads(line)
    except ValueError:
        return None
    return v.get("path") if v.get("type") == "file" else None

daemon = subprocess.Popen([binary, "--config", cfg, "--state-dir", state, "--json", "run"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
iw = subprocess.Popen(["inotifywait", "-m", "-r", "-q", "-e", "close_write,attrib,create,delete,move",
                       "--format", "%w%f", tree],
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
threading.Thread(target=reader, args=("daemon", daemon.stdout, daemon_path), daemon=True).start()
threading.Thread(target=reader, args=("inotifywait", iw.stdout, lambda l: l.rstrip("\n")), daemon=True).start()
# The daemon's first round (heartbeat) and inotifywait's watches.
deadline = time.monotonic() + 60
while not os.path.exists(f"{state}/heartbeat") and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(1)
c0 = {"daemon": cpu(daemon.pid), "inotifywait": cpu(iw.pid)}

# The load: every millisecond one write inside and ten outside, paced to the clock.
written = {}
start = time.monotonic()
tick = 0.001
for i in range(n_inside):
    due = start + i * tick
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    p = f"{tree}/{i:06d}"
    written[p] = time.monotonic()
    with open(p, "wb") as f:
        f.write(b"written %d" % i)
    for k in range(outside_rate // inside_rate):
        with open(f"{outside}/{(i * 10 + k) % 1000:04d}", "wb") as f:
            f.write(b"x")
load_time = time.monotonic() - start
# Everything reported, or 30 s more.
deadline = time.monotonic() + 30
while time.monotonic() < deadline and any(len(s) < n_inside for s in
        ({p: t for p, t in seen[n].items() if p in written} for n in seen)):
    time.sleep(0.1)
c1 = {"daemon": cpu(daemon.pid), "inotifywait": cpu(iw.pid)}
daemon.terminate(); iw.terminate()
daemon.wait(); iw.wait()

print(f"load: {n_inside} writes inside at {inside_rate}/s and {n_inside * 10} outside at "
      f"{outside_rate}/s, done in {load_time:.1f} s (asked {seconds} s)")
for name in ("daemon", "inotifywait"):
    lat = sorted(seen[name][p] - t for p, t in written.items() if p in seen[name])
    missed = n_inside - len(lat)
    if not lat:
        print(f"{name}: no events"); continue
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    per_k = (c1[name] - c0[name]) / (n_inside / 1000)
    print(f"{name:12s} latency p50 {p50*1000:7.1f} ms  p99 {p99*1000:7.1f} ms  max {lat[-1]*1000:7.1f} ms;"
          f" missed {missed}; CPU {per_k*1000:.1f} ms per 1,000 writes inside")
PY

if [ "${SKIP_RSS:-0}" = 1 ]; then exit 0; fi

# 2. Resident set with many files under watch.
files=${FILES:-1000000}
big=$scratch/big
mkdir -p "$big/tree" "$big/state"
echo "creating $files files in 1,000 directories..."
python3 - "$big/tree" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range(1000):
    os.mkdir(f"{root}/{d:03d}")
for i in range(n):
    os.close(os.open(f"{root}/{i % 1000:03d}/{i:07d}", os.O_CREAT | os.O_WRONLY, 0o644))
PY
cat > "$big/config.toml" <<TOML
[[files]]
path = "$big/tree"
hash = "sha256"
realtime = true
TOML
/usr/bin/time -f 'init of %e s, peak RSS %M KiB' "$bin" --config "$big/config.toml" --state-dir "$big/state" init > /dev/null
"$bin" --config "$big/config.toml" --state-dir "$big/state" --json run > "$big/out" 2> "$big/err" &
pid=$!
# The first round checks every file; then the daemon idles, watching.
until [ -e "$big/state/heartbeat" ]; do sleep 0.5; done
sleep 2
# Real-time latency with a database this big: each check reads, verifies and rewrites it.
python3 - "$big" <<'PY'
import os, sys, time
big = sys.argv[1]
out = open(f"{big}/out")
out.seek(0, 2)
lat = []
for i in range(5):
    path = f"{big}/tree/{i:03d}/{i:07d}"
    t0 = time.monotonic()
    with open(path, "ab") as f:
        f.write(b"x")
    buf = ""
    while f'"path":"{path}"' not in buf and time.monotonic() - t0 < 120:
        line = out.readline()
        if not line:
            time.sleep(0.005)
        buf += line
    lat.append(time.monotonic() - t0)
print("one change at a time with this database: reported after " +
      ", ".join(f"{x:.2f}" for x in lat) + " s")
PY
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
mech=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mechanism"])' "$big/state/heartbeat")
printf 'daemon with %s files under %s watch: RSS now %.1f MiB, peak %.1f MiB (first check included)\n' \
  "$files" "$mech" "$(bc -l <<<"$rss/1024")" "$(bc -l <<<"$hwm/1024")"
printf 'target RSS < 32 MiB with fanotify: %s\n' "$([ "$rss" -lt $((32 * 1024)) ] && echo met || echo MISSED)"
