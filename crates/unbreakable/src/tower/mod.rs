//! The patterns as tower layers (feature `tower`): one line each in a hyper, axum, tonic
//! or reqwest-middleware stack.
//!
//! | layer | what it does | error it adds |
//! |---|---|---|
//! | [`RetryLayer`] | retries with [`RetryPolicy`](crate::retry::RetryPolicy) and jitter what a [`Classify`] says (for HTTP, [`http::HttpRetry`]: idempotent or keyed requests only), within the request's deadline, optionally guarded by a shared [`Breaker`](crate::retry::Breaker) and [`Budget`](crate::retry::Budget), each attempt optionally timed out; retries *responses* too (an HTTP 503) | [`GaveUp`] |
//! | [`BreakerLayer`] | guards a service with a shared [`Breaker`](crate::retry::Breaker); a predicate says which outcomes are failures | [`BreakerOpen`](crate::retry::BreakerOpen) |
//! | [`DeadlineLayer`] | bounds each `http::Request` by a [`Deadline`](crate::deadline::Deadline) (its own, a trusted caller's header, a default timeout), stored in the request's extensions, propagated downstream | [`DeadlineExceeded`](crate::deadline::DeadlineExceeded) |
//! | [`FallbackLayer`] | answers a fallback response instead of an error (or a timeout) | none: it removes them |
//! | [`BufferBodyLayer`] | collects a request body up to a limit, so the request can be copied for retries | [`BodyTooLarge`] |
//!
//! The layers' services return [`BoxError`], the ecosystem's convention for layered
//! services (tower's own `BoxError`). Every error a layer makes is a small type with a
//! clear message, to [`downcast_ref`](std::error::Error) from the box; errors of the
//! inner service pass through unchanged.
//!
//! The [`http`] module holds what HTTP stacks need around them: the classifier that
//! retries 5xx and honours `Retry-After` (both forms), the breaker's failure predicate
//! (5xx, 408 and 429 yes, other 4xx no), the deadline header's reading and writing,
//! and [`http::error_status`], the status to answer for each layer error.
//!
//! # In an axum or tonic service
//! * axum's `Router::layer` takes only infallible services: put
//!   `axum::error_handling::HandleErrorLayer` outermost, mapping the [`BoxError`] to a
//!   response ([`http::error_status`]; add `Retry-After` from a
//!   [`BreakerOpen`](crate::retry::BreakerOpen)). tonic's `Server::layer` accepts
//!   services whose error converts into a `BoxError`, but an error that is not a
//!   `tonic::Status` reaches the client as `UNKNOWN`: map the layers' errors to a
//!   `Status` (`DEADLINE_EXCEEDED`, `UNAVAILABLE`) in a layer of your own on top.
//! * On the server, [`DeadlineLayer`] ignores the caller's deadline header unless
//!   told to trust it ([`TrustHeader`]): do so on listeners only your services reach.
//! * Timeouts belong *inside* a breaker (below a [`BreakerLayer`], or the
//!   [`RetryLayer`]'s attempt timeout) so it records them as failures; a timeout
//!   above it cancels the call, which counts only with
//!   [`BreakerConfig::slow_call`](crate::retry::BreakerConfig::slow_call).
//! * The [`RetryLayer`] needs requests it can copy: [`BufferBodyLayer`] above it for
//!   bodies up to a bound, or a [`Classify`] whose `clone_request` says which cannot be
//!   copied (those are sent once).
//!
//! The test `tests/axum_stack.rs` is such a service, compiled and served on the
//! loopback: `HandleErrorLayer -> BreakerLayer -> DeadlineLayer -> Router`, with a
//! handler calling an upstream through `FallbackLayer -> RetryLayer`.
//!
//! A client stack, outermost first:
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(FallbackLayer::new(..))         // last resort: a degraded answer
//!     .layer(BufferBodyLayer::new(64 << 10)) // bodies up to 64 KiB, copyable
//!     .layer(RetryLayer::new(.., HttpRetry)) // retries what the layers below report
//!     .layer(BreakerLayer::new(..))          // each attempt asks the breaker
//!     .layer(DeadlineLayer::new(..))         // each attempt bounded, the header written
//!     .service(client)
//! ```
//!
//! Which timeouts are retried depends on where they sit:
//! * The [`RetryLayer`]'s own attempt timeout
//!   ([`with_attempt_timeout`](RetryLayer::with_attempt_timeout)) is the one that
//!   retries: the layer sees the cut and asks the classifier
//!   ([`Classify::on_timeout`]); [`http::HttpRetry`] sends a GET again, a POST without
//!   an `Idempotency-Key` not (it ends in an [`Elapsed`]). Set it shorter than the
//!   request's deadline, or nothing is left for a retry.
//! * A [`DeadlineLayer`] *below* the [`RetryLayer`] (as above) bounds each attempt by
//!   the request's deadline and writes the header; when it cuts an attempt it answers
//!   [`DeadlineExceeded`](crate::deadline::DeadlineExceeded), which
//!   [`http::HttpRetry`] calls [`Failed`](Verdict::Failed): not retried, since the
//!   request's time is spent. Its
//!   [`with_default_timeout`](DeadlineLayer::with_default_timeout) there starts afresh
//!   for each attempt, yet still ends the call: a timed-out GET is *not* retried.
//!   Use the attempt timeout for that.
//! * The request's whole deadline comes from above the [`RetryLayer`]: a
//!   [`DeadlineLayer`] on the server (its handler's requests carry the
//!   [`Deadline`](crate::deadline::Deadline) in their extensions), or one placed above
//!   the [`RetryLayer`] on a client. The [`RetryLayer`] reads it, and neither starts an
//!   attempt nor waits past it.
//!
//! Futures are boxed (`Pin<Box<dyn Future + Send>>`): one allocation per call, against
//! hand-written future types for every layer.

mod breaker;
mod buffer;
mod deadline;
mod error;
mod fallback;
pub mod http;
mod retry;

pub use breaker::{BreakerLayer, BreakerService};
pub use buffer::{BodyTooLarge, BufferBodyLayer, BufferBodyService};
pub use deadline::{DEFAULT_HEADER_FLOOR, DeadlineLayer, DeadlineService, TimeoutHeader, TrustHeader};
pub use error::{Elapsed, GaveUp, GiveUpReason};
pub use fallback::{FallbackLayer, FallbackServed, FallbackService};
pub use retry::{Classify, RetryLayer, RetryService, Verdict};

use std::future::Future;
use std::pin::Pin;

/// A boxed error, as tower's `BoxError`: what the layers' services return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The boxed future the layers' services return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
