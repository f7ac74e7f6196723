//! The URLs a slot gets, opened by the real clients apps use: Django through dj-database-url,
//! SQLAlchemy, @libsql/client (what Drizzle's libsql driver uses, with a `file:` URL),
//! ActiveRecord (Rails, `sqlite3:`), sqlx and Diesel (tests/readers/rust), and redis-py reading
//! the REDIS_URL of a slot.

#[path = "support/readers.rs"]
mod readers;
#[path = "support/servers.rs"]
mod servers;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use readers::Readers;
use support::{Env, text};

/// A Django project reading `DATABASE_URL` with dj-database-url, with one model and its
/// migration.
fn django_repo(env: &Env) -> PathBuf {
    let dir = env.repo("my app");
    let files = [
        (
            "manage.py",
            "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proj.settings')\n\
             from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
        ),
        ("proj/__init__.py", ""),
        (
            "proj/settings.py",
            "import dj_database_url\nSECRET_KEY = 'test'\nINSTALLED_APPS = ['notes']\n\
             DATABASES = {'default': dj_database_url.config()}\nUSE_TZ = True\n\
             DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'\n",
        ),
        ("notes/__init__.py", ""),
        (
            "notes/models.py",
            "from django.db import models\n\nclass Note(models.Model):\n    text = models.TextField()\n",
        ),
        ("notes/migrations/__init__.py", ""),
        (
            "notes/migrations/0001_initial.py",
            "from django.db import migrations, models\n\nclass Migration(migrations.Migration):\n    initial = True\n    dependencies = []\n    operations = [migrations.CreateModel(name='Note', fields=[('id', models.AutoField(primary_key=True)), ('text', models.TextField())])]\n",
        ),
    ];
    for (path, content) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    env.git(&dir, &["add", "."]);
    env.git(&dir, &["commit", "-q", "-m", "django project"]);
    dir
}

/// `git agent exec SLOT -- ARGS` with the readers' python first on PATH.
fn exec(env: &Env, readers: &Readers, dir: &Path, slot: &str, args: &[&str]) -> String {
    let mut cmd = env.cmd(dir);
    let path = format!(
        "{}:{}",
        readers.python().parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    cmd.env("PATH", path)
        .env_remove("DJANGO_SETTINGS_MODULE")
        .args(["exec", slot, "--"])
        .args(args);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "exec {slot} {args:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(out.status.success(), "sqlite3 {sql}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn slot_dir(env: &Env, dir: &Path, slot: &str) -> PathBuf {
    PathBuf::from(
        env.json(dir, &["env", slot, "--json"])["path"]
            .as_str()
            .unwrap(),
    )
}

#[test]
fn django_migrates_each_slots_own_sqlite_file_with_no_template() {
    let readers = Readers::get();
    let env = Env::new();
    let dir = django_repo(&env);
    env.ok(&dir, &["add", "feature/one"]);
    env.ok(&dir, &["add", "feature/two"]);
    for (slot, note) in [("feature-one", "first"), ("feature-two", "second")] {
        let out = exec(
            &env,
            &readers,
            &dir,
            slot,
            &["python", "manage.py", "migrate", "--noinput"],
        );
        assert!(out.contains("Applying notes.0001_initial... OK"), "{out}");
        exec(
            &env,
            &readers,
            &dir,
            slot,
            &[
                "python",
                "manage.py",
                "shell",
                "-c",
                &format!("from notes.models import Note; Note.objects.create(text='{note}')"),
            ],
        );
    }
    for (slot, note) in [("feature-one", "first"), ("feature-two", "second")] {
        let out = exec(
            &env,
            &readers,
            &dir,
            slot,
            &[
                "python",
                "manage.py",
                "shell",
                "-c",
                "from django.db import connection; from notes.models import Note; print(connection.settings_dict['NAME']); print([n.text for n in Note.objects.all()])",
            ],
        );
        let file = slot_dir(&env, &dir, slot).join(".git-agent/db.sqlite3");
        // (Django 5.2's shell may first say what it imported.)
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[lines.len().saturating_sub(2)..],
            [file.display().to_string(), format!("['{note}']")],
            "{slot}: {out}"
        );
        assert_eq!(sqlite(&file, "select text from notes_note"), note);
    }
    // Nothing was written under a path taken as relative to the slot (the three-slash bug).
    for slot in ["feature-one", "feature-two"] {
        let root = slot_dir(&env, &dir, slot);
        let tmp = env.root();
        let first = tmp.components().nth(1).unwrap();
        assert!(
            !root.join(first).exists(),
            "a relative copy of the path under {}",
            root.display()
        );
    }
}

#[test]
fn sqlalchemy_create_engine_opens_the_slots_own_file() {
    let readers = Readers::get();
    let env = Env::new();
    let dir = env.repo("app");
    env.ok(&dir, &["add", "feature/sa"]);
    let script = "import os, sqlalchemy as sa\n\
                  e = sa.create_engine(os.environ['DATABASE_URL'])\n\
                  with e.begin() as c:\n    c.execute(sa.text('create table t (x integer)'))\n    c.execute(sa.text('insert into t values (7)'))\n\
                  print(e.url.database)\n";
    let out = exec(
        &env,
        &readers,
        &dir,
        "feature-sa",
        &["python", "-c", script],
    );
    let file = slot_dir(&env, &dir, "feature-sa").join(".git-agent/db.sqlite3");
    assert_eq!(out.trim(), file.display().to_string());
    assert_eq!(sqlite(&file, "select x from t"), "7");
}

#[test]
fn libsql_opens_a_file_url_from_the_template_and_prisma_schemas_get_one_by_default() {
    let readers = Readers::get();
    let env = Env::new();
    let script = "const { createClient } = require('@libsql/client');\n\
                  (async () => { const c = createClient({ url: process.env.DATABASE_URL });\n\
                  await c.execute('create table t (x integer)'); await c.execute('insert into t values (5)');\n\
                  console.log((await c.execute('select x from t')).rows[0].x); c.close(); })()\n\
                  .catch((e) => { console.error(e); process.exit(1); });\n";
    // url = "file:{db_file}" in the template.
    let dir = env.repo("app");
    std::fs::write(
        dir.join(".git-agent.toml"),
        "[database]\nurl = \"file:{db_file}\"\n",
    )
    .unwrap();
    // A Prisma schema with the sqlite provider, in a second repository, without a template.
    let prisma = env.repo("prismaapp");
    std::fs::create_dir_all(prisma.join("prisma")).unwrap();
    std::fs::write(
        prisma.join("prisma/schema.prisma"),
        "generator client {\n  provider = \"prisma-client-js\"\n}\n\n// the database\ndatasource db {\n  provider = \"sqlite\" // for now\n  url      = env(\"DATABASE_URL\")\n}\n",
    )
    .unwrap();
    for repo in [&dir, &prisma] {
        env.git(repo, &["add", "."]);
        env.git(repo, &["commit", "-q", "-m", "db"]);
    }
    env.ok(&dir, &["add", "feature/libsql"]);
    let out = env.run(&prisma, &["add", "feature/prisma"]);
    assert!(
        text(&out.stderr).contains("prisma/schema.prisma uses SQLite, so DATABASE_URL is file:"),
        "{}",
        text(&out.stderr)
    );
    for (repo, slot) in [(&dir, "feature-libsql"), (&prisma, "feature-prisma")] {
        let json = env.json(repo, &["env", slot, "--json"]);
        let root = PathBuf::from(json["path"].as_str().unwrap());
        let file = root.join(".git-agent/db.sqlite3");
        assert_eq!(
            json["env"]["DATABASE_URL"],
            format!("file:{}", file.display())
        );
        let mut node = readers.node();
        node.current_dir(&root)
            .env(
                "DATABASE_URL",
                json["env"]["DATABASE_URL"].as_str().unwrap(),
            )
            .args(["-e", script]);
        assert_eq!(readers::run(node, "@libsql/client").trim(), "5");
        assert_eq!(sqlite(&file, "select x from t"), "5");
    }
}

#[test]
fn redis_py_reads_the_redis_url_a_slot_gets() {
    let readers = Readers::get();
    let env = Env::new();
    let redis = servers::Redis::start();
    let socket = format!("unix://{}", redis.socket().display());
    let dir = env.repo("app");
    std::fs::write(
        dir.join(".git-agent.toml"),
        format!("[database]\nengine = \"none\"\n[redis]\nurl = \"{socket}\"\nisolation = \"db\"\n"),
    )
    .unwrap();
    env.git(&dir, &["add", "."]);
    env.git(&dir, &["commit", "-q", "-m", "redis"]);
    env.ok(&dir, &["add", "feature/r"]);
    let script = "import os, redis\nr = redis.Redis.from_url(os.environ['REDIS_URL'])\n\
                  r.set(os.environ['REDIS_PREFIX'] + 'k', 'v')\nprint(r.connection_pool.connection_kwargs['db'])\n";
    let db = exec(&env, &readers, &dir, "feature-r", &["python", "-c", script]);
    let n: u32 = db.trim().parse().unwrap();
    assert!(n >= 1, "{db}");
    assert_eq!(redis.dbsize(n), 1);
    let stderr = env.ok(&dir, &["rm", "feature-r"]);
    let _ = stderr;
    assert_eq!(redis.dbsize(n), 0);
}

#[test]
fn activerecord_opens_a_sqlite3_url_from_the_template() {
    // Debian's ruby-activerecord and ruby-sqlite3 (`.ci/run` installs them).
    let probe = Command::new("ruby")
        .args(["-e", "require 'active_record'; require 'sqlite3'"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "ActiveRecord is not installed: apt install ruby-activerecord ruby-sqlite3 (bash .ci/run does)"
    );
    let env = Env::new();
    let dir = env.repo("app");
    std::fs::write(
        dir.join(".git-agent.toml"),
        "[database]\nurl = \"sqlite3:{db_file}\"\n",
    )
    .unwrap();
    env.git(&dir, &["add", "."]);
    env.git(&dir, &["commit", "-q", "-m", "rails"]);
    env.ok(&dir, &["add", "feature/rails"]);
    let script = "require 'active_record'\n\
                  ActiveRecord::Base.establish_connection(ENV.fetch('DATABASE_URL'))\n\
                  ActiveRecord::Base.connection.execute('create table t (x integer)')\n\
                  ActiveRecord::Base.connection.execute('insert into t values (3)')\n\
                  puts ActiveRecord::Base.connection_db_config.database\n";
    let mut cmd = env.cmd(&dir);
    cmd.args(["exec", "feature-rails", "--", "ruby", "-e", script]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = slot_dir(&env, &dir, "feature-rails").join(".git-agent/db.sqlite3");
    assert_eq!(text(&out.stdout).trim(), file.display().to_string());
    assert_eq!(sqlite(&file, "select x from t"), "3");
}

#[test]
fn sqlx_opens_the_default_url_and_diesel_a_plain_path_each_slot_its_own_file() {
    let readers = Readers::get();
    let probe = readers.sqlite_probe().display().to_string();
    let env = Env::new();
    // sqlx with no template at all: two slots, each writes and counts only its own rows.
    let dir = env.repo("app");
    env.ok(&dir, &["add", "one"]);
    env.ok(&dir, &["add", "two"]);
    assert_eq!(
        exec(&env, &readers, &dir, "one", &[&probe, "sqlx", "1"]).trim(),
        "1"
    );
    assert_eq!(
        exec(&env, &readers, &dir, "one", &[&probe, "sqlx", "2"]).trim(),
        "2"
    );
    assert_eq!(
        exec(&env, &readers, &dir, "two", &[&probe, "sqlx", "3"]).trim(),
        "1"
    );
    for (slot, rows) in [("one", "1\n2"), ("two", "3")] {
        let file = slot_dir(&env, &dir, slot).join(".git-agent/db.sqlite3");
        assert_eq!(
            sqlite(&file, "select x from probe order by x"),
            rows,
            "{slot}"
        );
    }
    // Diesel with the README's recipe, a plain path.
    let dir = env.repo("diesel-app");
    std::fs::write(
        dir.join(".git-agent.toml"),
        "[database]\nurl = \"{db_file}\"\n",
    )
    .unwrap();
    env.git(&dir, &["add", "."]);
    env.git(&dir, &["commit", "-q", "-m", "diesel"]);
    env.ok(&dir, &["add", "feature/diesel"]);
    let out = exec(
        &env,
        &readers,
        &dir,
        "feature-diesel",
        &[&probe, "diesel", "9"],
    );
    assert_eq!(out.trim(), "1");
    let file = slot_dir(&env, &dir, "feature-diesel").join(".git-agent/db.sqlite3");
    assert_eq!(sqlite(&file, "select x from probe"), "9");
}

#[test]
fn a_repository_path_with_hash_question_mark_and_percent_still_opens_the_slots_file() {
    let readers = Readers::get();
    let probe = readers.sqlite_probe().display().to_string();
    let env = Env::new();
    // '#' and '?' would end a URL's path; '%' starts an escape.
    let dir = env.repo("app #2?v=1 100%");
    let out = env.run(&dir, &["add", "feature/odd"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("warning"),
        "the default URL needs no warning: {err}"
    );
    let file = slot_dir(&env, &dir, "feature-odd").join(".git-agent/db.sqlite3");
    let script = "import os, sqlalchemy as sa, dj_database_url\n\
                  url = os.environ['DATABASE_URL']\n\
                  e = sa.create_engine(url)\n\
                  with e.begin() as c:\n    c.execute(sa.text('create table t (x integer)'))\n\
                  print(e.url.database)\nprint(dj_database_url.parse(url)['NAME'])\n";
    let out = exec(
        &env,
        &readers,
        &dir,
        "feature-odd",
        &["python", "-c", script],
    );
    let want = file.display().to_string();
    assert_eq!(out.lines().collect::<Vec<_>>(), [&want, &want], "{out}");
    assert_eq!(
        exec(&env, &readers, &dir, "feature-odd", &[&probe, "sqlx", "4"]).trim(),
        "1"
    );
    assert_eq!(sqlite(&file, "select x from probe"), "4");
}
