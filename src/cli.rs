//! The command-line interface: clap definitions only. Completions and man pages are
//! generated from this, so it holds no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter};

/// The command line as parsed, shown by `--help` and rendered into the man pages: the derived
/// definition with the exit-status table at the end of every command's long help.
pub fn command() -> clap::Command {
    let exits = crate::error::exit_status_text();
    <Cli as clap::CommandFactory>::command()
        .after_long_help(exits.clone())
        .mut_subcommands(|sub| sub.after_long_help(exits.clone()))
}

#[derive(Debug, Parser)]
#[command(
    name = "git-agent",
    version,
    about = "A slot per parallel coding agent: worktree, branch, ports, database and env, in one command",
    long_about = "git-agent gives every parallel coding agent a slot: a linked git worktree on its own \
                  branch, with its own dev-server ports, database, Redis key prefix and Compose project \
                  name, written into the slot's .env.local and exported when you cd into it.",
    after_help = "Run as `git agent <command>`. `git agent --help` and `git agent help <command>` open the man pages.",
    max_term_width = 100,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a slot: worktree, branch, ports, database and env file
    Add(Add),
    /// The board: every slot with its agent (busy/idle), dev servers, git state and task
    ///
    /// Its LAND column says, per slot, whether the branch is integrated into its base (or the
    /// base's upstream) already, or whether merging it now would merge cleanly or conflict (an
    /// in-memory merge; nothing is written). `--conflicts` checks the slots against each other,
    /// pairwise, and proposes an order to land them in.
    #[command(visible_alias = "list")]
    Ls(Ls),
    /// Print a slot's environment
    Env(Env),
    /// Run a command in a slot's directory with the slot's environment
    Exec(Exec),
    /// Print a slot's path
    Path(PathArgs),
    /// Remove slots without losing work: refuses unsaved changes and running processes unless told
    ///
    /// The branch is deleted, without --force, when git-agent created it and it is integrated
    /// into the slot's base or the base's upstream: its commits are there, merging it would
    /// change nothing (a squash or rebase merge, a cherry-pick), or every commit's patch is
    /// there (`git cherry`). Otherwise nothing is removed, and the refusal lists the commits
    /// that are not in the base and how it checked.
    #[command(visible_alias = "remove")]
    Rm(Rm),
    /// Land a slot's branch on its base (tested, rebased, squashed by default), then remove the slot
    ///
    /// Refuses a slot with uncommitted changes. Rebases the branch onto the base in the slot,
    /// runs the template's `[merge] test` commands there with the slot's environment, lands it
    /// (one squashed commit, its commits with --rebase, or a merge commit with --no-ff) by a
    /// fast-forward of the worktree that has the base checked out, or a compare-and-swap of the
    /// base's ref, runs `[merge] after` there, and removes the slot as `rm` does. A conflict, a
    /// failing test or Ctrl-C at any step leaves the branch, the slot and the base as they were.
    Merge(Merge),
    /// Forget slots whose directory is gone and roll back slots a killed `add` left behind
    Prune(Prune),
    /// Print a slot's task note, or change it with --set
    Task(Task),
    /// Check this machine and repository for problems, each with the command that fixes it
    Doctor(Doctor),
    /// Make an existing linked worktree (made by `git worktree add` or another tool) a slot
    Adopt(Adopt),
    /// Approve the repository's setup commands (`[setup] run`), or list or revoke approvals
    Approve(Approve),
    /// Move the shell into a slot, with no SLOT to the main worktree, with `-` back (needs `init`)
    Cd(Cd),
    /// Print the shell integration script: env on cd, cd after add, completion
    ///
    /// Put it in your shell's startup file: `eval "$(git agent init bash)"` in ~/.bashrc,
    /// `eval "$(git agent init zsh)"` in ~/.zshrc (after compinit), `git agent init fish | source`
    /// in ~/.config/fish/config.fish.
    Init(Init),
    /// Install the man pages next to the binary, where `man` and `git agent --help` find them
    InstallMan(InstallMan),
    /// Make Claude Code's `claude --worktree NAME` create and remove git-agent slots (its hooks)
    Claude(Claude),
    /// Open the man page of git-agent or of a command (`-h` prints the built-in help)
    Help(Help),
    /// Run by the shell hook when the shell enters, leaves or switches slots
    #[command(hide = true)]
    HookEnv(HookEnv),
}

#[derive(Debug, Args)]
pub struct Claude {
    #[command(subcommand)]
    pub action: ClaudeAction,
}

#[derive(Debug, Subcommand)]
pub enum ClaudeAction {
    /// Write git-agent's WorktreeCreate and WorktreeRemove hooks into the repository's
    /// .claude/settings.local.json (merged with what is there; running it again changes nothing)
    Install(ClaudeInstall),
    /// Claude Code's WorktreeCreate hook: reads its JSON payload on stdin, makes the slot (or
    /// finds the one of that name), prints only its path
    #[command(hide = true)]
    WorktreeCreate,
    /// Claude Code's WorktreeRemove hook: reads its JSON payload on stdin and removes the slot
    /// at `worktree_path` as `rm` does, refusing to lose work
    #[command(hide = true)]
    WorktreeRemove,
}

#[derive(Debug, Args)]
pub struct ClaudeInstall {
    /// Print the merged settings on stdout instead of writing the file
    #[arg(long, conflicts_with = "json")]
    pub print: bool,
    /// Print the file written and whether it changed as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Help {
    /// The command whose page to open (default: git-agent's own)
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct Add {
    /// The branch: a new one, an existing local one, or a remote one (origin/x); an existing
    /// slot's name or branch goes to that slot
    #[arg(add = ArgValueCompleter::new(crate::complete::add_targets))]
    pub branch: String,
    /// Make a new slot, never go to an existing one (an error if BRANCH names one)
    #[arg(long)]
    pub new: bool,
    /// The slot's name (default: the branch made safe for paths, feature/auth → feature-auth)
    #[arg(long, value_name = "SLOT")]
    pub name: Option<String>,
    /// What a new branch starts from (default: [worktree] base, else what the worktree you stand in has checked out: its branch, or on a detached HEAD its commit)
    #[arg(long, value_name = "REF", add = ArgValueCompleter::new(crate::complete::branches))]
    pub from: Option<String>,
    /// Where the worktree goes (default: [worktree] path, else ../{repo}-worktrees/{slot})
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// Print the slot as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Do not move the shell into the slot (with shell integration, it does when typed at the prompt)
    #[arg(long)]
    pub no_cd: bool,
    #[command(flatten)]
    pub prep: Preparation,
    /// A command to run in the slot with its environment; git-agent exits with its status
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// What `add` and `adopt` share: the slot's task note and how its setup runs.
#[derive(Debug, Args)]
pub struct Preparation {
    /// A note of what the slot is for, shown by `ls` (the first line) and `task`
    #[arg(long, value_name = "TEXT", conflicts_with = "task_file")]
    pub task: Option<String>,
    /// Read the task note from a file
    #[arg(long, value_name = "FILE")]
    pub task_file: Option<PathBuf>,
    /// Skip [setup]: copy no files, run no commands
    #[arg(long)]
    pub no_setup: bool,
    /// Run the repository's setup commands this once without asking for approval
    #[arg(long, short)]
    pub yes: bool,
    /// Keep the slot when a setup command fails (it is rolled back otherwise)
    #[arg(long)]
    pub keep_on_failure: bool,
}

#[derive(Debug, Args)]
pub struct Ls {
    /// Print the slots as a JSON array
    #[arg(long)]
    pub json: bool,
    /// Skip each slot's git status and the look at its processes (faster: the records and the
    /// leased ports only)
    #[arg(long)]
    pub no_status: bool,
    /// Show which slots conflict with each other and with their base (pairwise, with the
    /// files) and an order to land them in that keeps conflicts fewest
    #[arg(long, conflicts_with = "no_status")]
    pub conflicts: bool,
    /// With --conflicts: count uncommitted and untracked changes as if committed
    #[arg(long, requires = "conflicts")]
    pub uncommitted: bool,
    /// Redraw the board in place every 2 s (and when a slot comes or goes) until Ctrl-C
    #[arg(long, conflicts_with_all = ["json", "conflicts"])]
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct Env {
    /// The slot (name or branch; default: the slot containing the current directory)
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slot: Option<String>,
    /// Print as a JSON object
    #[arg(long, conflicts_with_all = ["shell", "dotenv"])]
    pub json: bool,
    /// Print `export` statements for this shell, safe to eval for any value
    #[arg(long, value_enum, conflicts_with = "dotenv")]
    pub shell: Option<Shell>,
    /// Print KEY=value lines, quoted for dotenv readers (the default)
    #[arg(long)]
    pub dotenv: bool,
}

#[derive(Debug, Args)]
pub struct Exec {
    /// The slot (name or branch; default: the slot containing the current directory)
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slot: Option<String>,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PathArgs {
    /// The slot (name or branch; default: the slot containing the current directory)
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slot: Option<String>,
    /// Print the slot's name and path as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Rm {
    /// The slots (names or branches; default: the slot containing the current directory)
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slots: Vec<String>,
    /// Remove even if uncommitted changes, untracked files or unpushed commits would be lost, or
    /// processes still run in the slot (they are left running)
    #[arg(long, short)]
    pub force: bool,
    /// Stop the processes still running in the slot first: SIGTERM, then SIGKILL after 3 s
    /// (the command itself and the shell or agent that runs it are never stopped)
    #[arg(long)]
    pub kill: bool,
    /// Also delete the branch (refuses unmerged work without --force)
    #[arg(long, short = 'D', conflicts_with = "keep_branch")]
    pub delete_branch: bool,
    /// Keep the branch, even when merged; unmerged commits then stay safe on it
    #[arg(long, short = 'k')]
    pub keep_branch: bool,
    /// Print what was removed as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("strategy").args(["squash", "rebase", "no_ff"]))]
pub struct Merge {
    /// The slot (name or branch; default: the slot containing the current directory)
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slot: Option<String>,
    /// The branch to land on (default: the slot's base)
    #[arg(long, value_name = "BRANCH", add = ArgValueCompleter::new(crate::complete::branches))]
    pub into: Option<String>,
    /// Land one commit with the branch's changes (the default)
    #[arg(long)]
    pub squash: bool,
    /// Land the branch's commits, rebased, by fast-forward
    #[arg(long)]
    pub rebase: bool,
    /// Land a merge commit of the rebased branch
    #[arg(long)]
    pub no_ff: bool,
    /// The message of the squashed or merge commit (default: the task note and the commits' subjects)
    #[arg(short, long, value_name = "MSG")]
    pub message: Option<String>,
    /// Keep the slot after landing its branch
    #[arg(long)]
    pub keep: bool,
    /// Do not run the `[merge] test` commands
    #[arg(long)]
    pub no_test: bool,
    /// Run the repository's `[merge]` commands this once without approval
    #[arg(long, short)]
    pub yes: bool,
    /// Stop the processes still running in the slot first: SIGTERM, then SIGKILL after 3 s
    /// (the command itself and the shell or agent that runs it are never stopped)
    #[arg(long)]
    pub kill: bool,
    /// Print what would be done, change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print the result (or with --dry-run the plan) as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Prune {
    /// Say what would be done, change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Rebuild a damaged machine-wide registry from the slot records of known repositories
    #[arg(long)]
    pub repair: bool,
    /// Print what was (or would be) done as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Cd {
    /// The slot (name or branch); without it, the main worktree; `-`: back to where the last
    /// `add` or `cd` moved the shell from
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slot: Option<String>,
}

#[derive(Debug, Args)]
pub struct Init {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
    /// Print only the completion script (what `completions/` holds, for packaging)
    #[arg(long)]
    pub completions: bool,
}

#[derive(Debug, Args)]
pub struct InstallMan {
    /// Where to write the pages (default: share/man/man1 beside the binary's bin directory)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print where the pages went as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HookEnv {
    /// The shell's current directory ($PWD)
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct Task {
    /// The slot (default: the slot containing the current directory)
    #[arg(add = ArgValueCandidates::new(crate::complete::slots))]
    pub slot: Option<String>,
    /// Replace the task note with TEXT (an empty TEXT clears it)
    #[arg(long, value_name = "TEXT", conflicts_with = "set_file")]
    pub set: Option<String>,
    /// Replace the task note with the contents of FILE
    #[arg(long, value_name = "FILE")]
    pub set_file: Option<PathBuf>,
    /// Print the slot's name and task as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Doctor {
    /// Print the findings as a JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Adopt {
    /// The linked worktree's directory
    pub path: PathBuf,
    /// The slot's name (default: its branch made safe for paths)
    #[arg(long, value_name = "SLOT")]
    pub name: Option<String>,
    #[command(flatten)]
    pub prep: Preparation,
    /// Print the new slot as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct Approve {
    /// List the repository's setup commands and whether each is approved, change nothing
    #[arg(long, conflicts_with = "revoke")]
    pub list: bool,
    /// Forget every approval of this repository (its commands are asked about again)
    #[arg(long)]
    pub revoke: bool,
    /// Print the commands and their state (after the change) as JSON on stdout
    #[arg(long)]
    pub json: bool,
}
