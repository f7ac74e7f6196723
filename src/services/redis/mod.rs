//! Redis: a key prefix per slot (default) or a numbered database 1-15 (`isolation = "db"`),
//! through the `redis` crate's blocking client over TCP, TLS (`rediss://`, rustls) or a Unix
//! socket.
//!
//! `redis.url` takes the forms redis-py reads, so the URL an app already uses works here too:
//! `redis://[user[:password]@]host[:port][/db]`, `rediss://...` (TLS), `unix://[[user]:password@]/path.sock`,
//! with `?db=N` (which wins over the path, as in redis-py), `?username=`/`?password=`,
//! `?ssl_cert_reqs=none` (no certificate check) and `?ssl_ca_certs=/ca.pem` (a private CA;
//! otherwise the system's roots, or `SSL_CERT_FILE`). `redis+unix://`, `valkey://` and
//! `valkeys://`, which the crate reads, work too.

mod conn;
mod urls;

use std::time::Duration;

use anyhow::{Context as _, Result};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

pub use conn::Conn;
use urls::decode;
pub use urls::{escape_glob, mask, url_with_db};

/// The highest numbered database a slot may get; 0 is the application's own and never used.
pub const MAX_DB: u32 = 15;
/// Keys per SCAN step and per UNLINK: small enough that the server never stalls.
const SCAN_COUNT: usize = 1000;
const UNLINK_BATCH: usize = 500;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A server to talk to, as a `redis.url` names it.
#[derive(Debug, Clone)]
pub struct Server {
    info: ConnectionInfo,
    /// PEM roots from `?ssl_ca_certs=`, instead of the system's.
    ca: Option<Vec<u8>>,
    address: String,
}

impl Server {
    pub fn parse(url: &str) -> Result<Server> {
        let bad = |why: String| anyhow::anyhow!("redis.url '{}' {why}", mask(url));
        // `unix://user:password@/path.sock` has credentials but no host, which redis-py reads and
        // the URL standard does not: take them off before parsing.
        let (text, socket_auth) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.contains("unix") && rest.contains("@/") => {
                let (auth, path) = rest.split_once("@/").unwrap_or((rest, ""));
                (format!("{scheme}:///{path}"), Some(auth.to_string()))
            }
            _ => (url.to_string(), None),
        };
        let parsed = url::Url::parse(&text)
            .map_err(|e| bad(format!("is not a URL ({e}); expected redis://host:port/db")))?;
        let mut db = None;
        let (mut user, mut password, mut ca_file) = (None, None, None);
        let mut insecure = parsed.fragment() == Some("insecure");
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "db" => {
                    db = Some(
                        value
                            .parse::<i64>()
                            .map_err(|_| bad(format!("has db={value}, which is not a number")))?,
                    )
                }
                "username" | "user" => user = Some(value.into_owned()),
                "password" | "pass" => password = Some(value.into_owned()),
                "ssl_cert_reqs" => insecure = value.eq_ignore_ascii_case("none"),
                "ssl_ca_certs" => ca_file = Some(value.into_owned()),
                // redis-py's socket and pool settings do not change where or as whom.
                _ => {}
            }
        }
        let (url_user, url_password) = match &socket_auth {
            Some(auth) => match auth.split_once(':') {
                Some((u, p)) => (u.to_string(), Some(p.to_string())),
                None => (auth.clone(), None),
            },
            None => (
                parsed.username().to_string(),
                parsed.password().map(str::to_string),
            ),
        };
        if !url_user.is_empty() {
            user = Some(decode(&url_user));
        }
        if let Some(p) = url_password.filter(|p| !p.is_empty()) {
            password = Some(decode(&p));
        }
        let (addr, address) = match parsed.scheme() {
            scheme @ ("redis" | "rediss" | "valkey" | "valkeys") => {
                let host = match parsed.host() {
                    Some(url::Host::Domain(d)) if !d.is_empty() => decode(d),
                    Some(url::Host::Ipv4(ip)) => ip.to_string(),
                    Some(url::Host::Ipv6(ip)) => ip.to_string(),
                    // redis-py's default.
                    _ => "localhost".to_string(),
                };
                let port = parsed.port().unwrap_or(6379);
                let path = parsed.path().trim_matches('/');
                if db.is_none() && !path.is_empty() {
                    db = Some(path.parse().map_err(|_| {
                        bad(format!(
                            "has the path /{path}, which is not a database number"
                        ))
                    })?);
                }
                let address = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let addr = if matches!(scheme, "rediss" | "valkeys") {
                    ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure,
                        tls_params: None,
                    }
                } else {
                    ConnectionAddr::Tcp(host, port)
                };
                (addr, address)
            }
            "unix" | "redis+unix" | "valkey+unix" => {
                let path = decode(parsed.path());
                if !path.starts_with('/') || path.len() < 2 {
                    return Err(bad(
                        "must name an absolute socket path (unix:///run/redis.sock)".into(),
                    ));
                }
                (ConnectionAddr::Unix(path.clone().into()), path)
            }
            other => {
                return Err(bad(format!(
                    "has the scheme '{other}'; expected redis://, rediss://, unix:// or redis+unix://"
                )));
            }
        };
        let db = db.unwrap_or(0);
        if db < 0 {
            return Err(bad(format!("names the database {db}")));
        }
        let mut settings = RedisConnectionInfo::default()
            .set_db(db)
            .set_skip_set_lib_name();
        if let Some(user) = user {
            settings = settings.set_username(user);
        }
        if let Some(password) = password {
            settings = settings.set_password(password);
        }
        let info = addr
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?
            .set_redis_settings(settings);
        let ca =
            match ca_file {
                Some(file) => Some(std::fs::read(&file).with_context(|| {
                    format!("could not read {file} (ssl_ca_certs in redis.url)")
                })?),
                None => None,
            };
        Ok(Server { info, ca, address })
    }

    /// The server's address, for messages and for telling servers apart (no credentials).
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn db(&self) -> u32 {
        u32::try_from(self.info.redis_settings().db()).unwrap_or(u32::MAX)
    }

    /// The same server, database `db`.
    pub fn with_db(&self, db: u32) -> Server {
        let settings = self.info.redis_settings().clone().set_db(i64::from(db));
        Server {
            info: self.info.clone().set_redis_settings(settings),
            ..self.clone()
        }
    }

    /// Connects, authenticates and selects the URL's database.
    pub fn connect(&self, timeout: Option<Duration>) -> Result<Conn> {
        let timeout = timeout.unwrap_or(TIMEOUT);
        let address = self.address.clone();
        let client = match &self.ca {
            Some(pem) => redis::Client::build_with_tls(
                self.info.clone(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(self.info.clone()),
        }
        .with_context(|| format!("could not set up a connection to Redis at {address}"))?;
        let con = client.get_connection_with_timeout(timeout).map_err(|e| {
            if e.kind() == redis::ErrorKind::AuthenticationFailed {
                anyhow::anyhow!(
                    "Redis at {address} refused the credentials in redis.url: {e}; put the user and password in it \
                     (redis://user:password@host:port/0)"
                )
            } else {
                anyhow::anyhow!(
                    "Redis at {address} does not answer ({e}); start the server, or fix redis.url"
                )
            }
        })?;
        con.set_read_timeout(Some(timeout))?;
        con.set_write_timeout(Some(timeout))?;
        Ok(Conn { con, address })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, u32, Option<String>, Option<String>) {
        let s = Server::parse(url).unwrap();
        let r = s.info.redis_settings();
        (
            s.address.clone(),
            s.db(),
            r.username().map(str::to_string),
            r.password().map(str::to_string),
        )
    }

    #[test]
    fn reads_the_forms_redis_py_reads() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            parts("redis://127.0.0.1:6390/3"),
            ("127.0.0.1:6390".into(), 3, None, None)
        );
        assert_eq!(
            parts("redis://app:p%40ss@localhost"),
            ("localhost:6379".into(), 0, some("app"), some("p@ss"))
        );
        assert_eq!(
            parts("redis://:secret@[::1]:7000/0"),
            ("[::1]:7000".into(), 0, None, some("secret"))
        );
        // ?db= wins over the path, as in redis-py.
        assert_eq!(parts("redis://h:1/2?db=5").1, 5);
        assert_eq!(parts("redis://").0, "localhost:6379");
        assert_eq!(
            parts("rediss://default:pw@cache.example.com:6380/1"),
            (
                "cache.example.com:6380".into(),
                1,
                some("default"),
                some("pw")
            )
        );
        assert_eq!(
            parts("unix:///run/redis.sock?db=2"),
            ("/run/redis.sock".into(), 2, None, None)
        );
        assert_eq!(
            parts("unix://:pw@/tmp/r.sock?db=4"),
            ("/tmp/r.sock".into(), 4, None, some("pw"))
        );
        assert_eq!(
            parts("redis+unix:///tmp/r.sock?db=4&password=x").3,
            some("x")
        );
        assert_eq!(parts("redis://h?username=u&password=p").2, some("u"));
        assert!(matches!(
            Server::parse("redis://h").unwrap().info.addr(),
            ConnectionAddr::Tcp(..)
        ));
        assert!(matches!(
            Server::parse("rediss://h?ssl_cert_reqs=none")
                .unwrap()
                .info
                .addr(),
            ConnectionAddr::TcpTls { insecure: true, .. }
        ));
        for bad in [
            "redis://h:port",
            "localhost:6379",
            "unix://relative.sock",
            "http://h",
            "redis://h/x",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
        let err = Server::parse("redis://u:hunter2@h/x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn replaces_the_database() {
        assert_eq!(url_with_db("redis://h:1/0", 5), "redis://h:1/5");
        assert_eq!(url_with_db("redis://u:p@h:1", 5), "redis://u:p@h:1/5");
        assert_eq!(url_with_db("rediss://h:1/0?db=3", 5), "rediss://h:1/5");
        assert_eq!(
            url_with_db("unix:///s.sock?db=1&password=x", 7),
            "unix:///s.sock?password=x&db=7"
        );
        assert_eq!(mask("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(mask("unix:///s?password=secret"), "unix:///s?password=***");
    }

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(
            escape_glob("app:a*b?c[d]e\\f:"),
            "app:a\\*b\\?c\\[d\\]e\\\\f:"
        );
        assert_eq!(escape_glob("plain:"), "plain:");
    }
}
