//! The JSON contract: `docs/json.md` documents the JSON of every command that prints it. The commands are run for real and their output is checked against the tables in
//! both directions: every documented field is printed with its documented type, and every
//! printed field is documented.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use support::Env;

/// The tables of docs/json.md: section heading -> field path -> type.
fn contract() -> BTreeMap<String, BTreeMap<String, String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut sections = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = Some(heading.to_string());
            continue;
        }
        let Some(section) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `field` | type | meaning |
        if cells.len() >= 4
            && let Some(field) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`'))
        {
            let table: &mut BTreeMap<String, String> = sections.entry(section.clone()).or_default();
            let old = table.insert(field.to_string(), cells[2].to_string());
            assert!(old.is_none(), "{field} is documented twice under {section}");
        }
    }
    sections
}

fn section<'a>(
    contract: &'a BTreeMap<String, BTreeMap<String, String>>,
    name: &str,
) -> &'a BTreeMap<String, String> {
    contract
        .iter()
        .find(|(heading, _)| heading.contains(name))
        .map(|(_, table)| table)
        .unwrap_or_else(|| panic!("docs/json.md has no section for {name}"))
}

fn type_ok(value: &Value, documented: &str) -> bool {
    let (base, nullable) = match documented.strip_suffix('?') {
        Some(base) => (base, true),
        None => (documented, false),
    };
    match value {
        Value::Null => nullable,
        Value::String(_) => base == "string",
        Value::Number(_) => base == "number",
        Value::Bool(_) => base == "boolean",
        Value::Object(_) => base == "object",
        Value::Array(_) => base == "array",
    }
}

/// Checks `value` (found at documented path `path`) and everything under it; records the
/// documented paths seen.
fn check(
    value: &Value,
    path: &str,
    doc: &BTreeMap<String, String>,
    seen: &mut BTreeSet<String>,
    errors: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let literal = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let wildcard = doc.keys().find(|k| {
                    k.strip_prefix(&format!("{path}."))
                        .is_some_and(|rest| rest.starts_with('<') && !rest.contains('.'))
                });
                let field = if doc.contains_key(&literal) {
                    literal
                } else if let Some(w) = wildcard.filter(|_| !path.is_empty()) {
                    w.clone()
                } else {
                    errors.push(format!("{literal} is printed but not documented"));
                    continue;
                };
                if !type_ok(child, &doc[&field]) {
                    errors.push(format!("{field} is {child}, documented as {}", doc[&field]));
                }
                seen.insert(field.clone());
                check(child, &field, doc, seen, errors);
            }
        }
        Value::Array(items) => {
            let field = format!("{path}[]");
            for item in items {
                // Elements that are not objects are documented as `a[]` themselves.
                if !item.is_object() {
                    match doc.get(&field) {
                        Some(documented) if type_ok(item, documented) => {}
                        Some(documented) => {
                            errors.push(format!("{field} is {item}, documented as {documented}"))
                        }
                        None => errors.push(format!("{field} is printed but not documented")),
                    }
                    seen.insert(field.clone());
                }
                check(item, &field, doc, seen, errors);
            }
        }
        _ => {}
    }
}

/// Checks samples of one command's output against its section: no undocumented field, every
/// type right, every documented field seen at least once.
fn conforms(name: &str, samples: &[Value]) {
    let contract = contract();
    let doc = section(&contract, name);
    let mut seen = BTreeSet::new();
    let mut errors = Vec::new();
    for sample in samples {
        // `ls` prints an array; its section documents the elements.
        let objects = match sample {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for object in objects {
            check(object, "", doc, &mut seen, &mut errors);
        }
    }
    for field in doc.keys() {
        if !seen.contains(field) {
            errors.push(format!("{field} is documented but never printed"));
        }
    }
    assert!(
        errors.is_empty(),
        "{name}:\n  {}\n{samples:#?}",
        errors.join("\n  ")
    );
}

/// A `sleep` running in a directory (a process in a slot), ended with the test.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start(dir: &Path) -> Sleeper {
        let child = std::process::Command::new("sleep")
            .arg("600")
            .current_dir(dir)
            .spawn()
            .unwrap();
        Sleeper(child)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A repository with a slot that has a task, a second one without, and one adopted.
fn setup() -> (Env, std::path::PathBuf) {
    let env = Env::new();
    let repo = env.repo("app");
    (env, repo)
}

#[test]
fn add_and_adopt_match_the_contract() {
    let (env, repo) = setup();
    let with_task = env.json(&repo, &["add", "feat", "--task", "Build it", "--json"]);
    let plain = env.json(&repo, &["add", "plain", "--json"]);
    let wt = env.root().join("hand");
    env.git(
        &repo,
        &["worktree", "add", "-q", "-b", "hand", wt.to_str().unwrap()],
    );
    let adopted = env.json(&repo, &["adopt", wt.to_str().unwrap(), "--json"]);
    assert_eq!(with_task["version"], 2);
    assert_eq!(adopted["name"], "hand");
    conforms("add --json", &[with_task, plain, adopted]);
}

#[test]
fn env_matches_the_contract() {
    let (env, repo) = setup();
    env.ok(&repo, &["add", "feat", "--task", "Build it"]);
    std::fs::write(
        repo.join(".git-agent.toml"),
        "[database]\nengine = \"none\"\n",
    )
    .unwrap();
    env.ok(&repo, &["add", "nodb"]);
    let _worker = Sleeper::start(&repo.parent().unwrap().join("app-worktrees/feat"));
    let samples = [
        env.json(&repo, &["env", "feat", "--json"]),
        env.json(&repo, &["env", "nodb", "--json"]),
    ];
    assert!(samples[1]["database"].is_null());
    assert_eq!(samples[0]["agent"], "sleep", "{:#}", samples[0]);
    conforms("env SLOT --json", &samples);
}

#[test]
fn ls_matches_the_contract() {
    let (env, repo) = setup();
    env.ok(&repo, &["add", "feat", "--task", "Build it"]);
    env.ok(&repo, &["add", "other"]);
    // A slot whose branch would conflict with main.
    env.ok(&repo, &["add", "clash"]);
    env.commit(
        &repo.parent().unwrap().join("app-worktrees/clash"),
        "README",
        "clash\n",
    );
    env.commit(&repo, "README", "main\n");
    // Worktrees that are not slots: one by plain `git worktree add`, one where Claude Code
    // puts its own, and one on a detached HEAD.
    let plain = env.root().join("plain-wt");
    env.worktree_add(&repo, "plain", &plain);
    let claude = repo.join(".claude/worktrees/fix-bug");
    env.worktree_add(&repo, "worktree-fix-bug", &claude);
    let loose = env.root().join("loose");
    env.git(
        &repo,
        &["worktree", "add", "-q", "--detach", loose.to_str().unwrap()],
    );
    let _worker = Sleeper::start(&repo.parent().unwrap().join("app-worktrees/feat"));
    let full = env.json(&repo, &["ls", "--json"]);
    let quick = env.json(&repo, &["ls", "--no-status", "--json"]);
    let kind = |v: &Value, k: &str| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == k)
            .cloned()
            .collect()
    };
    assert_eq!(kind(&full, "slot").len(), 3);
    assert_eq!(kind(&full, "worktree").len(), 3);
    assert!(quick[0]["git"].is_null());
    let empty_repo = env.repo("empty");
    assert_eq!(
        env.json(&empty_repo, &["ls", "--json"]),
        serde_json::json!([])
    );
    let mut slots = kind(&full, "slot");
    slots.extend(kind(&quick, "slot"));
    conforms("ls --json`: slots", &slots);
    conforms("ls --json`: worktrees", &kind(&full, "worktree"));
}

#[test]
fn doctor_matches_the_contract() {
    let (env, repo) = setup();
    env.ok(&repo, &["add", "feat"]);
    std::fs::remove_dir_all(repo.parent().unwrap().join("app-worktrees/feat")).unwrap();
    let out = env.run(&repo, &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        value["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["slot"] == "feat")
    );
    conforms("doctor --json", &[value]);
}

/// The last line of stderr, parsed as the JSON error object.
fn json_error(out: &std::process::Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not a JSON error ({e}): {stderr}"))
}

#[test]
fn errors_have_distinct_exit_codes_and_are_json_with_json() {
    let (env, repo) = setup();
    env.ok(&repo, &["add", "dirty", "--no-cd"]);
    let slot = repo.parent().unwrap().join("app-worktrees/dirty");
    std::fs::write(slot.join("notes.txt"), "unsaved\n").unwrap();

    // Refused because work would be lost: 3.
    let stderr = env.fails(&repo, &["rm", "dirty"], 3);
    assert!(stderr.contains("untracked file"), "{stderr}");
    assert!(slot.join("notes.txt").exists());

    // A plain error stays 1; with --json it is the JSON object too.
    let out = env.run(&repo, &["env", "nosuch", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_error(&out)["error"]["kind"], "error");

    // A command that cannot be found: 127 (as a shell says), not a generic 1.
    let stderr = env.fails(&repo, &["exec", "dirty", "--", "no-such-program-x"], 127);
    assert!(
        stderr.contains("command not found: no-such-program-x"),
        "{stderr}"
    );

    // A bad command line with --json: a usage error (2) as JSON, nothing on stdout.
    let out = env.run(&repo, &["ls", "--json", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(json_error(&out)["error"]["kind"], "usage");
}

/// Every command that changes something takes `--json`: rm, prune, task, path, approve,
/// install-man, each checked against its table.
#[test]
fn commands_that_change_something_print_json() {
    let (env, repo) = setup();
    env.ok(&repo, &["add", "one", "--no-cd", "--task", "First"]);
    env.ok(&repo, &["add", "two", "--no-cd"]);
    let slot = repo.parent().unwrap().join("app-worktrees/one");
    std::fs::write(slot.join("scratch.log"), "x\n").unwrap();
    std::fs::write(slot.join(".gitignore"), "*.log\n").unwrap();
    env.git(&slot, &["add", ".gitignore"]);
    env.git(&slot, &["commit", "-q", "-m", "ignore logs"]);
    env.git(&repo, &["merge", "-q", "one"]);

    let task = env.json(&repo, &["task", "one", "--json"]);
    assert_eq!(task["task"], "First");
    let set = env.json(&repo, &["task", "two", "--set", "Second", "--json"]);
    assert_eq!(set["task"], "Second");
    let cleared = env.json(&repo, &["task", "two", "--set", "", "--json"]);
    assert!(cleared["task"].is_null());
    conforms("task --json", &[task, set, cleared]);

    let path = env.json(&slot, &["path", "--json"]);
    assert_eq!(path["name"], "one");
    assert_eq!(path["path"], slot.display().to_string());
    conforms("path --json", &[path]);

    let removed = env.json(&repo, &["rm", "one", "two", "--json"]);
    let list = removed["removed"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "one");
    assert_eq!(list[0]["branch_deleted"], true);
    assert_eq!(
        list[0]["ignored_removed"],
        serde_json::json!(["scratch.log"])
    );
    assert!(!list[0]["released"].as_array().unwrap().is_empty());
    conforms("rm --json", &[removed]);

    // prune: a slot whose directory is gone, and a lease whose record is gone.
    env.ok(&repo, &["add", "gone", "--no-cd"]);
    env.ok(&repo, &["add", "orphan", "--no-cd"]);
    std::fs::remove_dir_all(repo.parent().unwrap().join("app-worktrees/gone")).unwrap();
    let common = repo.join(".git/agent/slots/orphan.toml");
    std::fs::remove_file(common).unwrap();
    let dry = env.json(&repo, &["prune", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    let pruned = env.json(&repo, &["prune", "--json"]);
    assert_eq!(pruned["forgotten"][0]["name"], "gone");
    assert_eq!(pruned["leases_dropped"][0]["name"], "orphan");
    let repaired = env.json(&repo, &["prune", "--repair", "--json"]);
    assert_eq!(repaired["repaired"]["repositories"], 1);
    conforms("prune --json", &[dry, pruned, repaired]);

    std::fs::write(
        repo.join(".git-agent.toml"),
        "[setup]\nrun = [\"true\", \"echo hi\"]\n",
    )
    .unwrap();
    let listed = env.json(&repo, &["approve", "--list", "--json"]);
    assert_eq!(listed["commands"][0]["state"], "pending");
    let approved = env.json(&repo, &["approve", "--json"]);
    assert_eq!(approved["approved"].as_array().unwrap().len(), 2);
    assert_eq!(approved["commands"][1]["state"], "approved");
    let revoked = env.json(&repo, &["approve", "--revoke", "--json"]);
    assert_eq!(revoked["revoked"], 2);
    conforms("approve --json", &[listed, approved, revoked]);

    let dir = env.root().join("pages");
    let man = env.json(
        &repo,
        &["install-man", "--dir", dir.to_str().unwrap(), "--json"],
    );
    assert!(dir.join("git-agent.1").is_file());
    assert!(man["pages"].as_array().unwrap().len() > 10);
    conforms("install-man --json", &[man]);
}

#[test]
fn ls_conflicts_matches_the_contract() {
    let (env, repo) = setup();
    env.commit(&repo, "shared.txt", "one\n");
    let wt = |name: &str| repo.parent().unwrap().join("app-worktrees").join(name);
    for name in ["a", "b", "c", "landed", "odd"] {
        env.ok(&repo, &["add", name]);
    }
    env.commit(&wt("a"), "shared.txt", "a\n");
    env.commit(&wt("b"), "shared.txt", "b\n");
    env.commit(&wt("c"), "c.txt", "c\n");
    env.commit(&repo, "shared.txt", "main\n");
    env.commit(&wt("landed"), "l.txt", "l\n");
    env.git(&repo, &["merge", "-q", "--squash", "landed"]);
    env.git(&repo, &["commit", "-q", "-m", "landed"]);
    // A slot whose base is gone is left out, with why.
    let record = repo.join(".git/agent/slots/odd.toml");
    let text = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, text.replace("base = \"main\"", "base = \"gone\"")).unwrap();
    std::fs::write(wt("c").join("wip.txt"), "wip\n").unwrap();
    let committed = env.json(&repo, &["ls", "--conflicts", "--json"]);
    let uncommitted = env.json(&repo, &["ls", "--conflicts", "--uncommitted", "--json"]);
    assert_eq!(
        committed["pairs"].as_array().unwrap().len(),
        1,
        "{committed:#}"
    );
    assert_eq!(committed["integrated"][0], "landed");
    assert_eq!(committed["skipped"][0]["name"], "odd");
    assert_eq!(uncommitted["uncommitted"], true);
    conforms("ls --conflicts --json", &[committed, uncommitted]);
}

#[test]
fn merge_matches_the_contract() {
    let (env, repo) = setup();
    let wt = |name: &str| repo.parent().unwrap().join("app-worktrees").join(name);
    env.commit(
        &repo,
        ".git-agent.toml",
        "[merge]\ntest = [\"true\"]\nafter = [\"true\"]\n",
    );
    env.ok(&repo, &["add", "feat", "--task", "Build it"]);
    env.commit(&wt("feat"), "f.txt", "f\n");
    env.commit(&repo, "m.txt", "m\n");
    let plan = env.json(&repo, &["merge", "feat", "--dry-run", "--json"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["unapproved"].as_array().unwrap().len(), 2);
    let done = env.json(&repo, &["merge", "feat", "--yes", "--json"]);
    assert_eq!(done["tested"][0], "true");
    assert_eq!(done["after_ran"][0], "true");
    assert_eq!(done["landed"], true);
    assert_eq!(done["removed"], true);
    assert_eq!(done["moved"], "worktree");
    // Nothing to land: integrated already, kept.
    env.ok(&repo, &["add", "fresh"]);
    let nothing = env.json(&repo, &["merge", "fresh", "--keep", "--rebase", "--json"]);
    assert_eq!(nothing["integrated"], true);
    assert!(nothing["new"].is_null());
    let squash_plan = env.json(&repo, &["merge", "fresh", "--dry-run", "--json"]);
    assert_eq!(squash_plan["integrated"], true);
    assert!(squash_plan["message"].is_null(), "{squash_plan:#}");
    // A refusal is the JSON error on stderr, with the kind's exit code.
    env.ok(&repo, &["add", "dirty"]);
    std::fs::write(wt("dirty").join("x.txt"), "x\n").unwrap();
    let out = env.run(&repo, &["merge", "dirty", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    assert_eq!(json_error(&out)["error"]["kind"], "refused");
    conforms("merge --json", &[plan, done, nothing]);
}

#[test]
fn claude_install_matches_the_contract() {
    let (env, repo) = setup();
    let first = env.json(&repo, &["claude", "install", "--json"]);
    let second = env.json(&repo, &["claude", "install", "--json"]);
    assert_eq!(
        (first["changed"].clone(), second["changed"].clone()),
        (true.into(), false.into())
    );
    conforms("claude install --json", &[first, second]);
}
