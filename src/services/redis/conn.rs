//! A connection to a Redis server and the commands git-agent sends on it: ping, select a
//! database, count and flush its keys, and unlink the keys under a slot's prefix.

use anyhow::{Result, bail};

use super::{SCAN_COUNT, UNLINK_BATCH, escape_glob};

pub struct Conn {
    pub(super) con: redis::Connection,
    pub(super) address: String,
}

impl Conn {
    pub fn address(&self) -> &str {
        &self.address
    }

    fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd, name: &str) -> Result<T> {
        cmd.query(&mut self.con)
            .map_err(|e| anyhow::anyhow!("Redis at {} answered {name} with: {e}", self.address))
    }

    pub fn ping(&mut self) -> Result<()> {
        self.query::<String>(&redis::cmd("PING"), "PING")
            .map(|_| ())
    }

    pub fn select(&mut self, db: u32) -> Result<()> {
        self.query::<()>(redis::cmd("SELECT").arg(db), "SELECT")
    }

    pub fn dbsize(&mut self) -> Result<i64> {
        self.query(&redis::cmd("DBSIZE"), "DBSIZE")
    }

    pub fn flush_async(&mut self) -> Result<()> {
        self.query::<()>(redis::cmd("FLUSHDB").arg("ASYNC"), "FLUSHDB")
    }

    /// Deletes every key that starts with `prefix`, walking the keyspace with SCAN and
    /// freeing keys with UNLINK in small batches, so other clients never wait long. Returns
    /// how many keys were deleted.
    pub fn delete_prefix(&mut self, prefix: &str) -> Result<u64> {
        if prefix.is_empty() {
            bail!("refusing to delete Redis keys with an empty prefix: it would match every key");
        }
        let pattern = format!("{}*", escape_glob(prefix));
        let mut cursor = "0".to_string();
        let mut deleted = 0u64;
        loop {
            let (next, keys): (String, Vec<Vec<u8>>) = self.query(
                redis::cmd("SCAN")
                    .arg(&cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT),
                "SCAN",
            )?;
            // The pattern is escaped, so this only guards against a server that matched loosely.
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| k.starts_with(prefix.as_bytes()))
                .collect();
            for batch in keys.chunks(UNLINK_BATCH) {
                let n: u64 = self.query(redis::cmd("UNLINK").arg(batch), "UNLINK")?;
                deleted += n;
            }
            if next == "0" {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}
