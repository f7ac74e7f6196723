//! Private database servers for tests: a PostgreSQL cluster made with `initdb` in a temp dir
//! and a `redis-server`, each on a free port of 127.0.0.1, stopped when dropped. Tests never
//! talk to any other server.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The directory holding initdb/pg_ctl: Debian's newest `/usr/lib/postgresql/<v>/bin`, or
/// whatever is on PATH.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("PostgreSQL server binaries (initdb) are not installed");
    PathBuf::from(text(&out.stdout).trim())
}

pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Postgres {
    /// initdb + pg_ctl start. Postgres refuses to run as root, so as root the cluster belongs
    /// to the `postgres` user and its commands run through `runuser`.
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new().prefix("ga-pg").tempdir().unwrap();
        let bin = pg_bin();
        if is_root() {
            let ok = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(
                ok,
                "could not chown the test cluster's directory to postgres"
            );
        }
        let pg = Postgres { port: 0, dir, bin };
        let data = pg.data();
        let out = pg
            .as_owner("initdb")
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", text(&out.stderr));
        let mut pg = pg;
        for _ in 0..5 {
            pg.port = free_port();
            if pg.start_server() {
                return pg;
            }
        }
        panic!(
            "could not start a test Postgres; log:\n{}",
            std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn as_owner(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    /// (Re)starts the server on its port; false if it did not come up.
    pub fn start_server(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            self.port,
            self.socket_dir().display()
        );
        let status = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        status.success()
    }

    pub fn stop_server(&self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The libpq variables that point a client at this server.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "postgres")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS");
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// `psql` on database `db`; returns the output.
    pub fn try_psql(&self, db: &str, sql: &str) -> Output {
        let mut cmd = Command::new("psql");
        self.env(&mut cmd);
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.try_psql(db, sql);
        assert!(
            out.status.success(),
            "psql -d {db} -c {sql:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }

    /// `psql` on a full connection URL (what a slot's DATABASE_URL says).
    pub fn psql_url(&self, url: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGUSER")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql -d {url} -c {sql:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }

    /// The databases other than postgres' own.
    pub fn databases(&self) -> Vec<String> {
        let list = self.psql("postgres", "select datname from pg_database where datname not in ('postgres', 'template0', 'template1') order by 1");
        list.lines().map(str::to_string).collect()
    }

    /// A psql that holds a session open on `db` (running `pg_sleep`) until killed.
    pub fn hold_session(&self, db: &str) -> Child {
        let mut cmd = Command::new("psql");
        self.env(&mut cmd);
        let child = cmd
            .args(["-X", "-q", "-d", db, "-c", "select pg_sleep(600)"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let sql = format!(
            "select count(*) from pg_stat_activity where datname = '{db}' and query like '%pg_sleep(600)%' and pid <> pg_backend_pid()"
        );
        wait_for(
            || self.psql("postgres", &sql) != "0",
            &format!("a session on {db}"),
        );
        child
    }

    /// Makes `user` (created with `password`) log in over TCP with a password only.
    pub fn require_password(&self, user: &str, password: &str) {
        self.psql(
            "postgres",
            &format!("create role {user} login createdb password '{password}'"),
        );
        let hba = self.data().join("pg_hba.conf");
        let rules = std::fs::read_to_string(&hba).unwrap();
        // First match wins: this line goes before initdb's trust lines.
        std::fs::write(
            &hba,
            format!("host all {user} 127.0.0.1/32 scram-sha-256\n{rules}"),
        )
        .unwrap();
        self.psql("postgres", "select pg_reload_conf()");
    }

    /// Ends sessions started by `hold_session` on `db` (killing psql does not end them).
    pub fn end_sessions(&self, db: &str) {
        self.psql("postgres", &format!("select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '{db}' and pid <> pg_backend_pid()"));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Waits (up to a minute) for a condition that another process brings about.
pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("ga-redis")
            .tempdir()
            .unwrap();
        let mut redis = Redis {
            port: 0,
            child: None,
            dir,
        };
        for _ in 0..5 {
            redis.port = free_port();
            if redis.start_server() {
                return redis;
            }
        }
        panic!("could not start a test redis-server");
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// (Re)starts the server on its port, without persistence; false if it did not come up.
    pub fn start_server(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--unixsocket")
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            if self
                .try_cli(&["PING"])
                .map(|o| text(&o.stdout).trim() == "PONG")
                .unwrap_or(false)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn stop_server(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn try_cli(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--raw"])
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// `redis-cli ARGS` on database 0 (use `-n N` first for another one).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.try_cli(args).unwrap();
        assert!(
            out.status.success(),
            "redis-cli {args:?} failed: {}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        assert!(!stdout.starts_with("ERR"), "redis-cli {args:?}: {stdout}");
        stdout.trim().to_string()
    }

    /// Sets `count` string keys `<prefix>1..count` in database `db`, in one server-side loop.
    pub fn fill(&self, db: u32, prefix: &str, count: u32) {
        let script =
            "for i = 1, tonumber(ARGV[2]) do redis.call('SET', ARGV[1] .. i, i) end return 1";
        self.cli(&[
            "-n",
            &db.to_string(),
            "EVAL",
            script,
            "0",
            prefix,
            &count.to_string(),
        ]);
    }

    /// The keys of database `db` matching a glob.
    pub fn keys(&self, db: u32, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cli(&["-n", &db.to_string(), "--scan", "--pattern", pattern])
            .lines()
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    }

    pub fn dbsize(&self, db: u32) -> u64 {
        self.cli(&["-n", &db.to_string(), "DBSIZE"])
            .parse()
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// A file's size, 0 when missing.
pub fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What the interruption tests check after each signal: the databases are exactly `databases`,
/// the user's 50 keys in Redis database 0 are there, and no other Redis database holds a key.
pub fn assert_untouched(pg: &Postgres, redis: &Redis, databases: &[String], what: &str) {
    assert_eq!(
        pg.databases(),
        databases,
        "{what}: Postgres databases differ"
    );
    assert_eq!(redis.dbsize(0), 50, "{what}: the user's Redis keys changed");
    for db in 1..16 {
        assert_eq!(
            redis.dbsize(db),
            0,
            "{what}: Redis database {db} holds keys"
        );
    }
}
