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
//!
//! An orchestrator that can crash persists the saga after every recorded result (it is
//! `Serialize` and `Deserialize`; [`Saga::restore`] rebuilds one from its parts and
//! checks them) and, after a restart, performs [`Saga::next`] again: the action that was
//! in flight at the crash may run twice, which is one more reason every step and
//! compensation must be idempotent.
//!
//! A step whose outcome is unknown (the payment call timed out) is neither a success
//! nor a failure: [`Saga::record_unknown`] treats it as possibly done, so its own
//! compensation runs too. Compensations must therefore also be harmless for a step that
//! never happened (a refund of a payment that does not exist refunds nothing): key them
//! by the saga's id, not by an answer the step may never have returned.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// One step and the step that undoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does ("reserve inventory").
    pub name: &'static str,
    /// What undoes it ("release inventory").
    pub compensation: &'static str,
}

/// A typical order flow: create the order, reserve inventory, take the payment, ship; each
/// undone by its compensation.
pub const ORDER_FLOW: [Step; 4] = [
    Step { name: "create order", compensation: "cancel order" },
    Step { name: "reserve inventory", compensation: "release inventory" },
    Step { name: "process payment", compensation: "refund payment" },
    Step { name: "ship", compensation: "cancel shipment" },
];

/// What the orchestrator does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Run step `i`.
    Do(usize),
    /// Run the compensation of step `i`.
    Undo(usize),
}

/// Where a saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SagaParts")]
pub struct Saga {
    steps: usize,
    /// Steps done and not (yet) compensated: `0..done`.
    done: usize,
    status: Status,
}

/// A saga as stored, checked by [`Saga::restore`] when it is read back.
#[derive(Deserialize)]
struct SagaParts {
    steps: usize,
    done: usize,
    status: Status,
}

impl TryFrom<SagaParts> for Saga {
    type Error = ConfigError;
    fn try_from(p: SagaParts) -> Result<Self, ConfigError> {
        Saga::restore(p.steps, p.done, p.status)
    }
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

    /// A saga rebuilt from what was persisted: its number of steps, the steps done and
    /// not compensated ([`done`](Self::done)) and its [`status`](Self::status).
    /// Deserialising a `Saga` goes through the same checks.
    ///
    /// # Errors
    /// Parts no saga can reach: zero steps, more steps done than exist, `Running` with
    /// every step done, `Completed` with one not done, `Compensating` with nothing left
    /// to undo, `Compensated` with a step still done.
    pub fn restore(steps: usize, done: usize, status: Status) -> Result<Self, ConfigError> {
        let mut saga = Self::new(steps)?;
        let consistent = done <= steps
            && match status {
                Status::Running => done < steps,
                Status::Completed => done == steps,
                Status::Compensating => done >= 1,
                Status::Compensated => done == 0,
            };
        if !consistent {
            return Err(ConfigError::new(
                "saga",
                format!(
                    "{done} of {steps} steps done cannot be {status:?}; this saga was not stored by this code"
                ),
            ));
        }
        saga.done = done;
        saga.status = status;
        Ok(saga)
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

    /// Records that `action` ran but its outcome is unknown (a timeout, a lost answer).
    ///
    /// A step ([`Action::Do`]) is treated as possibly done: the saga starts compensating
    /// **with that step's own compensation**, then the earlier ones. So each compensation
    /// must be idempotent and harmless when its step never took effect. (If the step
    /// itself is idempotent, you may instead perform it again and [`record`](Self::record)
    /// the answer.) An unknown compensation ([`Action::Undo`]) stays due: run it again.
    ///
    /// # Errors
    /// [`OutOfOrder`] if `action` is not the one [`next`](Self::next) asked for.
    pub fn record_unknown(&mut self, action: Action) -> Result<(), OutOfOrder> {
        let expected = self.next();
        if expected != Some(action) {
            return Err(OutOfOrder { got: action, expected });
        }
        if let Action::Do(_) = action {
            self.done += 1; // possibly done: compensate it too
            self.status = Status::Compensating;
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

    #[test]
    fn a_step_with_an_unknown_outcome_is_compensated_too() {
        let mut s = Saga::new(4).unwrap();
        s.record(Action::Do(0), true).unwrap();
        s.record(Action::Do(1), true).unwrap();
        s.record_unknown(Action::Do(2)).unwrap(); // the payment call timed out
        assert_eq!((s.status(), s.next()), (Status::Compensating, Some(Action::Undo(2))), "refund it");
        s.record_unknown(Action::Undo(2)).unwrap(); // the refund timed out too: again
        assert_eq!(s.next(), Some(Action::Undo(2)));
        for i in (0..=2).rev() {
            s.record(Action::Undo(i), true).unwrap();
        }
        assert_eq!((s.status(), s.next()), (Status::Compensated, None));
        assert!(s.record_unknown(Action::Do(0)).is_err());
        // Unknown on the first or the last step.
        let mut s = Saga::new(1).unwrap();
        s.record_unknown(Action::Do(0)).unwrap();
        assert_eq!((s.status(), s.next()), (Status::Compensating, Some(Action::Undo(0))));
    }

    #[test]
    fn a_saga_survives_a_restart_through_json_and_refuses_impossible_states() {
        let mut s = Saga::new(4).unwrap();
        s.record(Action::Do(0), true).unwrap();
        s.record(Action::Do(1), false).unwrap();
        let stored = serde_json::to_string(&s).unwrap();
        let mut back: Saga = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.next(), Some(Action::Undo(0)));
        back.record(Action::Undo(0), true).unwrap();
        assert_eq!(back.status(), Status::Compensated);
        assert_eq!(Saga::restore(4, 2, Status::Running).unwrap().next(), Some(Action::Do(2)));
        for (steps, done, status) in [
            (0, 0, Status::Running),
            (4, 5, Status::Compensating),
            (4, 4, Status::Running),
            (4, 3, Status::Completed),
            (4, 0, Status::Compensating),
            (4, 1, Status::Compensated),
        ] {
            assert!(Saga::restore(steps, done, status).is_err(), "{steps} {done} {status:?}");
        }
        assert!(serde_json::from_str::<Saga>(r#"{"steps":4,"done":9,"status":"Running"}"#).is_err());
    }
}
