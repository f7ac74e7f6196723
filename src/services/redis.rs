//! Redis: a key prefix per slot (default) or a numbered database 1-15 (`isolation = "db"`).
//!
//! git-agent speaks RESP itself over a TCP or Unix socket: the few commands it needs (AUTH,
//! SELECT, SCAN, UNLINK, DBSIZE, FLUSHDB) fit in a small client, so there is no dependency to
//! keep and no `redis-cli` process per batch of keys.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// The highest numbered database a slot may get; 0 is the application's own and never used.
pub const MAX_DB: u32 = 15;
/// Keys per SCAN step and per UNLINK: small enough that the server never stalls.
const SCAN_COUNT: usize = 1000;
const UNLINK_BATCH: usize = 500;

/// Where a Redis server is, as parsed from `redis://`, `unix://` or `redis+unix://` URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub target: Target,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp { host: String, port: u16 },
    Unix(String),
}

impl Url {
    pub fn parse(url: &str) -> Result<Url> {
        let bad = |why: &str| anyhow::anyhow!("redis.url '{}' {why}", mask(url));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("is not a URL (expected redis://host:port/db)"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let mut parsed = Url {
            target: Target::Unix(String::new()),
            user: None,
            password: None,
            db: 0,
        };
        let mut query_db = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "db" => {
                    query_db = Some(
                        value
                            .parse()
                            .map_err(|_| bad("has a db that is not a number"))?,
                    )
                }
                "password" => parsed.password = Some(percent_decode(value)),
                "user" | "username" => parsed.user = Some(percent_decode(value)),
                _ => {}
            }
        }
        match scheme {
            "redis" => {
                let (auth, hostport) = match rest.rsplit_once('@') {
                    Some((a, h)) => (Some(a), h),
                    None => (None, rest),
                };
                if let Some(auth) = auth {
                    let (user, pass) = match auth.split_once(':') {
                        Some((u, p)) => (u, Some(p)),
                        None => ("", Some(auth)),
                    };
                    parsed.user = (!user.is_empty()).then(|| percent_decode(user));
                    parsed.password = pass.filter(|p| !p.is_empty()).map(percent_decode);
                }
                let (hostport, path) = match hostport.split_once('/') {
                    Some((h, p)) => (h, p),
                    None => (hostport, ""),
                };
                let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
                    let (host, after) = v6
                        .split_once(']')
                        .ok_or_else(|| bad("has an unclosed '[' in its host"))?;
                    (host.to_string(), after.strip_prefix(':').unwrap_or(""))
                } else {
                    match hostport.rsplit_once(':') {
                        Some((h, p)) => (h.to_string(), p),
                        None => (hostport.to_string(), ""),
                    }
                };
                let port = if port.is_empty() {
                    6379
                } else {
                    port.parse()
                        .map_err(|_| bad("has a port that is not a number"))?
                };
                let host = if host.is_empty() {
                    "127.0.0.1".to_string()
                } else {
                    host
                };
                parsed.target = Target::Tcp { host, port };
                if !path.is_empty() {
                    parsed.db = path
                        .parse()
                        .map_err(|_| bad("has a database (the path) that is not a number"))?;
                }
            }
            "unix" | "redis+unix" => {
                let path = match rest.rsplit_once('@') {
                    Some((auth, path)) => {
                        let (user, pass) = auth.split_once(':').unwrap_or(("", auth));
                        parsed.user = (!user.is_empty()).then(|| percent_decode(user));
                        parsed.password = (!pass.is_empty()).then(|| percent_decode(pass));
                        path
                    }
                    None => rest,
                };
                if !path.starts_with('/') {
                    return Err(bad(
                        "must name an absolute socket path (unix:///run/redis.sock)",
                    ));
                }
                parsed.target = Target::Unix(percent_decode(path));
            }
            "rediss" => {
                return Err(bad(
                    "uses TLS (rediss://), which git-agent does not speak; use a local redis:// server",
                ));
            }
            other => {
                return Err(bad(&format!(
                    "has the scheme '{other}'; expected redis://, unix:// or redis+unix://"
                )));
            }
        }
        if let Some(db) = query_db {
            parsed.db = db;
        }
        Ok(parsed)
    }

    /// The server's address, for messages and for telling servers apart (no credentials).
    pub fn address(&self) -> String {
        match &self.target {
            Target::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Target::Tcp { host, port } => format!("{host}:{port}"),
            Target::Unix(path) => path.clone(),
        }
    }
}

/// `url` with its database set to `db` (for the REDIS_URL of a slot with its own database).
pub fn url_with_db(url: &str, db: u32) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    if let Some(after) = base.strip_prefix("redis://") {
        let authority = after.split('/').next().unwrap_or(after);
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        return format!("redis://{authority}/{db}{query}");
    }
    let mut pairs: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("db="))
        .collect();
    let db_pair = format!("db={db}");
    pairs.push(&db_pair);
    format!("{base}?{}", pairs.join("&"))
}

/// The URL with any password replaced, for messages.
pub fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((auth, host)) if auth.contains(':') => {
            let user = auth.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => url.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(Ok(b)) = hex.map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes the glob characters of SCAN MATCH, so a prefix matches only itself.
pub fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 2);
    for ch in prefix.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

trait Io: Read + Write {}
impl<T: Read + Write> Io for T {}

pub struct Conn {
    io: BufReader<Box<dyn Io>>,
    address: String,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Conn {
    /// Connects, authenticates and selects the URL's database.
    pub fn open(url: &Url) -> Result<Conn> {
        let address = url.address();
        let refused = |e: std::io::Error| {
            anyhow::anyhow!(
                "could not connect to Redis at {address}: {e}; start the server, or fix redis.url"
            )
        };
        let io: Box<dyn Io> = match &url.target {
            Target::Tcp { host, port } => {
                let addrs: Vec<_> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(refused)?
                    .collect();
                let mut last = None;
                let mut stream = None;
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, TIMEOUT) {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let stream = match stream {
                    Some(s) => s,
                    None => {
                        return Err(refused(
                            last.unwrap_or_else(|| std::io::Error::other("no address")),
                        ));
                    }
                };
                stream.set_read_timeout(Some(TIMEOUT))?;
                stream.set_write_timeout(Some(TIMEOUT))?;
                let _ = stream.set_nodelay(true);
                Box::new(stream)
            }
            Target::Unix(path) => {
                let stream = UnixStream::connect(path).map_err(refused)?;
                stream.set_read_timeout(Some(TIMEOUT))?;
                stream.set_write_timeout(Some(TIMEOUT))?;
                Box::new(stream)
            }
        };
        let mut conn = Conn {
            io: BufReader::new(io),
            address: address.clone(),
        };
        if let Some(password) = &url.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &url.user {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            conn.call(&args).with_context(|| {
                format!("Redis at {address} refused the credentials in redis.url")
            })?;
        }
        if url.db != 0 {
            conn.select(url.db)?;
        }
        Ok(conn)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Sends one command and reads its reply; a Redis error reply is an `Err`.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Value> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let address = self.address.clone();
        self.io
            .get_mut()
            .write_all(&out)
            .with_context(|| format!("could not send to Redis at {address}"))?;
        let name = String::from_utf8_lossy(args.first().copied().unwrap_or(b"")).into_owned();
        match read_value(&mut self.io)
            .with_context(|| format!("could not read Redis's reply to {name} from {address}"))?
        {
            Value::Error(e) => bail!("Redis at {address} answered {name} with: {e}"),
            value => Ok(value),
        }
    }

    pub fn select(&mut self, db: u32) -> Result<()> {
        self.call(&[b"SELECT", db.to_string().as_bytes()])
            .map(|_| ())
    }

    pub fn dbsize(&mut self) -> Result<i64> {
        match self.call(&[b"DBSIZE"])? {
            Value::Int(n) => Ok(n),
            other => bail!(
                "unexpected reply to DBSIZE from Redis at {}: {other:?}",
                self.address
            ),
        }
    }

    /// Deletes every key that starts with `prefix`, walking the keyspace with SCAN and
    /// freeing keys with UNLINK in small batches, so other clients never wait long. Returns
    /// how many keys were deleted.
    pub fn delete_prefix(&mut self, prefix: &str) -> Result<u64> {
        if prefix.is_empty() {
            bail!("refusing to delete Redis keys with an empty prefix: it would match every key");
        }
        let pattern = format!("{}*", escape_glob(prefix));
        let mut cursor = b"0".to_vec();
        let mut deleted = 0u64;
        loop {
            let reply = self.call(&[
                b"SCAN",
                &cursor,
                b"MATCH",
                pattern.as_bytes(),
                b"COUNT",
                SCAN_COUNT.to_string().as_bytes(),
            ])?;
            let (next, keys) = scan_reply(reply).with_context(|| {
                format!("unexpected reply to SCAN from Redis at {}", self.address)
            })?;
            // The pattern is escaped, so this only guards against a server that matched loosely.
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| k.starts_with(prefix.as_bytes()))
                .collect();
            for batch in keys.chunks(UNLINK_BATCH) {
                let mut args: Vec<&[u8]> = Vec::with_capacity(batch.len() + 1);
                args.push(b"UNLINK");
                args.extend(batch.iter().map(Vec::as_slice));
                if let Value::Int(n) = self.call(&args)? {
                    deleted += n.max(0) as u64;
                }
            }
            if next == b"0" {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

fn scan_reply(reply: Value) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let Value::Array(Some(mut parts)) = reply else {
        bail!("not an array")
    };
    if parts.len() != 2 {
        bail!("{} elements instead of 2", parts.len());
    }
    let keys = parts.pop();
    let cursor = parts.pop();
    let Some(Value::Bulk(Some(cursor))) = cursor else {
        bail!("no cursor")
    };
    let Some(Value::Array(Some(keys))) = keys else {
        bail!("no key list")
    };
    let keys = keys
        .into_iter()
        .map(|k| match k {
            Value::Bulk(Some(k)) => Ok(k),
            other => Err(anyhow::anyhow!("a key that is not a string: {other:?}")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((cursor, keys))
}

fn read_line(io: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut line = Vec::new();
    io.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        bail!("the connection closed in the middle of a reply");
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn read_value(io: &mut impl BufRead) -> Result<Value> {
    let line = read_line(io)?;
    let (kind, rest) = line.split_first().context("an empty reply line")?;
    let text = String::from_utf8_lossy(rest).into_owned();
    let number = || {
        text.parse::<i64>()
            .with_context(|| format!("a bad length or number in a reply: {text}"))
    };
    Ok(match kind {
        b'+' => Value::Status(text),
        b'-' => Value::Error(text),
        b':' => Value::Int(number()?),
        b'$' => {
            let len = number()?;
            if len < 0 {
                Value::Bulk(None)
            } else {
                let mut data = vec![0; len as usize + 2];
                io.read_exact(&mut data)?;
                data.truncate(len as usize);
                Value::Bulk(Some(data))
            }
        }
        b'*' => {
            let len = number()?;
            if len < 0 {
                Value::Array(None)
            } else {
                let mut items = Vec::with_capacity(len.min(4096) as usize);
                for _ in 0..len {
                    items.push(read_value(io)?);
                }
                Value::Array(Some(items))
            }
        }
        other => bail!("an unknown reply type '{}'", *other as char),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("redis://127.0.0.1:6390/3").unwrap();
        assert_eq!(
            u.target,
            Target::Tcp {
                host: "127.0.0.1".into(),
                port: 6390
            }
        );
        assert_eq!((u.db, u.user, u.password), (3, None, None));
        let u = Url::parse("redis://app:p%40ss@localhost").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref(), u.address()),
            (Some("app"), Some("p@ss"), "localhost:6379".into())
        );
        let u = Url::parse("redis://:secret@[::1]:7000/0").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref(), u.address()),
            (None, Some("secret"), "[::1]:7000".into())
        );
        let u = Url::parse("unix:///run/redis.sock?db=2").unwrap();
        assert_eq!(
            (u.target, u.db),
            (Target::Unix("/run/redis.sock".into()), 2)
        );
        let u = Url::parse("redis+unix:///tmp/r.sock?db=4&password=x").unwrap();
        assert_eq!((u.db, u.password.as_deref()), (4, Some("x")));
        assert!(
            Url::parse("rediss://h:1")
                .unwrap_err()
                .to_string()
                .contains("TLS")
        );
        assert!(Url::parse("redis://h:port").is_err());
        assert!(Url::parse("localhost:6379").is_err());
        assert!(Url::parse("unix://relative.sock").is_err());
    }

    #[test]
    fn replaces_the_database() {
        assert_eq!(url_with_db("redis://h:1/0", 5), "redis://h:1/5");
        assert_eq!(url_with_db("redis://u:p@h:1", 5), "redis://u:p@h:1/5");
        assert_eq!(
            url_with_db("unix:///s.sock?db=1&password=x", 7),
            "unix:///s.sock?password=x&db=7"
        );
        assert_eq!(mask("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
    }

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(
            escape_glob("app:a*b?c[d]e\\f:"),
            "app:a\\*b\\?c\\[d\\]e\\\\f:"
        );
        assert_eq!(escape_glob("plain:"), "plain:");
    }

    #[test]
    fn reads_nested_replies() {
        let raw = b"*2\r\n$1\r\n0\r\n*2\r\n$3\r\na:1\r\n$-1\r\n";
        let value = read_value(&mut &raw[..]).unwrap();
        assert_eq!(
            value,
            Value::Array(Some(vec![
                Value::Bulk(Some(b"0".to_vec())),
                Value::Array(Some(vec![
                    Value::Bulk(Some(b"a:1".to_vec())),
                    Value::Bulk(None)
                ]))
            ]))
        );
        assert!(read_value(&mut &b"$5\r\nab"[..]).is_err());
    }
}
