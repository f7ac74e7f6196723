//! `git agent ls`: the board (`crate::board`): every worktree of the repository with what runs
//! in it, its git state, whether it is ready to land, its last activity and task; as a table,
//! as JSON, or redrawn in place. `--conflicts` is the landing module's own view.

use anyhow::Result;

use crate::board::{self, Gatherer, table};
use crate::cli::Ls;
use crate::git::Repo;
use crate::{output, slot};

pub fn run(args: &Ls) -> Result<()> {
    let cwd = crate::context::current_dir()?;
    let repo = Repo::discover(&cwd)?;
    if args.conflicts {
        let slots = slot::load_all(&repo.common_dir)?;
        let report = crate::land::pairwise::report(&repo, &slots, args.uncommitted)?;
        return if args.json {
            output::print_json(&report.json())
        } else {
            output::print(&report.text())
        };
    }
    if args.watch {
        return board::watch::run(&repo, &cwd, !args.no_status);
    }
    let board = Gatherer::new(!args.no_status).gather(&repo, &cwd, Some(crate::procs::SAMPLE))?;
    if args.json {
        return output::print_json(&board::json::board(&board));
    }
    if board
        .rows
        .iter()
        .all(|r| matches!(r.kind, board::Kind::Main))
    {
        eprintln!("git-agent: no slots yet; create one with `git agent add <branch>`");
    }
    let lines = table::lines(&board, &table::Style::for_stdout());
    output::print(&format!("{}\n", lines.join("\n")))
}
