//! The table at every width, piped, and where the system says nothing about processes.

use super::*;
use crate::board::gitstate::GitState;
use crate::land::readiness::Readiness;
use crate::procs::Proc;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn slot(name: &str, task: &str) -> crate::slot::Slot {
    toml::from_str(&format!(
            "version = 1\nname = \"{name}\"\nbranch = \"feature/{name}\"\npath = \"/home/u/src/app-worktrees/{name}\"\n\
             state = \"ready\"\nbase = \"main\"\nk = 1\nenv_file = \".env.local\"\ncreated = 0\ntask = \"{task}\"\n\
             [ports]\nPORT = 3001\n"
        ))
        .unwrap()
}

fn agent(name: &str, busy: bool, ports: Vec<u16>) -> Proc {
    Proc {
        pid: 10,
        parent: Some(1),
        name: name.into(),
        command: name.into(),
        cwd: PathBuf::from("/x"),
        started: 0,
        agent: (ports.is_empty()).then_some("claude"),
        shell: false,
        ports: Some(ports),
        busy: Some(busy),
        cpu_ms: 0,
        runnable: false,
    }
}

fn board(processes: Option<Vec<Proc>>) -> Board {
    let mut rows = vec![Row {
        kind: Kind::Main,
        path: PathBuf::from("/home/u/src/app"),
        branch: Some("main".into()),
        listening: BTreeMap::new(),
        git: Some(GitState::default()),
        landing: None,
        processes: processes.clone().map(|_| Vec::new()),
        activity: Some(100),
        here: true,
    }];
    for name in ["auth", "billing", "docs"] {
        rows.push(Row {
            kind: Kind::Slot(Box::new(slot(
                name,
                "A task note long enough to need shortening on a small terminal",
            ))),
            path: PathBuf::from(format!("/home/u/src/app-worktrees/{name}")),
            branch: Some(format!("feature/{name}")),
            listening: BTreeMap::from([("PORT".to_string(), true)]),
            landing: Some(Readiness {
                conflicts: Some(vec!["src/a.rs".into()]),
                ..Default::default()
            }),
            git: Some(GitState {
                changes: 2,
                ahead: Some(3),
                behind: Some(1),
                ..Default::default()
            }),
            processes: processes.clone(),
            activity: Some(40),
            here: false,
        });
    }
    Board {
        rows,
        now: 100,
        processes: true,
    }
}

fn style(width: Option<usize>) -> Style {
    Style {
        width,
        color: false,
        utf8: true,
        home: Some("/home/u".into()),
    }
}

#[test]
fn every_width_fits_and_the_columns_that_matter_stay_longest() {
    let b = board(Some(vec![
        agent("claude", true, vec![]),
        agent("vite", false, vec![5173]),
    ]));
    for w in 30..=220 {
        let lines = lines(&b, &style(Some(w)));
        for line in &lines {
            assert!(width(line) <= w, "{w}: {line:?}\n{}", lines.join("\n"));
        }
        if w >= 80 {
            let header = &lines[0];
            for kept in ["SLOT", "AGENT", "SERVERS", "GIT", "TASK"] {
                assert!(header.contains(kept), "{w}: {}", lines.join("\n"));
            }
            assert!(
                lines[2].contains("claude busy") && lines[2].contains("vite:5173"),
                "{w}: {}",
                lines.join("\n")
            );
            assert!(
                lines[2].contains("dirty(2) ↑3 ↓1"),
                "{w}: {}",
                lines.join("\n")
            );
        }
    }
    let wide = lines(&b, &style(Some(220))).join("\n");
    assert!(
        wide.contains("~/src/app-worktrees/auth"),
        "paths with ~: {wide}"
    );
    assert!(wide.contains("▶ (main)"), "{wide}");
}

#[test]
fn piped_nothing_is_cut_and_where_the_system_does_not_tell_it_says_unknown() {
    let b = board(None);
    let out = lines(&b, &style(None)).join("\n");
    assert!(
        out.contains("A task note long enough to need shortening on a small terminal"),
        "{out}"
    );
    assert!(out.contains("/home/u/src/app-worktrees/auth"), "{out}");
    let auth = out.lines().find(|l| l.contains("auth")).unwrap();
    assert_eq!(
        auth.matches("unknown").count(),
        2,
        "AGENT and SERVERS: {out}"
    );
    assert!(!out.contains("DATABASE"), "{out}");
}
