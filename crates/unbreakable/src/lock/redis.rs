//! Locks on a real Redis (feature `redis`).
//!
//! One lock is two keys: `lock:{name}` holds `owner/token` with a `PX` expiry, and
//! `lock:{name}:fence` is the fencing-token counter. The braces are a Redis Cluster hash
//! tag: both keys live in one slot, so one script may touch both. Each operation is one
//! Lua script, which Redis runs atomically:
//!
//! * acquire: if the lock key exists, answer its remaining `PTTL`; else take the token
//!   (`INCR` the counter, or the one given to [`acquire_given`](LockStore::acquire_given))
//!   and `SET` the key to `owner/token` with `PX ttl` (the semantics of
//!   `SET key value NX PX ttl`, with the token from the same atomic step);
//! * renew: `PEXPIRE` only if the key still holds this grant's value (compare-and-expire);
//! * release: `DEL` only if the key still holds this grant's value (compare-and-delete).
//!   A plain `DEL` would free the lock of whoever took it over after this lease ran out.
//!
//! # What the tokens are worth
//!
//! This is a lease on **one** Redis, and `INCR` is replicated asynchronously: if the
//! server fails over to a replica that had not received the last `SET` and `INCR`, two
//! clients hold the lock **with the same token**; a restart without persistence does the
//! same. The `INCR` tokens are safe only on a Redis that neither fails over nor restarts
//! without having persisted every increment. Elsewhere, take tokens from a durable,
//! linearizable [`TokenSource`](super::TokenSource) and take the lock with them through
//! [`acquire_given`](LockStore::acquire_given) (see [`tokens`](super::tokens)), and let
//! the resource refuse an equal token from another holder
//! ([`FencedResource`](super::FencedResource) does). A token drawn for a lock that turns
//! out to be held is not used (tokens only need to grow); an acquire that loses a race
//! with a newer token gets the lock with the older one, which a fenced resource refuses
//! once the newer has written.
//!
//! # Keys that stay
//!
//! The counter `lock:{name}:fence` never expires: one small key per lock name, for ever
//! (an expiring or evicted counter would start again at 1 and be refused by every fenced
//! resource). Use a bounded set of lock names (not one per request id), and run Redis with
//! `maxmemory-policy noeviction` or a `volatile-*` policy, which never evicts it.
//! Tokens are Lua numbers inside the scripts: exact up to 2^53.
//!
//! # Connections
//!
//! Requests go through redis-rs's [`ConnectionManager`]: it reconnects (with backoff)
//! after a broken connection, and every request fails after
//! [`RedisConfig::response_timeout`] instead of waiting for ever. A lease must be longer
//! than that timeout plus the drift allowance, or a grant could arrive after its lease
//! ended: [`acquire`](LockStore::acquire) refuses shorter TTLs.

use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::election::drift_allowance;
use super::error::check;
use super::{Grant, LockError, LockStore, Token};
use crate::error::ConfigError;

// The token goes into the value as `%d`: Lua's own number-to-string (`%.14g`) would
// write 10^14 as `1e+14`, which `Grant::value` never matches. An empty ARGV[3] takes the
// token from the counter, a given one is used as it is.
const ACQUIRE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local token = ARGV[3]
if token == '' then
  token = string.format('%d', redis.call('INCR', KEYS[2]))
end
redis.call('SET', KEYS[1], ARGV[1] .. '/' .. token, 'PX', ARGV[2])
return {1, token}
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

/// How [`RedisLocks`] talks to Redis.
///
/// # Default
/// | field | default | why |
/// |---|---|---|
/// | `response_timeout` | 200 ms | a Redis command answers in well under a millisecond; a lease of 250 ms or more leaves room for it |
/// | `connection_timeout` | 1 s | redis-rs's default for one connection attempt |
/// | `reconnect_attempts` | 6 | redis-rs's default: about 6 s of backoff before a request fails with the connection error |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisConfig {
    /// How long one request waits for its answer. Must be shorter than every lease's
    /// `ttl - drift_allowance(ttl)`.
    pub response_timeout: Duration,
    /// How long one connection attempt may take.
    pub connection_timeout: Duration,
    /// How many times a broken connection is re-established (with exponential backoff)
    /// before requests fail.
    pub reconnect_attempts: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_millis(200),
            connection_timeout: Duration::from_secs(1),
            reconnect_attempts: 6,
        }
    }
}

impl RedisConfig {
    /// Checks the timeouts.
    ///
    /// # Errors
    /// A zero timeout (every request would fail).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.response_timeout.is_zero() {
            return Err(ConfigError::new(
                "response_timeout",
                "0 fails every request; use a little more than Redis's slowest answer (200 ms by default)",
            ));
        }
        if self.connection_timeout.is_zero() {
            return Err(ConfigError::new(
                "connection_timeout",
                "0 fails every connection attempt; use about 1 s",
            ));
        }
        Ok(())
    }

    /// Checks that a lease of `ttl` outlasts a request that takes the whole response timeout.
    fn check_ttl(&self, ttl: Duration) -> Result<(), LockError> {
        if self.response_timeout >= ttl.saturating_sub(drift_allowance(ttl)) {
            return Err(ConfigError::new(
                "ttl",
                format!(
                    "a lease of {ttl:?} can end before an answer that takes the response timeout of {:?} arrives; use a lease longer than the response timeout plus 1% + 2 ms, or a shorter response timeout",
                    self.response_timeout
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// Lease locks with fencing tokens on a Redis server. Cloning shares the connection
/// (a [`ConnectionManager`]: many tasks may use it at once, and it reconnects).
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
    conn: ConnectionManager,
    config: RedisConfig,
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

fn held(key: &str, pttl: &str) -> LockError {
    LockError::Held { key: key.to_string(), remaining: Duration::from_millis(pttl.parse().unwrap_or(0)) }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisLocks {
    /// Connects to the Redis at `url` (`redis://host:port/db`, or `redis+unix:///path`),
    /// with the [default](RedisConfig) timeouts.
    ///
    /// # Errors
    /// [`LockError::Backend`] if the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, LockError> {
        Self::connect_with(url, RedisConfig::default()).await
    }

    /// Connects with `config`.
    ///
    /// # Errors
    /// [`LockError::Config`] as [`RedisConfig::validate`]; [`LockError::Backend`] if the
    /// URL is invalid or the server cannot be reached.
    pub async fn connect_with(url: &str, config: RedisConfig) -> Result<Self, LockError> {
        config.validate()?;
        let client = redis::Client::open(url).map_err(backend)?;
        let manager = ConnectionManagerConfig::new()
            .set_response_timeout(Some(config.response_timeout))
            .set_connection_timeout(Some(config.connection_timeout))
            .set_number_of_retries(config.reconnect_attempts);
        let conn = ConnectionManager::new_with_config(client, manager).await.map_err(backend)?;
        Ok(Self {
            conn,
            config,
            acquire: Script::new(ACQUIRE),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        })
    }

    /// The connection, for the caller's own commands.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Its configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    fn pre_check(&self, owner: &str, ttl: Duration) -> Result<(), LockError> {
        check(owner, ttl)?;
        self.config.check_ttl(ttl)
    }

    async fn run_acquire(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        token: Option<Token>,
    ) -> Result<Grant, LockError> {
        let mut conn = self.conn.clone();
        let (granted, answer): (i64, String) = self
            .acquire
            .key(lock_key(key))
            .key(fence_key(key))
            .arg(owner)
            .arg(millis(ttl))
            .arg(token.map(|t| t.0.to_string()).unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        if granted != 1 {
            return Err(held(key, &answer));
        }
        let token = answer
            .parse::<u64>()
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| LockError::Backend(format!("acquire answered token {answer:?}")))?;
        Ok(Grant { key: key.to_string(), owner: owner.to_string(), token: Token(token), ttl })
    }
}

impl LockStore for RedisLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
        self.pre_check(owner, ttl)?;
        self.run_acquire(key, owner, ttl, None).await
    }

    async fn acquire_given(
        &self,
        key: &str,
        owner: &str,
        ttl: Duration,
        token: Token,
    ) -> Result<Grant, LockError> {
        self.pre_check(owner, ttl)?;
        self.run_acquire(key, owner, ttl, Some(token)).await
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
