//! CQRS plumbing: a transactional outbox and idempotent, resumable
//! projections.
//!
//! *Command Query Responsibility Segregation* keeps two models: a write model that takes
//! commands and stays consistent (normalised tables), and one or more read models shaped
//! for the queries (denormalised). Events carry the changes from one to the other. Two
//! things must hold for the read model to be trustworthy:
//!
//! 1. **No event is lost between the write and its publication.** A service that commits
//!    its change and then publishes the event separately (a *dual write*) loses the event
//!    if it dies in between. The [transactional outbox](outbox) records the event in the
//!    same database transaction as the change: both are there, or neither. A relay
//!    publishes from the outbox afterwards, at least once.
//! 2. **Applying an event twice changes nothing.** At-least-once delivery means
//!    redelivery after a crash. A [`Projector`] stores the position of the last event it
//!    applied *together with* the read model, skips any event at or below it, and
//!    refuses one that arrives before its turn
//!    ([`decide`]); after a crash it resumes from that stored position.
//!
//! | item | what it is |
//! |---|---|
//! | [`Projection`] | a read model: `apply(event)`, no rules, never fails |
//! | [`decide`], [`Delivery`] | the pure idempotence rule: apply only positions above the stored one |
//! | [`Projector`] | a projection and its position, updated together |
//! | [`outbox`] | (feature `sqlite`) the outbox table, `record` inside the caller's transaction, reads by position, stored checkpoints |
//! | [`relay`] | (feature `sqlite`) the relay (publish from the outbox at least once, resuming from a stored position; `AsyncRelay` for an async sink) and a projection into SQLite that stores its position in the same transaction as its update |
//! | [`CqrsError`] | why an outbox or relay operation failed |
//!
//! # Examples
//! ```
//! use unbreakable::cqrs::{Delivery, Projection, Projector};
//!
//! #[derive(Default)]
//! struct Total(i64);
//! impl Projection for Total {
//!     type Event = i64;
//!     fn apply(&mut self, e: &i64) { self.0 += e }
//! }
//!
//! let mut p = Projector::new(Total::default());
//! assert_eq!(p.deliver(1, &10), Delivery::Applied);
//! assert_eq!(p.deliver(2, &5), Delivery::Applied);
//! // Redelivered after a crash of the relay: skipped, the total stays right.
//! assert_eq!(p.deliver(2, &5), Delivery::Skipped);
//! assert_eq!((p.state().0, p.position()), (15, 2));
//! ```

pub mod error;
pub mod projection;

#[cfg(feature = "sqlite")]
pub mod outbox;
#[cfg(feature = "sqlite")]
pub mod relay;

pub use error::CqrsError;
pub use projection::{Delivery, Projection, Projector, decide};
