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
//!
//! # The pivot
//! Some step cannot be undone: a parcel handed to the carrier cannot be un-sent. Make it
//! the saga's *pivot* ([`Saga::with_pivot`]): the steps before it are undone if it (or
//! one of them) fails; once it has succeeded, the saga only goes forward. A step at or after
//! the pivot whose outcome is unknown is not compensated but performed again (so it must be
//! idempotent, for example keyed by the saga's id), and a step after the pivot that fails
//! is retried until it succeeds. A saga without a pivot treats every step as undoable.
//! The state machine keeps no count: a step that fails for good (a refused address) would
//! be asked for again and again, so the orchestrator bounds its attempts and hands the saga
//! to a person past the bound, as it does for a compensation that keeps failing.

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
/// with a compensation.
///
/// "cancel shipment" works only while the parcel has not left. Where it cannot be recalled,
/// shipping is the pivot ([`ORDER_FLOW_PIVOT`]): `Saga::new(4)?.with_pivot(ORDER_FLOW_PIVOT)?`
/// never cancels a shipment, and retries a ship call whose outcome is unknown instead.
pub const ORDER_FLOW: [Step; 4] = [
    Step { name: "create order", compensation: "cancel order" },
    Step { name: "reserve inventory", compensation: "release inventory" },
    Step { name: "process payment", compensation: "refund payment" },
    Step { name: "ship", compensation: "cancel shipment" },
];

/// The index of "ship" in [`ORDER_FLOW`], the step after which the order only goes forward.
pub const ORDER_FLOW_PIVOT: usize = 3;

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
    /// The step after which the saga only goes forward, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pivot: Option<usize>,
}

/// A saga as stored, checked by [`Saga::restore`] and [`Saga::with_pivot`] when it is read
/// back. A saga stored before pivots existed has none.
#[derive(Deserialize)]
struct SagaParts {
    steps: usize,
    done: usize,
    status: Status,
    #[serde(default)]
    pivot: Option<usize>,
}

impl TryFrom<SagaParts> for Saga {
    type Error = ConfigError;
    fn try_from(p: SagaParts) -> Result<Self, ConfigError> {
        let saga = Saga::restore(p.steps, p.done, p.status)?;
        match p.pivot {
            Some(pivot) => saga.with_pivot(pivot),
            None => Ok(saga),
        }
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
        Ok(Self { steps, done: 0, status: Status::Running, pivot: None })
    }

    /// The same saga with step `pivot` as its pivot: once that step has succeeded the saga
    /// only goes forward. Steps before it are compensated when it or one of them fails;
    /// from the pivot on, a step whose outcome is unknown is performed again, and a step
    /// after the pivot that fails is retried (both must be idempotent).
    ///
    /// # Errors
    /// A pivot past the last step, or a saga (as restored) already compensating a step at or
    /// after the pivot, which a saga with this pivot never does.
    ///
    /// # Examples
    /// Shipping is the pivot: its outcome is unknown, so it is tried again, not cancelled.
    /// ```
    /// use unbreakable::transactions::saga::{Action, ORDER_FLOW, ORDER_FLOW_PIVOT, Saga, Status};
    ///
    /// let mut saga = Saga::new(ORDER_FLOW.len()).unwrap().with_pivot(ORDER_FLOW_PIVOT).unwrap();
    /// for step in 0..3 {
    ///     saga.record(Action::Do(step), true).unwrap();
    /// }
    /// saga.record_unknown(Action::Do(3)).unwrap();         // the carrier's answer was lost
    /// assert_eq!((saga.status(), saga.next()), (Status::Running, Some(Action::Do(3))));
    /// saga.record(Action::Do(3), true).unwrap();           // asked again: it shipped
    /// assert_eq!(saga.status(), Status::Completed);
    /// ```
    pub fn with_pivot(mut self, pivot: usize) -> Result<Self, ConfigError> {
        if pivot >= self.steps {
            return Err(ConfigError::new(
                "pivot",
                format!(
                    "step {pivot} does not exist: a saga of {} steps has steps 0 to {}",
                    self.steps,
                    self.steps - 1
                ),
            ));
        }
        if self.status == Status::Compensating && self.done > pivot {
            return Err(ConfigError::new(
                "pivot",
                format!(
                    "this saga is compensating step {} of {}, at or after pivot {pivot}: a saga with this pivot never does",
                    self.done - 1,
                    self.steps
                ),
            ));
        }
        self.pivot = Some(pivot);
        Ok(self)
    }

    /// The pivot, if the saga has one.
    pub fn pivot(&self) -> Option<usize> {
        self.pivot
    }

    /// Whether step `i` is at or after the pivot (performed again, never compensated).
    fn forward_only(&self, i: usize) -> bool {
        self.pivot.is_some_and(|p| i >= p)
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
    /// compensations (a failed step after the pivot stays due instead: retry it); a failed
    /// compensation stays due (retry it).
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
            (Action::Do(i), false) if self.pivot.is_some_and(|p| i > p) => {} // retry forward
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
    /// In a saga with a [pivot](Self::with_pivot), a step at or after the pivot whose outcome is
    /// unknown is never compensated: it stays due, so perform it again (idempotently) until
    /// its outcome is known.
    ///
    /// # Errors
    /// [`OutOfOrder`] if `action` is not the one [`next`](Self::next) asked for.
    pub fn record_unknown(&mut self, action: Action) -> Result<(), OutOfOrder> {
        let expected = self.next();
        if expected != Some(action) {
            return Err(OutOfOrder { got: action, expected });
        }
        if let Action::Do(i) = action {
            if self.forward_only(i) {
                return Ok(()); // possibly done, never undone: ask again
            }
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

    #[test]
    fn from_the_pivot_on_an_unknown_outcome_is_retried_never_compensated() {
        let mut s = Saga::new(5).unwrap().with_pivot(3).unwrap();
        for i in 0..3 {
            s.record(Action::Do(i), true).unwrap();
        }
        s.record_unknown(Action::Do(3)).unwrap(); // the carrier's answer was lost
        assert_eq!(
            (s.status(), s.next()),
            (Status::Running, Some(Action::Do(3))),
            "ship again, do not cancel"
        );
        s.record(Action::Do(3), true).unwrap();
        s.record(Action::Do(4), false).unwrap(); // after the pivot: retried forward
        assert_eq!((s.status(), s.next()), (Status::Running, Some(Action::Do(4))));
        s.record_unknown(Action::Do(4)).unwrap();
        assert_eq!(s.next(), Some(Action::Do(4)));
        s.record(Action::Do(4), true).unwrap();
        assert_eq!((s.status(), s.next()), (Status::Completed, None));
    }

    #[test]
    fn before_and_at_the_pivot_a_failure_still_compensates() {
        // The pivot itself failing (known: nothing shipped) undoes the steps before it.
        let mut s = Saga::new(4).unwrap().with_pivot(ORDER_FLOW_PIVOT).unwrap();
        for i in 0..3 {
            s.record(Action::Do(i), true).unwrap();
        }
        s.record(Action::Do(3), false).unwrap();
        assert_eq!((s.status(), s.next()), (Status::Compensating, Some(Action::Undo(2))));
        // An unknown outcome before the pivot is compensated as without one.
        let mut s = Saga::new(4).unwrap().with_pivot(3).unwrap();
        s.record(Action::Do(0), true).unwrap();
        s.record_unknown(Action::Do(1)).unwrap();
        assert_eq!(s.next(), Some(Action::Undo(1)));
    }

    #[test]
    fn a_saga_with_a_pivot_never_undoes_a_step_from_the_pivot_on() {
        // 10,000 schedules of successes, failures and unknown outcomes (a fixed xorshift
        // sequence): every saga finishes, and none is ever asked to undo the pivot or a later
        // step, nor ends compensated once the pivot may have happened.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..10_000 {
            let steps = 1 + (next() % 6) as usize;
            let pivot = (next() % steps as u64) as usize;
            let mut s = Saga::new(steps).unwrap().with_pivot(pivot).unwrap();
            let mut pivot_maybe_done = false;
            for _ in 0..1_000 {
                let Some(action) = s.next() else { break };
                if let Action::Undo(i) = action {
                    assert!(i < pivot, "undo of step {i} with pivot {pivot}");
                }
                let outcome = next() % 4;
                match outcome {
                    0 => s.record_unknown(action).unwrap(),
                    1 => s.record(action, false).unwrap(),
                    _ => s.record(action, true).unwrap(),
                }
                if action == Action::Do(pivot) {
                    // The last answer about the pivot: done, unknown, or (asked again) not done.
                    pivot_maybe_done = outcome != 1;
                }
            }
            assert!(matches!(s.status(), Status::Completed | Status::Compensated), "{s:?} did not finish");
            assert!(
                !(pivot_maybe_done && s.status() == Status::Compensated),
                "{s:?}: compensated after its pivot may have happened"
            );
        }
    }

    #[test]
    fn a_pivot_is_checked_and_survives_a_restart() {
        assert!(Saga::new(4).unwrap().with_pivot(4).is_err());
        let compensating_past = Saga::restore(4, 4, Status::Compensating).unwrap();
        assert!(compensating_past.with_pivot(3).is_err(), "a saga with pivot 3 never undoes step 3");
        let mut s = Saga::new(4).unwrap().with_pivot(3).unwrap();
        s.record(Action::Do(0), true).unwrap();
        let stored = serde_json::to_string(&s).unwrap();
        let back: Saga = serde_json::from_str(&stored).unwrap();
        assert_eq!((back.pivot(), back), (Some(3), s));
        // Stored before pivots existed: none.
        let old: Saga = serde_json::from_str(r#"{"steps":4,"done":1,"status":"Running"}"#).unwrap();
        assert_eq!(old.pivot(), None);
        assert!(
            serde_json::from_str::<Saga>(r#"{"steps":4,"done":1,"status":"Running","pivot":7}"#).is_err()
        );
    }
}
