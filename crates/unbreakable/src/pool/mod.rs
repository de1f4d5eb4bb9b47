//! Sizing a connection pool.
//!
//! The pool itself is best taken from a maintained crate (deadpool, bb8, sqlx's):
//! deadpool-postgres, measured against per-request connections on a real PostgreSQL, lacks
//! nothing a service needs (FIFO waiters, a bounded size, acquire time-outs, recycling
//! checks, release on drop and on cancellation). What the pools leave to you is the
//! number. [`sizing`] answers it from queueing theory:
//! Little's law for the connections busy on average, Erlang C for how long requests wait
//! for one, and the smallest pool that keeps that wait under a target.

pub mod sizing;

pub use sizing::{ErlangC, busy_connections, erlang_c, smallest_pool};
