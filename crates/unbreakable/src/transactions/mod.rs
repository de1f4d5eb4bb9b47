//! Distributed transactions: two-phase commit and sagas.
//!
//! * [`two_phase`]: all-or-nothing across services, paid for with locks held until the
//!   coordinator's decision arrives; a coordinator crash after the prepare phase blocks
//!   the prepared participants until it recovers.
//! * [`saga`]: a sequence of local steps, each with a compensation run in reverse when a
//!   later step fails; no cross-service locks, but the intermediate states are visible.
//!
//! Both are pure state machines: a service drives them from its own message handlers
//! and durable log (a saga serialises with serde and comes back with
//! [`Saga::restore`](saga::Saga::restore) after a restart).

pub mod saga;
pub mod two_phase;
