//! # unbreakable-lab
//!
//! The laboratory of the *Unbreakable* workbook: the patterns of the [`unbreakable`]
//! crate put in front of services that fail on purpose, on a seeded virtual clock, and
//! summarised as polars frames and charts.
//!
//! A notebook loads this one crate. It re-exports every pattern module of `unbreakable`
//! under the same name, with the workbook's experiments added beside them, so
//! `unbreakable_lab::retry::Backoff` *is* `unbreakable::retry::Backoff`:
//!
//! | module | what it holds |
//! |---|---|
//! | [`cqrs`] | CQRS, from `unbreakable` (the outbox, relay and projectors), plus the workbook's product catalogue: write side, read model, generator, lag simulation |
//! | [`events`] | event sourcing, from `unbreakable` (plus the workbook's bank account and inventory models) |
//! | [`retry`], [`deadline`], [`degrade`], [`idempotency`], [`transactions`] | the patterns, from `unbreakable` (plus, in `deadline`, `degrade` and `idempotency`, the workbook's models: misbehaving loopback servers, choosing a timeout, the page model, a money ledger on SQLite, the HTTP methods experiment) |
//! | [`lock`] | leases, fencing tokens, the in-memory and Redis lock stores and leader election, from `unbreakable` |
//! | [`servers`] | real servers started on loopback for the chapters: a private Redis |
//! | [`sim`] | the simulation core: seeded randomness, virtual time, a discrete-event queue, fault-injected service models, traffic, and a [`Recorder`](sim::Recorder) that yields polars DataFrames |
//! | [`scenarios`] | the experiments of the notebooks, each a pure function of a configuration and a seed |
//! | [`frames`] | records as polars DataFrames, and summaries |
//! | [`table`] | DataFrames shown as HTML tables in a notebook (`df.table()`) |
//! | [`charts`] | chart functions that draw on any plotters `DrawingArea`; [`charts::book`] builds every chart of the workbook |
//! | [`proving`] (feature `sim`, on by default) | chapter 13: runs of `unbreakable-sim` (a checkout, a leader election and a transactional outbox under turmoil, with fixed bugs switched back on) as polars frames, the mutation table, and charts of a run's timeline and of the seeds each bug took; the simulation crate itself is [`unbreakable_sim`] |
//! | `play` (feature `play`) | the widgets' server: every widget's scenario with its parameters, run through a real axum service built with the crate's tower layers (`unbreakable-play`, `./workbook play`) |
//!
//! The same seed always gives the same numbers and the same chart, byte for byte.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use unbreakable_lab::retry::{Backoff, Jitter};
//! use unbreakable_lab::sim::rng;
//!
//! let backoff = Backoff::exponential(Duration::from_millis(1000))
//!     .with_cap(Duration::from_secs(30))
//!     .with_jitter(Jitter::Full)
//!     .build()
//!     .unwrap();
//! let a: Vec<_> = backoff.delays(rng(7)).take(5).collect();
//! let b: Vec<_> = backoff.delays(rng(7)).take(5).collect();
//! assert_eq!(a, b); // the same seed, the same delays
//! ```

#![warn(missing_docs)]

pub mod cqrs;
pub mod deadline;
pub mod degrade;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod perf;
pub mod scenarios;
pub mod servers;
pub mod sim;

/// Retries, backoff and jitter, circuit breaking and retry budgets: [`unbreakable::retry`].
pub mod retry {
    pub use unbreakable::retry::*;
}

/// Distributed locks with fencing tokens and lease-based leader election:
/// [`unbreakable::lock`] (with the Redis back end).
pub mod lock {
    pub use unbreakable::lock::*;
}

/// Two-phase commit and sagas: [`unbreakable::transactions`].
pub mod transactions {
    pub use unbreakable::transactions::*;
}

/// The clock of the async edges: [`unbreakable::time`].
pub mod time {
    pub use unbreakable::time::*;
}

#[cfg(feature = "charts")]
pub mod charts;

#[cfg(feature = "play")]
pub mod play;

#[cfg(feature = "sim")]
pub mod proving;

/// The deterministic simulation (turmoil) of chapter 13, for notebooks:
/// `use unbreakable_lab::unbreakable_sim::{run, Scenario, Mutant};`. (The laboratory's own
/// [`sim`] is its discrete-event core, another thing.)
#[cfg(feature = "sim")]
pub use unbreakable_sim;

#[cfg(feature = "frames")]
pub mod frames;

#[cfg(feature = "frames")]
pub mod table;

/// The patterns crate itself, for code that names it: `unbreakable_lab::unbreakable`.
pub use unbreakable;

/// The polars this crate is built with, for notebooks: `use unbreakable_lab::polars::prelude::*;`.
#[cfg(feature = "frames")]
pub use polars;

/// The tokio this crate is built with, for notebooks that write their own async code
/// (`unbreakable_lab::tokio::time::sleep`) and run it with
/// [`run_paused`](sim::run_paused).
pub use tokio;

/// The rand this crate is built with, for notebooks that draw their own random numbers
/// from a [`SimRng`](sim::SimRng) (`use unbreakable_lab::rand::Rng;`).
pub use rand;

/// The serde_json this crate is built with, for notebooks that write upcasters
/// (`unbreakable_lab::serde_json::json!`).
pub use serde_json;

pub use error::{ConfigError, Error};

/// Everything a notebook cell usually needs, in one `use unbreakable_lab::prelude::*;`.
pub mod prelude {
    #[cfg(feature = "charts")]
    pub use crate::charts;
    pub use crate::error::{ConfigError, Error};
    #[cfg(feature = "frames")]
    pub use crate::frames;
    pub use crate::retry::{
        AdaptiveThrottle, Backoff, BreakerConfig, CircuitBreaker, Jitter, RetryPolicy, RetryQuota, RetryRatio,
    };
    pub use crate::scenarios;
    pub use crate::sim::{
        Attempt, Effect, FaultWindow, Latency, Outcome, Recorder, ServiceConfig, ServiceModel, SimRng,
        millis, rng, secs,
    };
    #[cfg(feature = "frames")]
    pub use crate::table::AsTable;
    pub use std::time::Duration;
}
