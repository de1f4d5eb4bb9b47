//! Sagas: a long transaction as a sequence of local steps, each with a compensation.
//!
//! Each step commits on its own service at once; there are no locks across services.
//! If a step fails, the orchestrator runs the compensations of the steps already done,
//! newest first. A compensation may fail too (the payment service is down); it is then
//! retried with backoff until it succeeds, so it must be idempotent: a refund retried
//! after a lost answer must not refund twice.
//!
//! [`Saga`] is the orchestrator's pure state machine: [`Saga::next`] says what to do,
//! [`Saga::record`] takes the result. It never sleeps and never calls anyone.

use serde::Serialize;

use crate::error::ConfigError;

/// One step and the step that undoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does ("reserve inventory").
    pub name: &'static str,
    /// What undoes it ("release inventory").
    pub compensation: &'static str,
}

/// The article's order flow.
pub const ORDER_FLOW: [Step; 4] = [
    Step { name: "create order", compensation: "cancel order" },
    Step { name: "reserve inventory", compensation: "release inventory" },
    Step { name: "process payment", compensation: "refund payment" },
    Step { name: "ship", compensation: "cancel shipment" },
];

/// What the orchestrator does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Action {
    /// Run step `i`.
    Do(usize),
    /// Run the compensation of step `i`.
    Undo(usize),
}

/// Where a saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Status {
    /// Running its steps forward.
    Running,
    /// A step failed; undoing the ones done.
    Compensating,
    /// Every step done.
    Completed,
    /// Every step done before the failure has been undone.
    Compensated,
}

/// A result recorded for an action that was not the one due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("got a result for {got:?}, but the saga is waiting for {expected:?}")]
pub struct OutOfOrder {
    /// The action reported.
    pub got: Action,
    /// The action due, if any.
    pub expected: Option<Action>,
}

/// The orchestrator of one saga over `steps` steps.
///
/// # Examples
/// Payment fails: inventory is released, then the order cancelled.
/// ```
/// use unbreakable::transactions::saga::{Action, Saga, Status};
///
/// let mut saga = Saga::new(4).unwrap();
/// saga.record(Action::Do(0), true).unwrap();
/// saga.record(Action::Do(1), true).unwrap();
/// saga.record(Action::Do(2), false).unwrap();         // payment declined
/// assert_eq!(saga.next(), Some(Action::Undo(1)));      // release inventory
/// saga.record(Action::Undo(1), false).unwrap();        // inventory service down: retry
/// assert_eq!(saga.next(), Some(Action::Undo(1)));
/// saga.record(Action::Undo(1), true).unwrap();
/// saga.record(Action::Undo(0), true).unwrap();         // cancel order
/// assert_eq!((saga.status(), saga.next()), (Status::Compensated, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Saga {
    steps: usize,
    /// Steps done and not (yet) compensated: `0..done`.
    done: usize,
    status: Status,
}

impl Saga {
    /// A saga of `steps` steps, none done.
    ///
    /// # Errors
    /// Zero steps.
    pub fn new(steps: usize) -> Result<Self, ConfigError> {
        if steps == 0 {
            return Err(ConfigError::new("steps", "a saga needs at least one step"));
        }
        Ok(Self { steps, done: 0, status: Status::Running })
    }

    /// Where it stands.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Steps done and not compensated.
    pub fn done(&self) -> usize {
        self.done
    }

    /// What to do next; `None` when it has finished either way.
    pub fn next(&self) -> Option<Action> {
        match self.status {
            Status::Running => Some(Action::Do(self.done)),
            Status::Compensating => self.done.checked_sub(1).map(Action::Undo),
            Status::Completed | Status::Compensated => None,
        }
    }

    /// Records the result of `action`: success or failure. A failed step starts the
    /// compensations; a failed compensation stays due (retry it).
    ///
    /// # Errors
    /// [`OutOfOrder`] if `action` is not the one [`next`](Self::next) asked for.
    pub fn record(&mut self, action: Action, ok: bool) -> Result<(), OutOfOrder> {
        let expected = self.next();
        if expected != Some(action) {
            return Err(OutOfOrder { got: action, expected });
        }
        match (action, ok) {
            (Action::Do(_), true) => {
                self.done += 1;
                if self.done == self.steps {
                    self.status = Status::Completed;
                }
            }
            (Action::Do(_), false) => {
                self.status = if self.done == 0 { Status::Compensated } else { Status::Compensating };
            }
            (Action::Undo(_), true) => {
                self.done -= 1;
                if self.done == 0 {
                    self.status = Status::Compensated;
                }
            }
            (Action::Undo(_), false) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saga_completes_or_compensates_in_reverse() {
        let mut s = Saga::new(4).unwrap();
        for i in 0..4 {
            s.record(Action::Do(i), true).unwrap();
        }
        assert_eq!(s.status(), Status::Completed);
        let mut s = Saga::new(4).unwrap();
        s.record(Action::Do(0), false).unwrap();
        assert_eq!((s.status(), s.next()), (Status::Compensated, None));
        assert!(s.record(Action::Undo(0), true).is_err());
        assert!(Saga::new(0).is_err());
    }
}
