#!/usr/bin/env bash
# What the init line costs a new shell, and the man-page check inside it:
#   1. `bash -i -c exit` with `eval "$(git agent init bash)"` in ~/.bashrc, next to an empty
#      ~/.bashrc (the whole price of the integration at shell start);
#   2. `git-agent init bash` with this build's man pages current (every shell start), next to
#      `git-agent --version` (starting the binary at all);
#   3. `git-agent init bash` when the pages are missing or stale (the first shell after an
#      install or upgrade writes them);
#   4. the system calls the check makes (strace), as the difference between `init bash` and
#      `init bash --completions` would not isolate it.
# Runs alternate between the compared commands; medians and minimums of N runs (default 300).
# The binary is copied into <work>/prefix/bin, as `cargo install` puts it, with its own HOME.
# Env: GIT_AGENT_BIN (default target/release/git-agent, built if missing), BENCH_WORK, N.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GIT_AGENT_BIN:-$ROOT/target/release/git-agent}
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
fi
N=${N:-300}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/ga-bench-init.XXXXXX)}
rm -rf "$WORK/prefix" "$WORK/home" "$WORK/state" "$WORK/empty-home"
mkdir -p "$WORK/prefix/bin" "$WORK/home" "$WORK/state" "$WORK/empty-home"
cp "$BIN" "$WORK/prefix/bin/git-agent"
echo 'eval "$(git agent init bash)"' >"$WORK/home/.bashrc"
: >"$WORK/empty-home/.bashrc"
export XDG_STATE_HOME=$WORK/state XDG_RUNTIME_DIR=$WORK/state GIT_CONFIG_NOSYSTEM=1
export PATH=$WORK/prefix/bin:/usr/local/bin:/usr/bin:/bin
unset MANPATH
HOME=$WORK/home git-agent init bash >/dev/null # writes the pages once

python3 - "$N" "$WORK" <<'EOF'
import os, statistics, subprocess, sys, time
n, work = int(sys.argv[1]), sys.argv[2]
stamp = os.path.join(work, "state/git-agent/man-pages")
def env(home):
    e = dict(os.environ); e["HOME"] = os.path.join(work, home); return e
cases = {
    "shell, init line":  (["bash", "-i", "-c", "exit"], env("home"), None),
    "shell, empty rc":   (["bash", "-i", "-c", "exit"], env("empty-home"), None),
    "init bash":         (["git-agent", "init", "bash"], env("home"), None),
    "--version":         (["git-agent", "--version"], env("home"), None),
    "init bash, pages missing": (["git-agent", "init", "bash"], env("home"), stamp),
}
times = {k: [] for k in cases}
names = list(cases)
for i in range(n):
    for name in (names if i % 2 == 0 else names[::-1]):
        cmd, e, remove = cases[name]
        if remove:
            os.remove(remove)
        t = time.perf_counter_ns()
        subprocess.run(cmd, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append((time.perf_counter_ns() - t) / 1e6)
for name, xs in times.items():
    xs.sort()
    print(f"bench/init: {name:<26} median {statistics.median(xs):7.2f} ms   min {xs[0]:6.2f} ms   (n={len(xs)})")
EOF

if command -v strace >/dev/null; then
  HOME=$WORK/home strace -f -o "$WORK/init.strace" git-agent init bash >/dev/null
  calls=$(awk '/man-pages/{on=1} on' "$WORK/init.strace" | awk '/git-agent\.1/{print NR; exit}')
  echo "bench/init: the man-page check: ${calls:-?} system calls (from opening the stamp to the stat of git-agent.1)"
fi
