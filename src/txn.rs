//! Commands that change several things (`add`, `rm`) run as transactions: each step that
//! changes the world registers how to undo it; on an error or Ctrl-C the undos run in
//! reverse and the user is told what was undone.
//!
//! A terminal's Ctrl-C reaches the whole process group, so the child running at that moment
//! (git, psql, cp, a setup command) usually dies of it before git-agent's handler has set its
//! flag: [`child_status`] counts a child that died of SIGINT, SIGTERM or SIGHUP as the
//! interruption (exit 130), never as that child's failure.
//!
//! A transaction can [`hold`](Txn::hold) guards (a slot's lock) until its rollback is over,
//! and its first undo can be [`on_undo_last`](Txn::on_undo_last): run only when every later
//! undo succeeded, otherwise something else (keeping the slot's record, marked broken).
//!
//! Test hooks (hidden, for the interruption tests): with `GIT_AGENT_TEST_FAIL_AT=<step>` the
//! named step fails; with `GIT_AGENT_TEST_PAUSE_AT=<step>` the process writes its pid to
//! `$GIT_AGENT_TEST_PAUSE_FILE` when it reaches the step and waits there until interrupted
//! (or killed), or until the file `$GIT_AGENT_TEST_RESUME_FILE` appears, so a test can signal
//! it, or race another command against it, at an exact point instead of relying on timing.
//! [`checkpoint`] is such a point outside a transaction (`prune` between reading the records
//! and acting on them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Once};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::error::Interrupted;

/// Set by the signal handler itself, in the signal's own context: by the time a child that
/// the same Ctrl-C stopped (psql cancels its query and exits 1) has been waited for, the flag
/// is already up, so the child's failure is never taken for an error of its own.
static INTERRUPTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
/// Set while a rollback runs: the interruption it answers does not stop its undos.
static ROLLING_BACK: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C (and SIGTERM/SIGHUP) handler: the first signal sets a flag that steps
/// check; a third one gives up on rolling back and exits 130 at once.
pub fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let signals = [SIGINT, SIGTERM, SIGHUP];
        for signal in signals {
            let _ = signal_hook::flag::register(signal, Arc::clone(&INTERRUPTED));
        }
        // Counting presses needs more than a flag: a thread that hears each one.
        if let Ok(mut heard) = signal_hook::iterator::Signals::new(signals) {
            std::thread::spawn(move || {
                for (presses, _) in heard.forever().enumerate() {
                    if presses >= 2 {
                        std::process::exit(130);
                    }
                }
            });
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The flag itself, for code that polls it during long work.
pub fn flag() -> &'static AtomicBool {
    &INTERRUPTED
}

type Undo = Box<dyn FnOnce() -> Result<()>>;
type Otherwise = Box<dyn FnOnce(&[String]) -> Result<()>>;

#[derive(Default)]
pub struct Txn {
    undos: Vec<(String, Undo, Option<Otherwise>)>,
    held: Vec<Box<dyn std::any::Any>>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }

    /// Marks the start of a named step: stops if interrupted, and runs the test hooks.
    pub fn step(&mut self, name: &str) -> Result<()> {
        check_interrupt()?;
        test_hooks(name)?;
        check_interrupt()
    }

    /// Registers how to undo something that was just done (or is about to be); `what`
    /// completes "undone: ...", or is empty when the undo says itself what it undid.
    pub fn on_undo(
        &mut self,
        what: impl Into<String>,
        undo: impl FnOnce() -> Result<()> + 'static,
    ) {
        self.undos.push((what.into(), Box::new(undo), None));
    }

    /// Registers an undo that runs only if every undo registered after it succeeded; if one
    /// failed, `otherwise` runs instead, with what could not be undone (so a slot's record is
    /// kept, marked broken, instead of forgetting what is left).
    pub fn on_undo_last(
        &mut self,
        what: impl Into<String>,
        undo: impl FnOnce() -> Result<()> + 'static,
        otherwise: impl FnOnce(&[String]) -> Result<()> + 'static,
    ) {
        self.undos
            .push((what.into(), Box::new(undo), Some(Box::new(otherwise))));
    }

    /// Keeps `guard` (a slot's lock) until the transaction is committed or rolled back.
    pub fn hold(&mut self, guard: impl std::any::Any) {
        self.held.push(Box::new(guard));
    }

    /// The work is complete: nothing will be undone.
    pub fn commit(mut self) {
        self.undos.clear();
    }

    /// Undoes everything in reverse, reporting each undo on stderr. Returns whether every
    /// undo succeeded.
    pub fn rollback(mut self) -> bool {
        ROLLING_BACK.store(true, Ordering::SeqCst);
        let mut failed: Vec<String> = Vec::new();
        while let Some((what, undo, otherwise)) = self.undos.pop() {
            let result = match otherwise {
                Some(keep) if !failed.is_empty() => {
                    if let Err(e) = keep(&failed) {
                        eprintln!("git-agent: could not record what is left: {e:#}");
                    }
                    continue;
                }
                _ => undo(),
            };
            match result {
                Ok(()) if what.is_empty() => {}
                Ok(()) => eprintln!("git-agent: undone: {what}"),
                Err(e) => {
                    let what = if what.is_empty() {
                        "a step"
                    } else {
                        what.as_str()
                    };
                    eprintln!("git-agent: could not undo: {what}: {e:#}");
                    failed.push(format!("{what}: {e:#}"));
                }
            }
        }
        ROLLING_BACK.store(false, Ordering::SeqCst);
        failed.is_empty()
    }

    /// Runs `work`; on failure rolls back and returns the error (an interrupt, if one came).
    pub fn run<T>(mut self, work: impl FnOnce(&mut Txn) -> Result<T>) -> Result<T> {
        match work(&mut self) {
            Ok(value) => {
                self.commit();
                Ok(value)
            }
            Err(error) => {
                let error = if interrupted() && error.downcast_ref::<Interrupted>().is_none() {
                    anyhow::Error::new(Interrupted)
                } else {
                    error
                };
                // "Undoing" only when there is something to undo: a refusal before the first
                // change has nothing to take back.
                let undoing = if self.undos.is_empty() {
                    ""
                } else {
                    "; undoing what was done"
                };
                if error.downcast_ref::<Interrupted>().is_some() {
                    eprintln!("git-agent: interrupted{undoing}");
                } else {
                    eprintln!("git-agent: error: {error:#}");
                    if !undoing.is_empty() {
                        eprintln!("git-agent: undoing what was done");
                    }
                }
                let clean = self.rollback();
                if !clean {
                    eprintln!(
                        "git-agent: some steps could not be undone; what is left stays listed (`git agent ls`, \
                         `git agent doctor`) and `git agent prune` tries again"
                    );
                }
                if error.downcast_ref::<Interrupted>().is_some() {
                    // Only the interruption: what the child said as it died is not news.
                    Err(Interrupted.into())
                } else {
                    Err(crate::error::reported(&error))
                }
            }
        }
    }
}

pub fn check_interrupt() -> Result<()> {
    if interrupted() {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// Whether a child's exit status means it died of the interruption (SIGINT, SIGTERM or
/// SIGHUP, directly or as a shell's 128+n), or git-agent itself was interrupted meanwhile.
/// Then the flag is set, as the terminal's signal reaches git-agent too, maybe a moment later.
pub fn child_interrupted(status: &std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    const SIGNALS: [i32; 3] = [2, 15, 1];
    let by_signal = status.signal().is_some_and(|s| SIGNALS.contains(&s))
        || status
            .code()
            .is_some_and(|c| SIGNALS.iter().any(|s| c == 128 + s));
    if by_signal && !status.success() {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
    !status.success() && (by_signal || stop_requested())
}

/// Whether work should stop for an interruption: interrupted, and not in the rollback that
/// answers it (whose undos must run, and whose children's failures are their own).
pub fn stop_requested() -> bool {
    interrupted() && !ROLLING_BACK.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` when a child's exit status says the interruption ended it (see
/// [`child_interrupted`]); `Ok(())` otherwise, for the caller to judge the status.
pub fn child_status(status: &std::process::ExitStatus) -> Result<()> {
    if !status.success() && child_interrupted(status) {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// `Err(Interrupted)` when [`stop_requested`].
pub fn stop_if_requested() -> Result<()> {
    if stop_requested() {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// A named point outside a transaction where the test hooks can pause the process.
pub fn checkpoint(name: &str) {
    let _ = test_hooks(name);
}

fn test_hooks(step: &str) -> Result<()> {
    if std::env::var_os("GIT_AGENT_TEST_FAIL_AT").is_some_and(|s| s == step) {
        bail!("test failure injected at step '{step}'");
    }
    if std::env::var_os("GIT_AGENT_TEST_PAUSE_AT").is_some_and(|s| s == step) {
        if let Some(file) = std::env::var_os("GIT_AGENT_TEST_PAUSE_FILE") {
            let _ = std::fs::write(file, format!("{}\n", std::process::id()));
        }
        let resume = std::env::var_os("GIT_AGENT_TEST_RESUME_FILE").map(std::path::PathBuf::from);
        while !interrupted() && !resume.as_ref().is_some_and(|f| f.exists()) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}
