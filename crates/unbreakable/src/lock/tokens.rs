//! Where fencing tokens come from.
//!
//! A fencing token only protects a resource if no two grants ever get the same one. That
//! needs a counter that is **durable** (a restart does not forget an increment it has
//! answered) and **linearizable** (a failover never goes back to a state that had not
//! seen an answered increment).
//!
//! A Redis `INCR` is neither, unless Redis is configured for it: a replica receives the
//! increment after the primary answered it, so a failover to a replica that missed it
//! hands the same token out again; a restart without persistence (or with
//! `appendfsync everysec`) starts below tokens already given; an evicted counter key
//! starts again at 1. The tokens of `RedisLocks` are therefore only safe on a Redis that
//! never fails over and never restarts without having persisted every increment
//! (`appendonly yes`, `appendfsync always`, `maxmemory-policy noeviction`). A
//! [`FencedResource`](super::FencedResource) still refuses the second of two holders with
//! one token, but only once the first has written.
//!
//! The safe sources are a sequence in the database the lock protects (the resource itself
//! then orders the writes), or a consensus store (etcd's revision, ZooKeeper's `zxid`).
//! [`TokenSource`] is what a lock service needs from one; with the `sqlite` feature,
//! [`SqliteTokens`] is one on a SQLite file.

use std::future::Future;

use super::{LockError, Token};

/// A durable, linearizable counter per lock name: each call returns a token larger than
/// every token it returned before for that name, also across restarts and failovers.
///
/// Tokens drawn but not used (the lock was held) leave gaps; tokens only need to grow.
pub trait TokenSource: Send + Sync {
    /// The next token for `key`.
    ///
    /// # Errors
    /// [`LockError::Backend`] if the counter could not be advanced durably; no token was
    /// handed out then.
    fn next_token(&self, key: &str) -> impl Future<Output = Result<Token, LockError>> + Send;
}

#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteTokens;

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::Path;

    use rusqlite::Connection;

    use super::{LockError, Token, TokenSource};
    use crate::worker::Worker;

    /// How many requests may wait for the SQLite thread before `next_token` fails fast.
    const QUEUE: usize = 1024;

    /// Fencing tokens from a table in a SQLite file: one row per lock name, advanced and
    /// committed (`synchronous = FULL`) before the token is returned, so a crash or a
    /// restart never hands a token out twice.
    ///
    /// The file is the durable store; put it where the protected data lives (the same
    /// database file, when the resource is in SQLite, makes the resource itself the
    /// source). SQLite's I/O is blocking: it runs on one thread of its own, never on a
    /// tokio worker; up to 1024 requests queue for it. Cloning shares that thread.
    ///
    /// # Examples
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use unbreakable::lock::{SqliteTokens, Token, TokenSource};
    ///
    /// let dir = std::env::temp_dir().join(format!("tokens-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let tokens = SqliteTokens::open(dir.join("fence.db")).unwrap();
    /// let a = tokens.next_token("account:7").await.unwrap();
    /// assert!(tokens.next_token("account:7").await.unwrap() > a);
    /// drop(tokens);
    /// // reopened: the counter goes on where it stopped
    /// let again = SqliteTokens::open(dir.join("fence.db")).unwrap();
    /// assert_eq!(again.next_token("account:7").await.unwrap(), Token(a.0 + 2));
    /// # drop(again); std::fs::remove_dir_all(dir).unwrap();
    /// # });
    /// ```
    #[derive(Debug, Clone)]
    pub struct SqliteTokens {
        connection: Worker<Connection>,
    }

    fn backend(e: impl std::fmt::Display) -> LockError {
        LockError::Backend(format!("fencing-token store: {e}"))
    }

    impl SqliteTokens {
        /// Opens (or creates) the token table `fence_tokens` in the SQLite file at `path`
        /// and starts its thread.
        ///
        /// # Errors
        /// [`LockError::Backend`] if the file cannot be opened or the table created.
        pub fn open(path: impl AsRef<Path>) -> Result<Self, LockError> {
            let conn = Connection::open(path).map_err(backend)?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS fence_tokens (key TEXT PRIMARY KEY, last INTEGER NOT NULL);",
            )
            .map_err(backend)?;
            // The thread ends when every handle is dropped.
            let connection = Worker::spawn("unbreakable-fence-tokens", conn, QUEUE).map_err(backend)?;
            Ok(Self { connection })
        }
    }

    /// Advances `key`'s counter in one committed statement.
    fn advance(conn: &Connection, key: &str) -> Result<Token, LockError> {
        let last: i64 = conn
            .query_row(
                "INSERT INTO fence_tokens (key, last) VALUES (?1, 1)
                 ON CONFLICT (key) DO UPDATE SET last = last + 1 RETURNING last",
                [key],
                |row| row.get(0),
            )
            .map_err(backend)?;
        u64::try_from(last).map(Token).map_err(backend)
    }

    impl TokenSource for SqliteTokens {
        async fn next_token(&self, key: &str) -> Result<Token, LockError> {
            let key = key.to_string();
            self.connection.call(move |conn| advance(conn, &key)).await.map_err(backend)?
        }
    }
}
