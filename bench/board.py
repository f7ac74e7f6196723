#!/usr/bin/env python3
"""The board, measured:

1. `git agent ls` with processes and activity, 20 slots of a 1,000-file repository, against
   the `ls` of BASELINE (git-agent just before the board: slots, ports, git state, LAND) on the
   same repository, in the same run, in alternating rounds; target at most 1.2x. Ten slots
   have an idle agent in them (a program called `claude`), three a dev server listening on its
   port, so the process scan, the sockets and the CPU sample all have work to do.
2. The process scan alone (one reading of the whole process table), with 500 processes on the
   machine: `GIT_AGENT_TIMINGS=1` makes `ls` print where its time went; target under 10 ms.
   `ls` on the 20 slots, so that the scan is measured amid the rest of the work.
3. `git agent ls --watch` on 10 unchanged slots (idle agents in them, the 500 processes still
   there) in a pty of 100x40 for a minute: the time of each refresh (target under 50 ms) and
   the CPU time the process used over the minute (target under 2% of one core).

Prints one JSON line per case, as bench/run reads them, and a summary on stderr.
Env: GIT_AGENT_BIN (default target/release/git-agent), BENCH_WORK (work dir), BENCH_QUICK=1
(fewer runs, a 20 s watch), BASELINE_BIN (an already built baseline; else built from
BASELINE into the work dir, once).
"""

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last commit before the board (`ls` as it was: slots, ports, git state, LAND).
BASELINE = "a60d3ad"
QUICK = bool(os.environ.get("BENCH_QUICK"))
BIN = os.environ.get("GIT_AGENT_BIN") or str(ROOT / "target" / "release" / "git-agent")
WORK = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="ga-bench-board.")).resolve()
started = []  # processes this script started, stopped at the end


def say(msg):
    print(f"bench/board: {msg}", file=sys.stderr, flush=True)


def emit(**row):
    print(json.dumps(row), flush=True)


def env(extra=None):
    e = dict(os.environ)
    home = WORK / "env"
    e.update({
        "HOME": str(home / "home"), "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C.UTF-8",
    })
    e.pop("NO_COLOR", None)
    if extra:
        e.update(extra)
    return e


def sh(cmd, cwd, extra=None):
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env(extra), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed: {p.stderr.strip()[-800:]}")
    return p.stdout


def baseline_bin():
    """git-agent as it was at BASELINE, built once into the work dir (its own target dir)."""
    if os.environ.get("BASELINE_BIN"):
        return os.environ["BASELINE_BIN"]
    dest = WORK / "baseline"
    exe = dest / "target" / "release" / "git-agent"
    marker = dest / "rev"
    if exe.exists() and marker.exists() and marker.read_text() == BASELINE:
        return str(exe)
    say(f"building the baseline git-agent at {BASELINE} (once; a release build takes minutes)")
    src = dest / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    subprocess.run(["nice", "cargo", "build", "--release", "--locked", "--quiet", "--target-dir", str(dest / "target")],
                   cwd=src, check=True)
    marker.write_text(BASELINE)
    return str(exe)


def make_repo(name, slots):
    """A repository of 1,000 files (10 MB) with `slots` slots; every third slot has an
    uncommitted change and every fifth a commit of its own, as bench/run's `ls` rows."""
    repo = WORK / "repos" / name / name
    if repo.parent.exists():
        shutil.rmtree(repo.parent)
    repo.mkdir(parents=True)
    for i in range(1000):
        d = repo / "src" / f"m{i % 20:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file{i:04d}.txt").write_text((f"line {i} " * 12 + "\n") * 80)
    (repo / ".git-agent.toml").write_text('[database]\nengine = "none"\n')
    sh("git init -q -b main && git add -A && git commit -q -m 'synthetic tree'", repo)
    for i in range(slots):
        sh(f"{BIN} add s{i:02d} --no-cd >/dev/null", repo)
        path = repo.parent / f"{name}-worktrees" / f"s{i:02d}"
        if i % 5 == 4:
            (path / "CHANGES.md").write_text(f"change {i}\n")
            sh("git add CHANGES.md && git commit -q -m work", path)
        if i % 3 == 2:
            with open(path / "src" / "m00" / "file0000.txt", "a") as f:
                f.write("edited\n")
    return repo


def start(argv, cwd):
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(p)
    return p


def populate(repo, agents, servers):
    """Idle agents (a program called `claude`) in the first `agents` slots, a dev server
    (`python3 -m http.server`) on the slot's PORT in the first `servers`."""
    claude = WORK / "bin" / repo.name / "claude"
    claude.parent.mkdir(parents=True, exist_ok=True)
    if not claude.exists():
        shutil.copy("/bin/sleep", claude)
    wt = repo.parent / f"{repo.name}-worktrees"
    for i in range(agents):
        start([str(claude), "100000"], wt / f"s{i:02d}")
    for i in range(servers):
        port = json.loads(sh(f"{BIN} env s{i:02d} --json", repo))["ports"]["PORT"]
        # A server that answers (a listener that never accepts fills its backlog, and then
        # every port probe waits for its timeout).
        start([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], wt / f"s{i:02d}")
    time.sleep(1)


def hyperfine(cmds, cwd, runs, rounds):
    """Alternating rounds (AB, BA, ...): {name: [[seconds of round 1], ...]}."""
    times = {name: [] for name, _ in cmds}
    for r in range(rounds):
        order = cmds if r % 2 == 0 else list(reversed(cmds))
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            argv = ["hyperfine", "-N", "--style", "none", "-w", "2", "-r", str(runs), "--export-json", out.name]
            argv += [f"--command-name={n}" for n, _ in order] + [c for _, c in order]
            p = subprocess.run(argv, cwd=cwd, env=env(), capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(p.stderr[-800:])
            for res in json.load(open(out.name))["results"]:
                times[res["command"]].append(res["times"])
    return times


def med_ms(rounds):
    return statistics.median(t for r in rounds for t in r) * 1000


def paired(a, b):
    return statistics.median(statistics.median(x) / statistics.median(y) for x, y in zip(a, b))


def row_ls():
    base = baseline_bin()
    repo = make_repo("board20", 20)
    populate(repo, agents=10, servers=3)
    cmds = [("board", f"{BIN} ls"), ("before", f"{base} ls"),
            ("board --no-status", f"{BIN} ls --no-status"), ("before --no-status", f"{base} ls --no-status")]
    t = hyperfine(cmds, repo, runs=5 if QUICK else 15, rounds=2 if QUICK else 4)
    r = paired(t["board"], t["before"])
    emit(row="board", case="ls, 20 slots, processes and activity", ours_ms=med_ms(t["board"]),
         peer="ls before the board", peer_ms=med_ms(t["before"]), ratio=r, target="≤ 1.2×", ok=r <= 1.2,
         note=f"10 idle agents, 3 servers; paired ratio of {len(t['board'])} alternating rounds")
    r = paired(t["board --no-status"], t["before --no-status"])
    emit(row="board", case="ls --no-status, 20 slots", ours_ms=med_ms(t["board --no-status"]),
         peer="ls --no-status before", peer_ms=med_ms(t["before --no-status"]), ratio=r, target="-", ok=None,
         note="slot records and port probes only: no git status, no processes (as before)")
    return repo


def timings(stderr):
    return [dict(scan=float(m[0]), procs=int(m[1]), attribute=float(m[2]), status=float(m[3]), read=int(m[4]),
                 sample=float(m[5]), total=float(m[6]))
            for m in re.findall(r"timing: scan ([\d.]+) ms \((\d+) processes\), attribute ([\d.]+) ms, "
                                r"status ([\d.]+) ms \((\d+) read\), sample ([\d.]+) ms, total ([\d.]+) ms", stderr)]


def count_processes():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def fill_processes(n):
    """Sleeping processes until the machine has about `n`."""
    have = count_processes()
    for _ in range(max(0, n - have)):
        start(["sleep", "100000"], "/")
    time.sleep(0.5)
    return count_processes()


def row_scan(repo):
    total = fill_processes(500)
    runs = 15 if QUICK else 40
    got = []
    for _ in range(runs):
        p = subprocess.run([BIN, "ls"], cwd=repo, env=env({"GIT_AGENT_TIMINGS": "1"}),
                           capture_output=True, text=True)
        got += timings(p.stderr)
    scan = statistics.median(g["scan"] for g in got)
    attribute = statistics.median(g["attribute"] for g in got)
    emit(row="board", case=f"process scan alone, {got[0]['procs']} processes", ours_ms=scan, peer="-", peer_ms=None,
         target="< 10 ms", ok=scan < 10,
         note=f"median of {len(got)}; then finding the slots' processes, their sockets and owners: {attribute:.2f} ms")
    return total


def row_watch(procs):
    repo = make_repo("watch10", 10)
    populate(repo, agents=5, servers=0)
    seconds = 20 if QUICK else 60
    log = WORK / "watch.err"
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(repo)
        with open(log, "w") as err:
            os.dup2(err.fileno(), 2)
        os.execve(BIN, [BIN, "ls", "--watch"], env({"GIT_AGENT_TIMINGS": "1", "TERM": "xterm-256color"}))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    t0 = time.monotonic()
    shown = 0
    while time.monotonic() - t0 < seconds:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                shown += len(os.read(fd, 65536))
            except OSError:
                break
    elapsed = time.monotonic() - t0
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    cpu_s = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    got = timings(log.read_text())
    steady = got[1:]  # the first reads every status
    refresh = statistics.median(g["total"] for g in steady)
    worst = max(g["total"] for g in steady)
    rechecks = sum(1 for g in steady if g["read"] > 0)
    share = cpu_s / elapsed * 100
    emit(row="board", case="ls --watch, 10 unchanged slots: one refresh", ours_ms=refresh, peer="-", peer_ms=None,
         target="< 50 ms", ok=worst < 50,
         note=f"median of {len(steady)} refreshes, the slowest {worst:.1f} ms ({rechecks} of them read one status again, 30 s after the last); "
              f"{got[0]['procs']} processes; the first, reading every status: {got[0]['total']:.1f} ms")
    emit(row="board", case=f"ls --watch, 10 unchanged slots: CPU over {elapsed:.0f} s", ours_ms=None, peer="-",
         peer_ms=None, target="< 2% of a core", ok=share < 2,
         note=f"{share:.2f}% of one core ({cpu_s * 1000:.0f} ms of CPU); {shown} bytes drawn; Ctrl-C exit {code}")


def main():
    # A fresh registry every run: the slots of a previous run's repositories are gone.
    shutil.rmtree(WORK / "env", ignore_errors=True)
    (WORK / "env" / "home").mkdir(parents=True, exist_ok=True)
    (WORK / "env" / "gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                                            "[init]\n\tdefaultBranch = main\n")
    if not shutil.which("hyperfine"):
        emit(row="board", case="all", skip="hyperfine is not installed")
        return
    try:
        repo = row_ls()
        procs = row_scan(repo)
        row_watch(procs)
    finally:
        for p in started:
            p.kill()
        for p in started:
            p.wait()
        shutil.rmtree(WORK / "repos", ignore_errors=True)


if __name__ == "__main__":
    main()
