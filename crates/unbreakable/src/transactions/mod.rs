//! Distributed transactions: two-phase commit and sagas (chapter 06).
//!
//! * [`two_phase`]: all-or-nothing across services, paid for with locks held until the
//!   coordinator's decision arrives; a coordinator crash after the prepare phase blocks
//!   the prepared participants until it recovers.
//! * [`saga`]: a sequence of local steps, each with a compensation run in reverse when a
//!   later step fails; no cross-service locks, but the intermediate states are visible.
//!
//! Both are pure state machines; the experiments that run them are
//! [`scenarios::two_pc`](crate::scenarios::two_pc) and
//! [`scenarios::order_saga`](crate::scenarios::order_saga).

pub mod saga;
pub mod two_phase;
