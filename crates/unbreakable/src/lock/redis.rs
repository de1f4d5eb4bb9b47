//! Locks on a real Redis (feature `redis`).
//!
//! One lock is two keys: `lock:{name}` holds `owner/token` with a `PX` expiry, and
//! `lock:{name}:fence` is the fencing-token counter (never expires). The braces are a
//! Redis Cluster hash tag: both keys live in one slot, so one script may touch both.
//! Each operation is one Lua script, which Redis runs atomically:
//!
//! * acquire: if the lock key exists, answer its remaining `PTTL`; else `INCR` the
//!   counter and `SET` the key to `owner/token` with `PX ttl` (the semantics of
//!   `SET key value NX PX ttl`, with the token from the same atomic step);
//! * renew: `PEXPIRE` only if the key still holds this grant's value (compare-and-expire);
//! * release: `DEL` only if the key still holds this grant's value (compare-and-delete).
//!   A plain `DEL` would free the lock of whoever took it over after this lease ran out.
//!
//! This is a lease on **one** Redis: if that server fails over to a replica that had not
//! received the `SET`, two clients can hold the lock. Redlock (a majority of independent
//! Redis servers) narrows that window; fencing tokens are what make a late holder
//! harmless either way.

use std::time::Duration;

use redis::Script;
use redis::aio::MultiplexedConnection;

use super::error::check;
use super::{Grant, LockError, LockStore, Token};

const ACQUIRE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '/' .. token, 'PX', ARGV[2])
return {token, 0}
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Lease locks with fencing tokens on a Redis server. Cloning shares the connection
/// (a multiplexed one: many tasks may use it at once).
///
/// # Examples
/// ```no_run
/// # async fn demo() -> Result<(), unbreakable::lock::LockError> {
/// use std::time::Duration;
/// use unbreakable::lock::{LockStore, redis::RedisLocks};
///
/// let locks = RedisLocks::connect("redis://127.0.0.1:6379/").await?;
/// let grant = locks.acquire("order:123", "host-a:4711:7f3a", Duration::from_secs(30)).await?;
/// // ... work, passing grant.token to every write ...
/// locks.release(&grant).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisLocks {
    conn: MultiplexedConnection,
    acquire: Script,
    renew: Script,
    release: Script,
}

impl std::fmt::Debug for RedisLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLocks").finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> LockError {
    LockError::Backend(e.to_string())
}

fn lock_key(key: &str) -> String {
    format!("lock:{{{key}}}")
}

fn fence_key(key: &str) -> String {
    format!("lock:{{{key}}}:fence")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisLocks {
    /// Connects to the Redis at `url` (`redis://host:port/db`, or `redis+unix:///path`).
    ///
    /// # Errors
    /// [`LockError::Backend`] if the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, LockError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let conn = client.get_multiplexed_async_connection().await.map_err(backend)?;
        Ok(Self::from_connection(conn))
    }

    /// Locks over an existing connection.
    pub fn from_connection(conn: MultiplexedConnection) -> Self {
        Self { conn, acquire: Script::new(ACQUIRE), renew: Script::new(RENEW), release: Script::new(RELEASE) }
    }

    /// The connection, for the caller's own commands.
    pub fn connection(&self) -> MultiplexedConnection {
        self.conn.clone()
    }
}

impl LockStore for RedisLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
        check(owner, ttl)?;
        let mut conn = self.conn.clone();
        let (token, pttl): (i64, i64) = self
            .acquire
            .key(lock_key(key))
            .key(fence_key(key))
            .arg(owner)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        match u64::try_from(token) {
            Ok(t) if t > 0 => {
                Ok(Grant { key: key.to_string(), owner: owner.to_string(), token: Token(t), ttl })
            }
            _ => Err(LockError::Held {
                key: key.to_string(),
                remaining: Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
            }),
        }
    }

    async fn renew(&self, grant: &Grant) -> Result<(), LockError> {
        let mut conn = self.conn.clone();
        let renewed: i64 = self
            .renew
            .key(lock_key(&grant.key))
            .arg(grant.value())
            .arg(millis(grant.ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        if renewed == 1 {
            Ok(())
        } else {
            Err(LockError::Lost { key: grant.key.clone(), token: grant.token.0 })
        }
    }

    async fn release(&self, grant: &Grant) -> Result<bool, LockError> {
        let mut conn = self.conn.clone();
        let deleted: i64 = self
            .release
            .key(lock_key(&grant.key))
            .arg(grant.value())
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(deleted == 1)
    }
}
