//! A storm: `add`, `rm`, `prune` and `ls` at once over two repositories whose slots share
//! port bases (and, in one, each slot gets a Postgres database cloned from a template), with
//! random SIGKILLs of whole process groups in the middle of whatever they are doing. At the
//! end, `prune` must converge (a second run has nothing to do) and the machine must hold:
//! every lease has one record and one git worktree; no two slots share a port; no worktree,
//! branch, directory or database that no record names; no lock file left; `doctor` clean.
//!
//! The default run has a few rounds; the `#[ignore]`d stress test runs
//! `GIT_AGENT_STORM_ROUNDS` (default 20) and is run by `.ci/run`. The seed of the random
//! choices is printed (`GIT_AGENT_STORM_SEED` replays one).

mod harden;
#[path = "support/servers.rs"]
mod servers;
mod support;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{Env, text};

/// Default-run rounds.
const ROUNDS: usize = 3;
/// Processes started at once in each round.
const PROCESSES: usize = 20;
/// Slot names per repository, so that commands keep meeting on the same slots.
const NAMES: usize = 5;

/// xorshift64*: enough randomness for choosing commands and kill times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    std::env::var("GIT_AGENT_STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

struct Storm {
    env: Env,
    repos: [PathBuf; 2],
    pg: servers::Postgres,
}

impl Storm {
    fn new() -> Storm {
        let pg = servers::Postgres::start();
        pg.psql("postgres", "create database myapp_dev");
        pg.psql(
            "myapp_dev",
            "create table items (id int); insert into items select generate_series(1, 1000)",
        );
        let env = Env::new();
        let alpha = env.repo("alpha");
        let beta = env.repo("beta");
        env.commit(
            &beta,
            ".git-agent.toml",
            "[database]\nengine = \"postgres\"\ntemplate = \"myapp_dev\"\n",
        );
        Storm {
            env,
            repos: [alpha, beta],
            pg,
        }
    }

    fn cmd(&self, repo: &Path, args: &[String]) -> std::process::Command {
        let mut cmd = self.env.cmd(repo);
        cmd.args(args)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.pg.port.to_string())
            .env("PGUSER", "postgres");
        cmd
    }

    fn spawn(&self, repo: &Path, args: &[String]) -> Child {
        self.cmd(repo, args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn run(&self, repo: &Path, args: &[&str]) -> std::process::Output {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.cmd(repo, &args).output().unwrap()
    }
}

/// What one storm did.
#[derive(Default, Debug)]
struct Figures {
    processes: usize,
    kills: usize,
    /// git's own lock files (`packed-refs.lock`, ...) left by a git the kill stopped while it
    /// updated a ref: git refuses to go on until they are removed, as its message says.
    git_locks_removed: usize,
    prunes_to_converge: usize,
}

/// Removes the lock files a killed git left in the repository (never git-agent's own, which
/// are flocks and hold nothing), as git's message tells the user to; returns how many.
fn remove_git_locks(dir: &Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "agent" && name != "objects" {
                removed += remove_git_locks(&path);
            }
        } else if name.ends_with(".lock") {
            std::fs::remove_file(&path).unwrap();
            removed += 1;
        }
    }
    removed
}

fn random_command(rng: &mut Rng) -> Vec<String> {
    let name = format!("s{}", rng.below(NAMES as u64));
    let args: Vec<&str> = match rng.below(10) {
        0..=3 => vec!["add", &name],
        4..=5 => vec!["rm", &name],
        6 => vec!["rm", "--force", &name],
        7 => vec!["prune"],
        _ => vec!["ls", "--json", "--no-status"],
    };
    args.into_iter().map(str::to_string).collect()
}

fn storm(rounds: usize) -> Figures {
    let seed = seed();
    eprintln!("storm seed {seed} (GIT_AGENT_STORM_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let s = Storm::new();
    let mut figures = Figures::default();
    for _round in 0..rounds {
        let started = Instant::now();
        let mut running: Vec<(Child, Option<Duration>, Vec<String>)> = Vec::new();
        for _ in 0..PROCESSES {
            let repo = &s.repos[rng.below(2) as usize];
            let args = random_command(&mut rng);
            // About one in three is killed, at a random moment of its run.
            let kill_at = (rng.below(3) == 0).then(|| Duration::from_millis(rng.below(400)));
            running.push((s.spawn(repo, &args), kill_at, args));
        }
        figures.processes += running.len();
        loop {
            let mut alive = 0;
            for (child, kill_at, _) in running.iter_mut() {
                if child.try_wait().unwrap().is_some() {
                    continue;
                }
                alive += 1;
                if kill_at.is_some_and(|at| started.elapsed() >= at) {
                    harden::signal_group(child.id(), "KILL");
                    *kill_at = None;
                    figures.kills += 1;
                }
            }
            if alive == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the storm's commands did not end"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        for (child, _, args) in running {
            let out = child.wait_with_output().unwrap();
            let err = text(&out.stderr);
            assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
            // Whatever they say, they end with a documented status (or die of the kill).
            let code = out.status.code();
            assert!(
                matches!(code, None | Some(0) | Some(1) | Some(3) | Some(4)),
                "{args:?} exited {code:?}: {err}"
            );
        }
    }
    for repo in &s.repos {
        figures.git_locks_removed += remove_git_locks(&harden::common_dir(repo));
    }
    // prune converges: the first run finishes what the kills left, the next has nothing to do.
    for repo in &s.repos {
        let mut runs = 0;
        loop {
            runs += 1;
            let out = s.run(repo, &["prune"]);
            let err = text(&out.stderr);
            assert!(out.status.success(), "prune failed: {err}");
            if err.contains("nothing to prune") {
                break;
            }
            assert!(runs < 3, "prune does not converge (run {runs}): {err}");
        }
        figures.prunes_to_converge = figures.prunes_to_converge.max(runs);
    }
    check_invariants(&s);
    eprintln!("storm figures: {figures:?}");
    figures
}

fn check_invariants(s: &Storm) {
    let env = &s.env;
    let [alpha, beta] = &s.repos;
    // Every lease has one record and one git worktree, every record is ready, no port or
    // root is leased twice, the hook's roots file matches.
    harden::assert_consistent(env, &[alpha, beta]);
    let mut databases = BTreeSet::new();
    for repo in &s.repos {
        let records = harden::records(repo);
        let paths: BTreeSet<String> = records
            .values()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        // No worktree that no record names.
        let list = env.git(repo, &["worktree", "list", "--porcelain"]);
        let worktrees: BTreeSet<String> = list
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .filter(|w| Path::new(w) != repo.as_path())
            .map(str::to_string)
            .collect();
        assert_eq!(worktrees, paths, "orphan worktrees in {}", repo.display());
        // No branch that no record names (only `add` makes branches here).
        let branches = harden::branches(env, repo);
        let wanted: BTreeSet<String> = records
            .values()
            .map(|r| r["branch"].as_str().unwrap().to_string())
            .chain(std::iter::once("main".to_string()))
            .collect();
        assert_eq!(branches, wanted, "orphan branches in {}", repo.display());
        // No directory left in the worktrees directory.
        let holder = repo.parent().unwrap().join(format!(
            "{}-worktrees",
            repo.file_name().unwrap().to_string_lossy()
        ));
        let dirs: BTreeSet<String> = std::fs::read_dir(&holder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().to_string_lossy().into_owned())
            .collect();
        assert_eq!(dirs, paths, "stray directories in {}", holder.display());
        // No lock file left behind.
        let slots = harden::common_dir(repo).join("agent/slots");
        let locks: Vec<String> = std::fs::read_dir(&slots)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".lock"))
            .collect();
        assert!(locks.is_empty(), "lock files left: {locks:?}");
        for record in records.values() {
            if let Some(name) = record
                .get("resources")
                .and_then(|r| r.get("database"))
                .and_then(|d| d.get("name"))
                .and_then(|n| n.as_str())
            {
                databases.insert(name.to_string());
            }
        }
        let out = s.run(repo, &["doctor", "--json"]);
        let errors = harden::doctor_errors(&out);
        assert!(
            errors.is_empty(),
            "doctor in {}: {errors:#?}",
            repo.display()
        );
    }
    // No database that no record names.
    let mut found: BTreeSet<String> = s.pg.databases().into_iter().collect();
    found.remove("myapp_dev");
    assert_eq!(found, databases, "orphan databases");
}

#[test]
fn a_storm_of_adds_rms_prunes_and_kills_leaves_every_invariant() {
    let figures = storm(ROUNDS);
    assert_eq!(figures.processes, ROUNDS * PROCESSES);
}

#[test]
#[ignore = "stress: run by .ci/run with GIT_AGENT_STORM_ROUNDS"]
fn stress_storm() {
    let rounds = std::env::var("GIT_AGENT_STORM_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    storm(rounds);
}
