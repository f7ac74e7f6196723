//! Redis as deployments run it, and key prefixes that stay each slot's own: a private
//! redis-server with TLS (certificates made here with openssl) and an ACL user, two clones
//! with the same directory name on one server, and prefixes that overlap.

#[path = "support/servers.rs"]
mod servers;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use servers::Redis;
use support::{Env, text};

fn repo_at(env: &Env, parent: &str, template: &str) -> PathBuf {
    let dir = env.root().join(parent).join("app");
    std::fs::create_dir_all(&dir).unwrap();
    env.git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join(".git-agent.toml"), template).unwrap();
    env.git(&dir, &["add", ".git-agent.toml"]);
    env.git(&dir, &["commit", "-q", "-m", "template"]);
    dir
}

fn prefix_of(env: &Env, dir: &Path, slot: &str) -> String {
    env.json(dir, &["env", slot, "--json"])["redis_prefix"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn two_clones_named_app_on_one_server_keep_their_own_keys() {
    let env = Env::new();
    let redis = Redis::start();
    let template = format!(
        "[database]\nengine = \"none\"\n[redis]\nurl = \"{}\"\n",
        redis.url(0)
    );
    let a = repo_at(&env, "a", &template);
    let b = repo_at(&env, "b", &template);
    env.ok(&a, &["add", "feature/x"]);
    env.ok(&b, &["add", "feature/x"]);
    let (pa, pb) = (
        prefix_of(&env, &a, "feature-x"),
        prefix_of(&env, &b, "feature-x"),
    );
    assert!(
        pa.starts_with("app:feature-x-") && pb.starts_with("app:feature-x-"),
        "{pa} {pb}"
    );
    assert!(!pa.starts_with(&pb) && !pb.starts_with(&pa), "{pa} {pb}");
    redis.fill(0, &pa, 120);
    redis.fill(0, &pb, 80);

    let stderr = text(&env.run(&a, &["rm", "feature-x"]).stderr);
    assert!(
        stderr.contains(&format!("released 120 Redis key(s) under {pa}")),
        "{stderr}"
    );
    assert_eq!(redis.keys(0, &format!("{pb}*")).len(), 80);
    assert_eq!(redis.dbsize(0), 80);
    let stderr = text(&env.run(&b, &["rm", "feature-x"]).stderr);
    assert!(stderr.contains("released 80 Redis key(s)"), "{stderr}");
    assert_eq!(redis.dbsize(0), 0);
}

#[test]
fn slots_differing_in_case_or_punctuation_get_distinct_compose_projects() {
    let env = Env::new();
    let dir = env.repo("MyApp");
    let mut projects = Vec::new();
    for branch in ["feature-x", "Feature-X", "feature.x", "feature_x"] {
        env.ok(&dir, &["add", branch]);
        let json = env.json(&dir, &["env", branch, "--json"]);
        let project = json["env"]["COMPOSE_PROJECT_NAME"]
            .as_str()
            .unwrap()
            .to_string();
        // Compose: lower-case letters, digits, '-' and '_', starting with a letter or digit.
        assert!(
            project.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && project
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c)),
            "{project}"
        );
        projects.push(project);
    }
    let mut unique = projects.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), projects.len(), "{projects:?}");
}

#[test]
fn a_template_forcing_a_name_another_slot_has_is_refused_at_add() {
    let env = Env::new();
    let dir = repo_at(
        &env,
        "one",
        "[redis]\nprefix = \"{repo}:\"\n[compose]\nproject = \"{repo}-{slot}-{id}\"\n",
    );
    env.ok(&dir, &["add", "first"]);
    let stderr = env.fails(&dir, &["add", "second"], 1);
    assert!(
        stderr.contains("the Redis key prefix app: (redis.prefix) is not this slot's own")
            && stderr.contains("slot first (")
            && stderr.contains("the same prefix"),
        "{stderr}"
    );
    let board = env.json(&dir, &["ls", "--json", "--no-status"]);
    assert_eq!(board.as_array().unwrap().len(), 1, "{board}");

    // A prefix that is the start of another's: SCAN MATCH would find the keys of both.
    std::fs::write(
        dir.join(".git-agent.toml"),
        "[redis]\nprefix = \"{repo}:first\"\n",
    )
    .unwrap();
    let stderr = env.fails(&dir, &["add", "third"], 1);
    assert!(stderr.contains("finds the keys of both"), "{stderr}");

    // The same Compose project, in another repository.
    env.ok(&dir, &["rm", "first"]);
    let one = repo_at(&env, "two", "[compose]\nproject = \"shared\"\n");
    let two = repo_at(&env, "three", "[compose]\nproject = \"shared\"\n");
    env.ok(&one, &["add", "fourth"]);
    let stderr = env.fails(&two, &["add", "fifth"], 1);
    assert!(
        stderr.contains(
            "the Compose project shared (compose.project) is already used by slot fourth ("
        ),
        "{stderr}"
    );
}

#[test]
fn rm_refuses_to_delete_keys_under_a_prefix_another_slot_overlaps() {
    let env = Env::new();
    let redis = Redis::start();
    let dir = repo_at(
        &env,
        "one",
        &format!(
            "[database]\nengine = \"none\"\n[redis]\nurl = \"{}\"\nprefix = \"{{repo}}:{{slot}}:\"\n",
            redis.url(0)
        ),
    );
    env.ok(&dir, &["add", "feat"]);
    env.ok(&dir, &["add", "feat-x"]);
    // A record from a git-agent that did not check prefixes: feat-x's keys are under feat's.
    let record = dir.join(".git/agent/slots/feat-x.toml");
    let text_before = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, text_before.replace("app:feat-x:", "app:feat:x:")).unwrap();
    redis.fill(0, "app:feat:", 10);
    redis.fill(0, "app:feat:x:", 5);

    let out = env.run(&dir, &["rm", "feat"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the Redis keys under app:feat:")
            && stderr.contains("slot feat-x (")
            && stderr.contains("has the prefix app:feat:x:"),
        "{stderr}"
    );
    assert_eq!(redis.dbsize(0), 15);
    // The other direction: feat-x's prefix starts with feat's.
    let out = env.run(&dir, &["rm", "feat-x"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(redis.dbsize(0), 15);

    // --force removes the slot and leaves the keys, saying so.
    let stderr = text(&env.run(&dir, &["rm", "feat", "--force"]).stderr);
    assert!(
        stderr.contains("released nothing of the Redis keys under app:feat:"),
        "{stderr}"
    );
    assert_eq!(redis.dbsize(0), 15);
    // With feat gone, feat-x's prefix is its own again.
    let stderr = text(&env.run(&dir, &["rm", "feat-x"]).stderr);
    assert!(
        stderr.contains("released 5 Redis key(s) under app:feat:x:"),
        "{stderr}"
    );
    assert_eq!(redis.dbsize(0), 10);
}

/// A CA and a certificate for localhost and 127.0.0.1 it signed, made with openssl.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is not installed (apt install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=git-agent test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

struct TlsRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl TlsRedis {
    /// redis-server on a TLS port only, with an ACL user `agent` limited to keys under `app:`.
    fn start() -> TlsRedis {
        let dir = tempfile::Builder::new().prefix("ga-tls").tempdir().unwrap();
        make_certs(dir.path());
        let port = servers::free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .args([
                "--user",
                "agent",
                "on",
                ">s3cret",
                "~app:*",
                "&*",
                "+@all",
                "-@dangerous",
            ])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed");
        let redis = TlsRedis { port, dir, child };
        let start = Instant::now();
        while redis.cli(&["PING"]).trim() != "PONG" {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "redis-server with --tls-port did not come up (is Debian's redis-server built with TLS?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["--tls", "--cacert"])
            .arg(self.ca())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--raw"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        text(&out.stdout)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rediss_with_an_acl_user_and_a_private_ca() {
    let env = Env::new();
    let redis = TlsRedis::start();
    let ca = redis.ca();
    let url = format!(
        "rediss://agent:s3cret@localhost:{}/0?ssl_ca_certs={}",
        redis.port,
        ca.display()
    );
    let dir = repo_at(
        &env,
        "one",
        &format!(
            "[database]\nengine = \"none\"\n[redis]\nurl = \"{url}\"\nprefix = \"app:{{slot}}-{{id}}:\"\n"
        ),
    );
    let doctor = env.json(&dir, &["doctor", "--json"]);
    let redis_finding = doctor["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("Redis"))
        .cloned()
        .unwrap();
    assert_eq!(redis_finding["level"], "ok", "{doctor}");

    env.ok(&dir, &["add", "feature/tls"]);
    let prefix = prefix_of(&env, &dir, "feature-tls");
    for i in 0..1500 {
        if i % 500 == 0 {
            // Keys in batches through the CLI (as the default user, which may do anything).
            let mut args = vec!["MSET".to_string()];
            for j in i..i + 500 {
                args.push(format!("{prefix}{j}"));
                args.push("v".into());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(redis.cli(&args).trim(), "OK");
        }
    }
    // The ACL is real: the agent user may not touch keys outside app:.
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&ca)
        .args([
            "-p",
            &redis.port.to_string(),
            "--user",
            "agent",
            "--pass",
            "s3cret",
            "--no-auth-warning",
        ])
        .args(["SET", "elsewhere", "x"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("NOPERM"),
        "{}",
        text(&out.stdout)
    );
    redis.cli(&["SET", "app:other:1", "keep"]);
    redis.cli(&["SET", "elsewhere", "keep"]);
    let stderr = text(&env.run(&dir, &["rm", "feature-tls"]).stderr);
    assert!(
        stderr.contains(&format!(
            "released 1500 Redis key(s) under {prefix} on localhost:{}",
            redis.port
        )),
        "{stderr}"
    );
    assert_eq!(redis.cli(&["DBSIZE"]).trim(), "2");

    // The system's roots (or SSL_CERT_FILE) when the URL names no CA: without the test CA
    // the certificate is refused, with SSL_CERT_FILE it is trusted.
    let plain = format!("rediss://agent:s3cret@localhost:{}/0", redis.port);
    std::fs::write(
        dir.join(".git-agent.toml"),
        format!("[database]\nengine = \"none\"\n[redis]\nurl = \"{plain}\"\n"),
    )
    .unwrap();
    let mut cmd = env.cmd(&dir);
    cmd.args(["doctor", "--json"]).env_remove("SSL_CERT_FILE");
    let out = cmd.output().unwrap();
    let doctor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = doctor["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("Redis"))
        .cloned()
        .unwrap();
    assert_eq!(finding["level"], "error", "{doctor}");
    assert!(
        !finding["message"].as_str().unwrap().contains("s3cret"),
        "{finding}"
    );
    let mut cmd = env.cmd(&dir);
    cmd.args(["doctor", "--json"]).env("SSL_CERT_FILE", &ca);
    let doctor: serde_json::Value = serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap();
    assert!(
        doctor["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["level"] == "ok"
                && f["message"] == format!("Redis at localhost:{} answers", redis.port)),
        "{doctor}"
    );

    // A wrong password is named as such.
    let wrong = format!(
        "rediss://agent:nope@localhost:{}/0?ssl_ca_certs={}",
        redis.port,
        ca.display()
    );
    std::fs::write(
        dir.join(".git-agent.toml"),
        format!("[database]\nengine = \"none\"\n[redis]\nurl = \"{wrong}\"\n"),
    )
    .unwrap();
    let doctor =
        text(&env.run(&dir, &["doctor"]).stdout) + &text(&env.run(&dir, &["doctor"]).stderr);
    assert!(doctor.contains("refused the credentials"), "{doctor}");
}
