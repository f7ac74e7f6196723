//! Commands that change several things (`add`, `rm`) run as transactions: each step that
//! changes the world registers how to undo it; on an error or Ctrl-C the undos run in
//! reverse and the user is told what was undone.
//!
//! Test hooks (hidden, for the interruption tests): with `GIT_AGENT_TEST_FAIL_AT=<step>` the
//! named step fails; with `GIT_AGENT_TEST_PAUSE_AT=<step>` the process writes its pid to
//! `$GIT_AGENT_TEST_PAUSE_FILE` when it reaches the step and waits there until interrupted
//! (or killed), so a test can signal it at an exact point instead of relying on timing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::error::Interrupted;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static PRESSES: AtomicUsize = AtomicUsize::new(0);
static CHILD_OWNS_SIGNALS: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C (and SIGTERM/SIGHUP) handler: the first signal sets a flag that steps
/// check; a third one gives up on rolling back and exits 130 at once.
pub fn install_handler() {
    let _ = ctrlc::set_handler(|| {
        if CHILD_OWNS_SIGNALS.load(Ordering::SeqCst) {
            // The terminal sent the signal to the child too; its exit status tells the story.
            return;
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
        if PRESSES.fetch_add(1, Ordering::SeqCst) >= 2 {
            std::process::exit(130);
        }
    });
}

/// From now on a child program (an agent, a dev server) owns Ctrl-C: git-agent ignores it
/// and passes the child's exit status on.
pub fn pass_signals_to_child() {
    CHILD_OWNS_SIGNALS.store(true, Ordering::SeqCst);
    install_handler();
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The flag itself, for code that polls it during long work.
pub fn flag() -> &'static AtomicBool {
    &INTERRUPTED
}

type Undo = Box<dyn FnOnce() -> Result<()>>;

#[derive(Default)]
pub struct Txn {
    undos: Vec<(String, Undo)>,
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
        self.undos.push((what.into(), Box::new(undo)));
    }

    /// The work is complete: nothing will be undone.
    pub fn commit(mut self) {
        self.undos.clear();
    }

    /// Undoes everything in reverse, reporting each undo on stderr. Returns whether every
    /// undo succeeded.
    pub fn rollback(mut self) -> bool {
        let mut clean = true;
        while let Some((what, undo)) = self.undos.pop() {
            match undo() {
                Ok(()) if what.is_empty() => {}
                Ok(()) => eprintln!("git-agent: undone: {what}"),
                Err(e) => {
                    clean = false;
                    let what = if what.is_empty() { "a step" } else { &what };
                    eprintln!("git-agent: could not undo: {what}: {e:#}");
                }
            }
        }
        clean
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
                if error.downcast_ref::<Interrupted>().is_some() {
                    eprintln!("git-agent: interrupted; undoing what was done");
                } else {
                    eprintln!("git-agent: error: {error:#}");
                    eprintln!("git-agent: undoing what was done");
                }
                let clean = self.rollback();
                if !clean {
                    eprintln!(
                        "git-agent: some steps could not be undone; `git agent prune` finishes the cleanup"
                    );
                }
                if error.downcast_ref::<Interrupted>().is_some() {
                    Err(error)
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

fn test_hooks(step: &str) -> Result<()> {
    if std::env::var_os("GIT_AGENT_TEST_FAIL_AT").is_some_and(|s| s == step) {
        bail!("test failure injected at step '{step}'");
    }
    if std::env::var_os("GIT_AGENT_TEST_PAUSE_AT").is_some_and(|s| s == step) {
        if let Some(file) = std::env::var_os("GIT_AGENT_TEST_PAUSE_FILE") {
            let _ = std::fs::write(file, format!("{}\n", std::process::id()));
        }
        while !interrupted() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}
