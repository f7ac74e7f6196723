//! Data isolation per slot, against real servers the tests start themselves: a private
//! PostgreSQL cluster, a private redis-server, real SQLite files, and a stand-in `neonctl`
//! (Neon itself cannot be reached from a test) that records its arguments.

#[path = "support/servers.rs"]
mod servers;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use servers::{Postgres, Redis};
use support::{Env, text};

/// A repository whose `.git-agent.toml` is `template`, committed.
fn repo_with(env: &Env, template: &str) -> PathBuf {
    let dir = env.repo("app");
    std::fs::write(dir.join(".git-agent.toml"), template).unwrap();
    env.git(&dir, &["add", ".git-agent.toml"]);
    env.git(&dir, &["commit", "-q", "-m", "template"]);
    dir
}

/// git-agent with the test's isolation, pointed at `pg` (if any) through PG* variables.
fn cmd(env: &Env, dir: &Path, pg: Option<&Postgres>, args: &[&str]) -> Command {
    let mut cmd = env.cmd(dir);
    match pg {
        Some(pg) => pg.env(&mut cmd),
        None => {
            cmd.env("PGHOST", "127.0.0.1")
                .env("PGPORT", servers::free_port().to_string());
        }
    }
    cmd.args(args);
    cmd
}

fn output(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn ok(env: &Env, dir: &Path, pg: Option<&Postgres>, args: &[&str]) -> String {
    let out = output(cmd(env, dir, pg, args));
    assert!(
        out.status.success(),
        "git-agent {args:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

fn fails(env: &Env, dir: &Path, pg: Option<&Postgres>, args: &[&str]) -> String {
    let out = output(cmd(env, dir, pg, args));
    assert_eq!(
        out.status.code(),
        Some(1),
        "git-agent {args:?} should fail:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

fn slot_json(env: &Env, dir: &Path, slot: &str) -> serde_json::Value {
    env.json(dir, &["env", slot, "--json"])
}

fn database_url(env: &Env, dir: &Path, slot: &str) -> String {
    let json = slot_json(env, dir, slot);
    let url = json["database_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no database_url in {json}"))
        .to_string();
    assert_eq!(json["env"]["DATABASE_URL"].as_str(), Some(url.as_str()));
    url
}

/// The database name at the end of a URL.
fn db_name(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string()
}

fn slots(env: &Env, dir: &Path) -> Vec<String> {
    let list = env.json(dir, &["ls", "--json", "--no-status"]);
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

const PG_TEMPLATE: &str = "[database]\nengine = \"postgres\"\ntemplate = \"myapp_dev\"\n";

fn seeded_template(pg: &Postgres) {
    pg.psql("postgres", "create database myapp_dev");
    pg.psql("myapp_dev", "create table items (id int primary key, name text); insert into items values (1, 'one'), (2, 'two'), (3, 'three')");
}

#[test]
fn postgres_slots_are_clones_of_the_template_and_stay_apart() {
    let env = Env::new();
    let pg = Postgres::start();
    seeded_template(&pg);
    let dir = repo_with(&env, PG_TEMPLATE);
    for branch in ["feature/a", "feature/b", "feature/c"] {
        ok(&env, &dir, Some(&pg), &["add", branch]);
    }
    let urls: Vec<String> = ["feature-a", "feature-b", "feature-c"]
        .iter()
        .map(|s| database_url(&env, &dir, s))
        .collect();
    let names: Vec<String> = urls.iter().map(|u| db_name(u)).collect();
    for name in &names {
        assert!(
            name.len() <= 63 && name.starts_with("app_feature_"),
            "{name}"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
    }
    let mut expected: Vec<String> = names.clone();
    expected.push("myapp_dev".into());
    expected.sort();
    assert_eq!(pg.databases(), expected);

    // Each slot sees the template's rows, through the URL it was given.
    for url in &urls {
        assert_eq!(
            pg.psql_url(url, "select string_agg(name, ',' order by id) from items"),
            "one,two,three"
        );
    }
    // A write (and a migration) in one slot is invisible in the others and in the template.
    pg.psql_url(
        &urls[0],
        "insert into items values (4, 'four'); alter table items add column done bool",
    );
    assert_eq!(pg.psql_url(&urls[0], "select count(*) from items"), "4");
    for url in &urls[1..] {
        assert_eq!(pg.psql_url(url, "select count(*) from items"), "3");
        assert_eq!(pg.psql_url(url, "select count(*) from information_schema.columns where table_name = 'items' and column_name = 'done'"), "0");
    }
    assert_eq!(pg.psql("myapp_dev", "select count(*) from items"), "3");

    // ls and env --json show the database.
    let board = env.ok(&dir, &["ls", "--no-status"]);
    assert!(board.contains(&format!("postgres:{}", names[0])), "{board}");
    assert_eq!(
        slot_json(&env, &dir, "feature-a")["database"],
        format!("postgres:{}", names[0])
    );

    // Databases made by hand with similar names survive the slot's removal, even while
    // someone is connected to the slot's database (it is dropped WITH (FORCE)).
    let lookalike = format!("{}_copy", names[0]);
    let prefix_only = names[0].rsplit_once('_').unwrap().0.to_string();
    pg.psql("postgres", &format!("create database {lookalike}"));
    pg.psql("postgres", &format!("create database {prefix_only}"));
    let mut session = pg.hold_session(&names[0]);
    let stderr = ok(&env, &dir, Some(&pg), &["rm", "feature-a"]);
    let _ = session.kill();
    let _ = session.wait();
    assert!(
        stderr.contains(&format!("released postgres:{}", names[0])),
        "{stderr}"
    );
    let mut expected = vec![
        names[1].clone(),
        names[2].clone(),
        "myapp_dev".into(),
        lookalike,
        prefix_only,
    ];
    expected.sort();
    assert_eq!(pg.databases(), expected);
    assert_eq!(pg.psql_url(&urls[1], "select count(*) from items"), "3");
    assert_eq!(slots(&env, &dir), ["feature-b", "feature-c"]);
}

#[test]
fn busy_template_is_a_clear_error_and_leaves_nothing() {
    let env = Env::new();
    let pg = Postgres::start();
    seeded_template(&pg);
    let dir = repo_with(&env, PG_TEMPLATE);
    let mut session = pg.hold_session("myapp_dev");
    let stderr = fails(&env, &dir, Some(&pg), &["add", "feature/busy"]);
    let _ = session.kill();
    let _ = session.wait();
    pg.end_sessions("myapp_dev");
    assert!(
        stderr.contains(
            "could not clone the template database 'myapp_dev': another session is connected to it"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("1 other session"), "{stderr}");
    assert!(stderr.contains("ALLOW_CONNECTIONS false"), "{stderr}");
    assert!(stderr.contains("pg_stat_activity"), "{stderr}");
    assert_eq!(pg.databases(), ["myapp_dev"]);
    assert!(slots(&env, &dir).is_empty());

    // With the template closed to connections as advised, cloning works.
    pg.psql(
        "postgres",
        "alter database myapp_dev with allow_connections false",
    );
    ok(&env, &dir, Some(&pg), &["add", "feature/busy"]);
    let url = database_url(&env, &dir, "feature-busy");
    assert_eq!(pg.psql_url(&url, "select count(*) from items"), "3");
}

#[test]
fn postgres_errors_name_what_is_wrong() {
    let env = Env::new();
    let pg = Postgres::start();
    let dir = repo_with(&env, PG_TEMPLATE);

    // Missing template: named, nothing created.
    let stderr = fails(&env, &dir, Some(&pg), &["add", "x"]);
    assert!(
        stderr.contains("the template database 'myapp_dev' (database.template) does not exist"),
        "{stderr}"
    );
    assert!(pg.databases().is_empty());
    assert!(slots(&env, &dir).is_empty());

    // Unreachable server: the address tried and psql's own message.
    let port = servers::free_port();
    let mut unreachable = cmd(&env, &dir, Some(&pg), &["add", "x"]);
    unreachable.env("PGPORT", port.to_string());
    let out = output(unreachable);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "could not connect to Postgres at host 127.0.0.1, port {port}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");

    // No psql: the tool and its packages are named.
    let tools = env.root().join("only-git");
    std::fs::create_dir_all(&tools).unwrap();
    let git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(git.trim(), tools.join("git")).unwrap();
    let mut no_psql = cmd(&env, &dir, Some(&pg), &["add", "x"]);
    no_psql.env(
        "PATH",
        format!(
            "{}:{}",
            support::bin().parent().unwrap().display(),
            tools.display()
        ),
    );
    let stderr = text(&no_psql.output().unwrap().stderr);
    assert!(stderr.contains("psql was not found on PATH"), "{stderr}");
    assert!(
        stderr.contains("apt install postgresql-client") && stderr.contains("brew install libpq"),
        "{stderr}"
    );

    // A role that needs a password nobody gave: an error at once, never a prompt that hangs.
    pg.require_password("pw_user", "s3cret");
    let mut no_password = cmd(&env, &dir, Some(&pg), &["add", "x"]);
    no_password.env("PGUSER", "pw_user").stdin(Stdio::inherit());
    let stderr = text(&no_password.output().unwrap().stderr);
    assert!(
        stderr.contains("no password supplied") && stderr.contains("~/.pgpass"),
        "{stderr}"
    );
    // With the password in the user's own environment, it works; it is written nowhere.
    seeded_template(&pg);
    let with_password = || {
        let mut add = cmd(&env, &dir, Some(&pg), &["add", "x"]);
        add.env("PGUSER", "pw_user").env("PGPASSWORD", "s3cret");
        add.output().unwrap()
    };
    // Not the template's owner: Postgres lets it clone only a database marked as a template.
    let out = with_password();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("may not copy the template database 'myapp_dev'")
            && stderr.contains("IS_TEMPLATE true"),
        "{stderr}"
    );
    pg.psql("postgres", "alter database myapp_dev with is_template true");
    let out = with_password();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(database_url(&env, &dir, "x").starts_with("postgresql://pw_user@127.0.0.1:"));
    assert!(files_containing(&env.root(), "s3cret").is_empty());
    let mut rm = cmd(&env, &dir, Some(&pg), &["rm", "x"]);
    rm.env("PGUSER", "pw_user").env("PGPASSWORD", "s3cret");
    assert!(rm.output().unwrap().status.success());
    pg.psql(
        "postgres",
        "alter database myapp_dev with is_template false",
    );
    pg.psql("postgres", "drop database myapp_dev");
    assert!(pg.databases().is_empty());

    // A database name that Postgres would truncate is refused, never cut.
    std::fs::write(
        dir.join(".git-agent.toml"),
        format!(
            "[database]\nengine = \"postgres\"\nname = \"{}_{{slot}}\"\n",
            "x".repeat(62)
        ),
    )
    .unwrap();
    let stderr = fails(&env, &dir, Some(&pg), &["add", "y"]);
    assert!(stderr.contains("must be 1 to 63 bytes long"), "{stderr}");
    assert!(pg.databases().is_empty());

    // A name that exists and was not made by git-agent is not taken over.
    std::fs::write(
        dir.join(".git-agent.toml"),
        "[database]\nengine = \"postgres\"\nname = \"shared_{k}\"\n",
    )
    .unwrap();
    pg.psql("postgres", "create database shared_1");
    pg.psql(
        "shared_1",
        "create table precious (x int); insert into precious values (42)",
    );
    let stderr = fails(&env, &dir, Some(&pg), &["add", "z"]);
    assert!(
        stderr.contains("a database named shared_1 already exists")
            && stderr.contains("git-agent did not create it"),
        "{stderr}"
    );
    assert_eq!(pg.psql("shared_1", "select x from precious"), "42");
    assert!(slots(&env, &dir).is_empty());
}

#[test]
fn add_rolls_back_its_database_and_a_second_rm_finishes_a_failed_one() {
    let env = Env::new();
    let pg = Postgres::start();
    seeded_template(&pg);
    let dir = repo_with(&env, PG_TEMPLATE);

    // A failure after the database was cloned drops it again.
    let mut failing = cmd(&env, &dir, Some(&pg), &["add", "feature/fail"]);
    failing.env("GIT_AGENT_TEST_FAIL_AT", "envfile");
    let out = output(failing);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("undone: dropped the Postgres database app_feature_fail_"),
        "{stderr}"
    );
    assert_eq!(pg.databases(), ["myapp_dev"]);
    assert!(slots(&env, &dir).is_empty());

    // rm while the server is down fails, naming the server, and keeps the slot...
    ok(&env, &dir, Some(&pg), &["add", "feature/keep"]);
    let name = db_name(&database_url(&env, &dir, "feature-keep"));
    pg.stop_server();
    let stderr = fails(&env, &dir, Some(&pg), &["rm", "feature-keep"]);
    assert!(
        stderr.contains(&format!(
            "could not connect to Postgres at host 127.0.0.1, port {}",
            pg.port
        )),
        "{stderr}"
    );
    assert_eq!(slots(&env, &dir), ["feature-keep"]);
    // ...and once it is back, rm again finishes the job.
    assert!(pg.start_server());
    assert!(pg.databases().contains(&name));
    let stderr = ok(&env, &dir, Some(&pg), &["rm", "feature-keep"]);
    assert!(
        stderr.contains(&format!("released postgres:{name}")),
        "{stderr}"
    );
    assert_eq!(pg.databases(), ["myapp_dev"]);
    assert!(slots(&env, &dir).is_empty());
}

/// Starts `add` paused at the env file step (the database exists by then) and returns it.
fn paused_add(env: &Env, dir: &Path, pg: &Postgres, branch: &str) -> std::process::Child {
    let pause = env
        .root()
        .join(format!("pause-{}", branch.replace('/', "-")));
    let mut add = cmd(env, dir, Some(pg), &["add", branch]);
    add.env("GIT_AGENT_TEST_PAUSE_AT", "envfile")
        .env("GIT_AGENT_TEST_PAUSE_FILE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = add.spawn().unwrap();
    servers::wait_for(
        || std::fs::read_to_string(&pause).is_ok_and(|t| t.ends_with('\n')),
        "add to pause",
    );
    child
}

#[test]
fn interrupted_or_killed_add_leaves_no_database() {
    let env = Env::new();
    let pg = Postgres::start();
    seeded_template(&pg);
    let dir = repo_with(&env, PG_TEMPLATE);

    // Ctrl-C after the clone: the clone is dropped and add exits 130.
    let child = paused_add(&env, &dir, &pg, "feature/int");
    assert_eq!(
        pg.databases().len(),
        2,
        "the clone exists while add is paused"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("undone: dropped the Postgres database app_feature_int_"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(pg.databases(), ["myapp_dev"]);

    // SIGKILL after the clone: the record already names it, so prune drops it.
    let mut child = paused_add(&env, &dir, &pg, "feature/kill");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(pg.databases().len(), 2);
    let stderr = ok(&env, &dir, Some(&pg), &["prune"]);
    assert!(
        stderr.contains("released postgres:app_feature_kill_"),
        "{stderr}"
    );
    assert_eq!(pg.databases(), ["myapp_dev"]);
    assert!(slots(&env, &dir).is_empty());
}

#[test]
fn postgres_admin_url_and_empty_database_without_template() {
    let env = Env::new();
    let pg = Postgres::start();
    let template = format!(
        "[database]\nengine = \"postgres\"\nadmin_url = \"{}\"\n",
        pg.url("postgres")
    );
    let dir = repo_with(&env, &template);
    // No PG* variables at all: everything comes from admin_url.
    let mut add = env.cmd(&dir);
    add.args(["add", "feature/empty"]);
    let out = add.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = database_url(&env, &dir, "feature-empty");
    assert_eq!(url, pg.url(&db_name(&url)));
    assert_eq!(
        pg.psql_url(
            &url,
            "select count(*) from pg_tables where schemaname = 'public'"
        ),
        "0"
    );
    let out = env
        .cmd(&dir)
        .args(["rm", "feature-empty"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(pg.databases().is_empty());
}

// ---------------------------------------------------------------------------------- Redis

fn redis_template(url: &str, extra: &str) -> String {
    format!("[database]\nengine = \"none\"\n[redis]\nurl = \"{url}\"\n{extra}")
}

#[test]
fn redis_rm_deletes_only_the_slots_keys() {
    let env = Env::new();
    let redis = Redis::start();
    let dir = repo_with(
        &env,
        &redis_template(&redis.url(0), "prefix = \"{repo}:{slot}:\"\n"),
    );
    ok(&env, &dir, None, &["add", "a"]);
    ok(&env, &dir, None, &["add", "b"]);
    let json = slot_json(&env, &dir, "a");
    assert_eq!(json["redis_prefix"], "app:a:");
    assert_eq!(json["env"]["REDIS_PREFIX"], "app:a:");
    assert_eq!(json["env"]["REDIS_URL"], redis.url(0));

    // More keys than one SCAN step or UNLINK batch, and keys of other types.
    redis.fill(0, "app:a:", 2500);
    redis.cli(&["HSET", "app:a:h", "f", "v"]);
    redis.cli(&["RPUSH", "app:a:l", "x", "y"]);
    redis.fill(0, "app:b:", 20);
    for key in ["app:a", "app:ab:1", "app:A:1", "other", "xapp:a:1"] {
        redis.cli(&["SET", key, "keep"]);
    }
    redis.fill(1, "app:a:", 5); // another database on the same server is not the slot's

    let stderr = ok(&env, &dir, None, &["rm", "a"]);
    assert!(
        stderr.contains(&format!(
            "released 2502 Redis key(s) under app:a: on 127.0.0.1:{}",
            redis.port
        )),
        "{stderr}"
    );
    assert!(redis.keys(0, "app:a:*").is_empty());
    assert_eq!(redis.keys(0, "app:b:*").len(), 20);
    assert_eq!(redis.dbsize(0), 25);
    assert_eq!(redis.dbsize(1), 5);

    // Idempotent: nothing left, nothing else touched.
    ok(&env, &dir, None, &["rm", "b"]);
    assert_eq!(
        redis.keys(0, "*"),
        ["app:A:1", "app:a", "app:ab:1", "other", "xapp:a:1"]
    );
}

#[test]
fn redis_prefix_with_glob_characters_deletes_only_its_own_keys() {
    let env = Env::new();
    let redis = Redis::start();
    // Unescaped, `t*?[ab]\s1:*` would also match tXYas1:k and tab?bs1:k.
    let dir = repo_with(
        &env,
        &redis_template(&redis.url(0), "prefix = 't*?[ab]\\{slot}:'\n"),
    );
    ok(&env, &dir, None, &["add", "one", "--name", "s1"]);
    ok(&env, &dir, None, &["add", "two", "--name", "s2"]);
    assert_eq!(
        slot_json(&env, &dir, "s1")["env"]["REDIS_PREFIX"],
        "t*?[ab]\\s1:"
    );
    let own = ["t*?[ab]\\s1:k1", "t*?[ab]\\s1:k2", "t*?[ab]\\s1:"];
    let others = [
        "tXYas1:k",
        "tab?bs1:k",
        "t*?[ab]\\s2:k",
        "t*?[ab]s1:k",
        "t*?[ab]\\s1",
    ];
    for key in own.iter().chain(&others) {
        redis.cli(&["SET", key, "v"]);
    }
    let stderr = ok(&env, &dir, None, &["rm", "s1"]);
    assert!(stderr.contains("released 3 Redis key(s)"), "{stderr}");
    let mut expected: Vec<String> = others.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(redis.keys(0, "*"), expected);
}

#[test]
fn redis_numbered_databases_over_a_unix_socket() {
    let env = Env::new();
    let redis = Redis::start();
    let url = format!("unix://{}", redis.socket().display());
    let dir = repo_with(&env, &redis_template(&url, "isolation = \"db\"\n"));
    redis.cli(&["-n", "1", "SET", "someone-elses", "x"]); // not empty: skipped
    ok(&env, &dir, None, &["add", "a"]);
    ok(&env, &dir, None, &["add", "b"]);
    assert_eq!(
        slot_json(&env, &dir, "a")["env"]["REDIS_URL"],
        format!("{url}?db=2")
    );
    assert_eq!(
        slot_json(&env, &dir, "b")["env"]["REDIS_URL"],
        format!("{url}?db=3")
    );
    redis.fill(2, "k", 100);
    redis.fill(3, "k", 7);
    redis.cli(&["SET", "zero", "x"]);
    let stderr = ok(&env, &dir, None, &["rm", "a"]);
    assert!(stderr.contains("released Redis database 2"), "{stderr}");
    assert_eq!(
        [
            redis.dbsize(0),
            redis.dbsize(1),
            redis.dbsize(2),
            redis.dbsize(3)
        ],
        [1, 1, 0, 7]
    );
    // A new slot may reuse the freed, empty database 2; database 3 stays b's.
    ok(&env, &dir, None, &["add", "c"]);
    assert_eq!(
        slot_json(&env, &dir, "c")["env"]["REDIS_URL"],
        format!("{url}?db=2")
    );
}

#[test]
fn redis_unreachable_rm_fails_then_finishes() {
    let env = Env::new();
    let mut redis = Redis::start();
    let dir = repo_with(
        &env,
        &redis_template(&redis.url(0), "prefix = \"{repo}:{slot}:\"\n"),
    );
    ok(&env, &dir, None, &["add", "a"]);
    redis.stop_server();
    let stderr = fails(&env, &dir, None, &["rm", "a"]);
    assert!(
        stderr.contains(&format!(
            "Redis at 127.0.0.1:{} does not answer",
            redis.port
        )),
        "{stderr}"
    );
    assert_eq!(slots(&env, &dir), ["a"]);
    assert!(redis.start_server());
    redis.fill(0, "app:a:", 3);
    redis.cli(&["SET", "app:b:1", "x"]);
    ok(&env, &dir, None, &["rm", "a"]);
    assert_eq!(redis.keys(0, "*"), ["app:b:1"]);
    assert!(slots(&env, &dir).is_empty());
}

// --------------------------------------------------------------------------------- SQLite

/// A `sqlite3` shell that keeps `db` open, in WAL mode with automatic checkpoints off, after
/// running `sql`; `ready` appears once it has.
fn hold_sqlite(db: &Path, sql: &str, ready: &Path) -> std::process::Child {
    let mut child = Command::new("sqlite3")
        .args(["-init", "/dev/null", "-batch"])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(stdin, "{sql}\n.once {}\nselect 'ready';", ready.display()).unwrap();
    stdin.flush().unwrap();
    servers::wait_for(
        || std::fs::read_to_string(ready).is_ok_and(|t| t.contains("ready")),
        "the sqlite3 shell",
    );
    child
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .args(["-init", "/dev/null", "-batch"])
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(out.status.success(), "sqlite3 {sql}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

const WAL_SEED: &str = "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; \
    create table t (id integer primary key, v text); \
    with recursive n(i) as (select 1 union all select i + 1 from n where i < 10000) insert into t select i, 'row ' || i from n;";

fn sqlite_repo(env: &Env) -> PathBuf {
    let dir = repo_with(
        env,
        "[database]\nengine = \"sqlite\"\nseed = \"db/seed.sqlite3\"\npath = \"db/dev.sqlite3\"\n",
    );
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join(".gitignore"), "db/\n").unwrap();
    env.git(&dir, &["add", ".gitignore"]);
    env.git(&dir, &["commit", "-q", "-m", "ignore db"]);
    dir
}

#[test]
fn sqlite_seed_with_an_open_wal_keeps_every_row() {
    let env = Env::new();
    let dir = sqlite_repo(&env);
    let seed = dir.join("db/seed.sqlite3");
    let mut holder = hold_sqlite(&seed, WAL_SEED, &env.root().join("ready1"));
    // The rows (and the table itself) are only in the -wal: a plain copy of the file has none.
    assert!(servers::size(&dir.join("db/seed.sqlite3-wal")) > 100_000);
    let naive = env.root().join("naive.sqlite3");
    std::fs::copy(&seed, &naive).unwrap();
    let out = Command::new("sqlite3")
        .arg(&naive)
        .arg("select count(*) from t")
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("no such table"),
        "the test must start from a seed a plain copy loses"
    );

    ok(&env, &dir, None, &["add", "feature/seeded"]);
    let url = database_url(&env, &dir, "feature-seeded");
    let copy = PathBuf::from(url.strip_prefix("sqlite:///").unwrap());
    assert!(
        copy.ends_with("db/dev.sqlite3") && copy.starts_with(env.root()),
        "{url}"
    );
    assert_eq!(
        sqlite(&copy, "select count(*), sum(id) from t"),
        "10000|50005000"
    );
    assert_eq!(sqlite(&copy, "pragma integrity_check"), "ok");
    // The slot's copy is its own.
    sqlite(&copy, "delete from t where id > 10");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(sqlite(&seed, "select count(*) from t"), "10000");
}

#[test]
fn sqlite_seed_with_a_reader_holding_the_wal_is_copied_with_vacuum_into() {
    let env = Env::new();
    let dir = sqlite_repo(&env);
    let seed = dir.join("db/seed.sqlite3");
    let mut writer = hold_sqlite(&seed, WAL_SEED, &env.root().join("ready1"));
    // A reader in an open transaction keeps the checkpoint from finishing.
    let mut reader = hold_sqlite(
        &seed,
        "begin; select count(*) from t;",
        &env.root().join("ready2"),
    );
    // More rows committed after the reader's snapshot, still only in the WAL.
    let more = "insert into t (v) values ('late'); insert into t (v) values ('later');";
    sqlite(&seed, &format!("PRAGMA wal_autocheckpoint=0; {more}"));
    ok(&env, &dir, None, &["add", "feature/read"]);
    let copy = dir
        .parent()
        .unwrap()
        .join("app-worktrees/feature-read/db/dev.sqlite3");
    assert_eq!(sqlite(&copy, "select count(*) from t"), "10002");
    assert_eq!(sqlite(&copy, "pragma integrity_check"), "ok");
    for child in [&mut writer, &mut reader] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn sqlite_plain_seed_rollback_and_rm() {
    let env = Env::new();
    let dir = sqlite_repo(&env);
    let seed = dir.join("db/seed.sqlite3");
    sqlite(&seed, "create table t (x); insert into t values (1), (2);");
    let mut failing = env.cmd(&dir);
    failing
        .args(["add", "feature/f"])
        .env("GIT_AGENT_TEST_FAIL_AT", "envfile");
    let out = failing.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("undone: removed the slot's SQLite database"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.parent()
            .unwrap()
            .join("app-worktrees/feature-f")
            .exists()
    );

    env.ok(&dir, &["add", "feature/g"]);
    let copy = dir
        .parent()
        .unwrap()
        .join("app-worktrees/feature-g/db/dev.sqlite3");
    assert_eq!(sqlite(&copy, "select sum(x) from t"), "3");
    let board = env.ok(&dir, &["ls", "--no-status"]);
    assert!(board.contains("sqlite:db/dev.sqlite3"), "{board}");
    env.ok(&dir, &["rm", "--force", "feature-g"]);
    assert!(!copy.exists());
    assert_eq!(sqlite(&seed, "select sum(x) from t"), "3");
}

// ------------------------------------------------------------------------------- Variables

#[test]
fn variable_names_are_configurable_and_usable_as_placeholders() {
    let env = Env::new();
    let template = "[database]\nvar = \"PRIMARY_DB\"\n[redis]\nprefix = \"{repo}-{k}/\"\nprefix_var = \"CACHE_PREFIX\"\n\
                    [compose]\nvar = \"STACK\"\n[env]\nDB_AGAIN = \"{PRIMARY_DB}\"\nJOBS = \"{CACHE_PREFIX}jobs\"\nNAME = \"{STACK}\"\n";
    let dir = repo_with(&env, template);
    env.ok(&dir, &["add", "feature/v"]);
    let json = slot_json(&env, &dir, "feature-v");
    let vars = &json["env"];
    let db = vars["PRIMARY_DB"].as_str().unwrap();
    assert!(
        db.starts_with("sqlite:////") && db.ends_with("/feature-v/.git-agent/db.sqlite3"),
        "{json}"
    );
    assert_eq!(json["database_url"], db);
    assert_eq!(vars["DB_AGAIN"], db);
    assert_eq!(vars["CACHE_PREFIX"], "app-1/");
    assert_eq!(json["redis_prefix"], "app-1/");
    assert_eq!(vars["JOBS"], "app-1/jobs");
    assert!(
        vars["NAME"].as_str().unwrap().starts_with("app-feature-v-"),
        "{json}"
    );
    assert!(
        vars.get("DATABASE_URL").is_none() && vars.get("REDIS_PREFIX").is_none(),
        "{json}"
    );

    // A typo in a placeholder is caught before anything is made.
    std::fs::write(
        dir.join(".git-agent.toml"),
        "[database]\nvar = \"PRIMARY_DB\"\n[env]\nX = \"{DATABASE_URL}\"\n",
    )
    .unwrap();
    let stderr = env.fails(&dir, &["add", "feature/w"], 1);
    assert!(
        stderr.contains("unknown placeholder {DATABASE_URL}") && stderr.contains("PRIMARY_DB"),
        "{stderr}"
    );
}

// ----------------------------------------------------------------------------------- Neon

/// A stand-in `neonctl` that appends its arguments (one per line, then `--`) and whether it
/// saw NEON_API_KEY to `calls`, and answers like neonctl 2.x with `--output json`.
fn fake_neonctl(env: &Env, delete_answer: &str) -> (PathBuf, PathBuf) {
    let bin = env.root().join("neon-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = env.root().join("neon-calls");
    let script = format!(
        r#"#!/bin/sh
for a in "$@"; do printf '%s\n' "$a" >> '{calls}'; done
printf 'key=%s\n--\n' "${{NEON_API_KEY:+set}}" >> '{calls}'
case "$1 $2" in
"branches create")
  cat <<'JSON'
{{"branch": {{"id": "br-young-sun-a1b2c3", "project_id": "proj-1", "parent_id": "br-main-000000", "name": "agent/app/feature-n", "current_state": "init", "primary": false, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}},
 "endpoints": [{{"id": "ep-quiet-sea-123456", "host": "ep-quiet-sea-123456.us-east-2.aws.neon.tech", "type": "read_write"}}],
 "connection_uris": [{{"connection_uri": "postgresql://neondb_owner:npg_secret@ep-quiet-sea-123456.us-east-2.aws.neon.tech/neondb?sslmode=require",
   "connection_parameters": {{"database": "neondb", "password": "npg_secret", "role": "neondb_owner", "host": "ep-quiet-sea-123456.us-east-2.aws.neon.tech"}}}}]}}
JSON
  ;;
"branches delete")
  {delete_answer}
  ;;
*) echo "unexpected call" >&2; exit 1 ;;
esac
"#,
        calls = calls.display()
    );
    let path = bin.join("neonctl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (bin, calls)
}

fn neon_cmd(env: &Env, dir: &Path, bin: &Path, key: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = env.cmd(dir);
    cmd.env(
        "PATH",
        format!(
            "{}:{}:{}",
            bin.display(),
            support::bin().parent().unwrap().display(),
            std::env::var("PATH").unwrap()
        ),
    );
    match key {
        Some(key) => cmd.env("NEON_API_KEY", key),
        None => cmd.env_remove("NEON_API_KEY"),
    };
    cmd.args(args).output().unwrap()
}

/// Every file under `dir`, read as bytes, that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn neon_branches_through_neonctl() {
    let env = Env::new();
    let deleted =
        r#"echo '{"branch": {"id": "br-young-sun-a1b2c3", "name": "agent/app/feature-n"}}'"#;
    let (bin, calls) = fake_neonctl(&env, deleted);
    let dir = repo_with(
        &env,
        "[database]\nengine = \"neon\"\nproject_id = \"proj-1\"\nparent = \"main\"\nname = \"agent/{repo}/{slot}\"\n",
    );

    // No credentials: a clear error before neonctl is run.
    let out = neon_cmd(&env, &dir, &bin, None, &["add", "feature/n"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("neonctl has no credentials: export NEON_API_KEY"),
        "{}",
        text(&out.stderr)
    );
    assert!(!calls.exists());

    let key = "napi_test_key_0123456789";
    let out = neon_cmd(&env, &dir, &bin, Some(key), &["add", "feature/n"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = slot_json(&env, &dir, "feature-n");
    let uri = "postgresql://neondb_owner:npg_secret@ep-quiet-sea-123456.us-east-2.aws.neon.tech/neondb?sslmode=require";
    assert_eq!(json["env"]["DATABASE_URL"], uri);
    assert_eq!(json["database_url"], uri);
    assert_eq!(json["database"], "neon:agent/app/feature-n");
    let create = "branches\ncreate\n--project-id\nproj-1\n--name\nagent/app/feature-n\n--parent\nmain\n--output\njson\nkey=set\n--\n";
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), create);
    // The API key is the user's: git-agent wrote it nowhere.
    assert!(
        files_containing(&env.root(), key).is_empty(),
        "{:?}",
        files_containing(&env.root(), key)
    );

    let out = neon_cmd(&env, &dir, &bin, Some(key), &["rm", "feature-n"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let delete = "branches\ndelete\nbr-young-sun-a1b2c3\n--project-id\nproj-1\n--output\njson\nkey=set\n--\n";
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        format!("{create}{delete}")
    );

    // A failure after the branch was made deletes it again.
    std::fs::remove_file(&calls).unwrap();
    let mut failing = env.cmd(&dir);
    failing
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("NEON_API_KEY", key)
        .env("GIT_AGENT_TEST_FAIL_AT", "envfile");
    let out = failing.args(["add", "feature/n"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("undone: deleted the Neon branch agent/app/feature-n (br-young-sun-a1b2c3)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        format!("{create}{delete}")
    );
}

#[test]
fn neon_branch_already_gone_is_released_and_other_failures_are_reported() {
    let env = Env::new();
    let dir = repo_with(
        &env,
        "[database]\nengine = \"neon\"\nproject_id = \"proj-1\"\n",
    );
    let (bin, _) = fake_neonctl(&env, "echo 'ERROR: Internal server error' >&2; exit 1");
    let out = neon_cmd(&env, &dir, &bin, Some("k"), &["add", "feature/n"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = neon_cmd(&env, &dir, &bin, Some("k"), &["rm", "feature-n"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("neonctl could not delete the branch br-young-sun-a1b2c3 of project proj-1: ERROR: Internal server error"), "{}", text(&out.stderr));
    assert_eq!(slots(&env, &dir), ["feature-n"]);
    // Someone deleted it in the console meanwhile: the second rm finishes.
    let (bin, _) = fake_neonctl(&env, "echo 'ERROR: branch not found' >&2; exit 1");
    let out = neon_cmd(&env, &dir, &bin, Some("k"), &["rm", "feature-n"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(slots(&env, &dir).is_empty());
}

#[test]
fn a_server_gone_for_good_does_not_trap_the_slot_with_force() {
    let env = Env::new();
    let mut redis = Redis::start();
    let dir = repo_with(
        &env,
        &redis_template(&redis.url(0), "prefix = \"{repo}:{slot}:\"\n"),
    );
    ok(&env, &dir, None, &["add", "a"]);
    redis.stop_server();
    let stderr = fails(&env, &dir, None, &["rm", "a"]);
    assert!(
        stderr.contains("nothing else was removed") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(slots(&env, &dir), ["a"]);
    let out = output({
        let mut c = cmd(&env, &dir, None, &["rm", "a", "--force"]);
        c.stdin(std::process::Stdio::null());
        c
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Left behind, to release by hand: Redis keys app:a:*"),
        "{stderr}"
    );
    assert!(slots(&env, &dir).is_empty());
}
