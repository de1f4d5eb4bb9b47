//! The experiments of the notebooks. Each is a pure function of a configuration and a
//! seed, returning records; the notebooks and the chart command call the same functions.
//!
//! * [`population`]: the general engine — groups of clients with a retry strategy in
//!   front of one fault-injected service, on the discrete-event queue.
//! * [`widget`], [`herd`], [`flash_sale`], [`expectation`]: chapter 02 set-ups of it.
//! * [`contention`]: the AWS "Exponential Backoff And Jitter" optimistic-concurrency
//!   experiment.
//! * [`amplification`]: retries at every layer of a call chain.
//! * [`breaker`]: a circuit breaker in front of a service that fails for a while (chapter 03).
//! * [`bimodal`]: a few hanging requests eat a thread pool (chapter 04).
//! * [`wasted`]: work done down a call chain after the client gave up, with independent
//!   timeouts and with a propagated deadline (chapter 04).
//! * [`weather`]: a hanging dependency exhausts a thread pool, and a read timeout with a
//!   fallback keeps the service up (chapter 04).
//! * [`shop_day`]: a day of shop traffic with the recommendation engine down, with and
//!   without degradation (chapter 05).
//! * [`checkout`]: fail fast or degrade at checkout, and what each costs (chapter 05).
//! * [`payments`]: payments over a lossy network, with and without idempotency keys
//!   (chapter 06).
//! * [`two_pc`]: two-phase commit with a crashing coordinator: locks held, requests
//!   blocked (chapter 07).
//! * [`order_saga`]: the order saga against four services, with failing steps, failing
//!   compensations and lost answers (chapter 07).
//! * [`chain`]: chapter 01's gateway -> service -> database under each kind of failure.
//! * [`conn_pool`]: a connection pool's queue: the article's widget, and pool sizes
//!   against Erlang C (chapter 08).
//! * [`db_contention`]: a pool that is too large, against a database whose cost per query
//!   grows with the queries it runs at once (processor sharing and the Universal
//!   Scalability Law, chapter 08).
//! * [`locks`]: a double spend, a pause past a lease, fencing, a lock without expiry
//!   (chapter 11).
//! * [`election`]: Raft's randomised election timeouts against the paper's Figure 16
//!   (chapter 11).
//! * [`email_job`]: five servers, one daily e-mail job, a leader that crashes mid-job
//!   (chapter 11).
//! * [`paused`]: clients as async tasks through the `Retry` edge on tokio's paused clock.
//! * [`replay`]: event replay at scale, with and without snapshots (chapter 10).
//! * [`self_check`]: the self-check chapter's own experiment, a CQRS read model's lag (chapter 12).

pub mod amplification;
pub mod bimodal;
pub mod breaker;
pub mod chain;
pub mod checkout;
pub mod conn_pool;
pub mod contention;
pub mod db_contention;
pub mod election;
pub mod email_job;
pub mod expectation;
pub mod flash_sale;
pub mod herd;
pub mod locks;
pub mod migration;
pub mod order_saga;
pub mod paused;
pub mod payments;
pub mod population;
pub mod replay;
pub mod self_check;
pub mod shop_day;
pub mod two_pc;
pub mod wasted;
pub mod weather;
pub mod widget;

pub use population::{Group, Guard, Population, Run, Start, Strategy};
