//! The article's order saga, run against four small services (chapter 07).
//!
//! Create order -> reserve inventory -> process payment -> ship; each step with its
//! compensation (cancel order, release inventory, refund payment, cancel shipment). The
//! orchestrator is [`Saga`]; the services are in-memory, and each operation carries the
//! saga's id, so a repeat of it is recognised (idempotent) unless `idempotent` is off.
//!
//! Failures:
//! * `fail_step`: that step fails for good (payment declined, say), which starts the
//!   compensations;
//! * `compensation_failures`: each compensation fails that many times first (its service
//!   is down); the orchestrator retries it with backoff;
//! * `lost_acks`: the probability that a successful operation's answer is lost; the
//!   orchestrator times out and sends it again.
//!
//! With idempotent services, a resent operation is recognised and not applied again;
//! without, a resent refund refunds twice.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::ConfigError;
use crate::error::check_probability;
use crate::idempotency::ledger::{Cents, Ledger, MemoryLedger, Transfer};
use crate::idempotency::{IdempotencyKey, Policy};
use crate::retry::{Backoff, Jitter};
use crate::sim::{Latency, SimTime, rng};
use crate::transactions::saga::{Action, ORDER_FLOW, Saga, Status};

/// What a span of the timeline was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SpanKind {
    /// A step that succeeded.
    Step,
    /// A step that failed.
    StepFailed,
    /// A compensation that succeeded.
    Compensation,
    /// An attempt that got no answer because its service was down: nothing happened; it
    /// will be retried.
    Retried,
    /// An attempt that *was* applied, but whose answer was lost: it will be retried, and
    /// only an idempotent service keeps the retry from applying it again.
    AnswerLost,
}

/// One action on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The step or compensation.
    pub label: &'static str,
    /// From.
    pub start: SimTime,
    /// To (when the orchestrator had its answer or gave up waiting).
    pub end: SimTime,
    /// What it was.
    pub kind: SpanKind,
}

/// What a user could see at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// When.
    pub at: SimTime,
    /// The action whose effect had just landed ("start" for the first snapshot).
    pub after: &'static str,
    /// The order's status: none, PENDING, CONFIRMED or CANCELLED.
    pub order: &'static str,
    /// Units reserved for it.
    pub reserved: i64,
    /// Cents the customer has paid, net of refunds.
    pub charged: Cents,
    /// Whether a shipment exists.
    pub shipped: bool,
}

/// The saga's settings.
///
/// # Default
/// Nothing fails; every action takes 50-150 ms; the orchestrator waits 1 s for an
/// answer; compensations are retried with full-jitter backoff from 200 ms (cap 5 s); an
/// order costs $80; services are idempotent.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OrderSaga {
    /// The step that fails for good, if any (0 = create order ... 3 = ship).
    pub fail_step: Option<usize>,
    /// How many times each compensation fails before it succeeds.
    pub compensation_failures: u32,
    /// Probability that a successful action's answer is lost.
    pub lost_acks: f64,
    /// Whether the services recognise repeats.
    pub idempotent: bool,
    /// How long each action takes.
    pub latency: Latency,
    /// How long the orchestrator waits for an answer.
    pub timeout: Duration,
    /// Backoff between retries.
    pub backoff: Backoff,
    /// The order's price, in cents.
    pub price: Cents,
}

impl Default for OrderSaga {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Self {
            fail_step: None,
            compensation_failures: 0,
            lost_acks: 0.0,
            idempotent: true,
            latency: Latency::Uniform { lo: ms(50), hi: ms(150) },
            timeout: Duration::from_secs(1),
            backoff: Backoff::exponential(ms(200))
                .with_cap(Duration::from_secs(5))
                .with_jitter(Jitter::Full)
                .build()
                .unwrap_or_else(|_| Backoff::immediate()),
            price: 8_000,
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SagaRun {
    /// How the saga ended.
    pub status: Status,
    /// Every action attempt, in order.
    pub spans: Vec<Span>,
    /// What a user could see after each action.
    pub snapshots: Vec<Snapshot>,
    /// The customer's balance change, in cents (negative: paid).
    pub customer_change: Cents,
    /// Money in the system before minus after (zero when conserved).
    pub money_created: Cents,
    /// Units of stock missing at the end (negative: too many released).
    pub stock_missing: i64,
    /// Whether the order ended confirmed.
    pub confirmed: bool,
    /// Whether a shipment exists at the end.
    pub shipped: bool,
}

/// The most action attempts one run makes, steps and compensations together. A run that
/// would need more ends early with its status still `Running` or `Compensating` (stuck).
pub const MAX_ATTEMPTS: u32 = 400;

/// The most times [`OrderSaga::compensation_failures`] may make each compensation fail.
pub const MAX_COMPENSATION_FAILURES: u32 = 40;

/// The four services.
struct World {
    idempotent: bool,
    order: &'static str,
    stock: i64,
    reservations: u32,
    ledger: MemoryLedger,
    charged: Cents,
    shipments: u32,
    seen: BTreeSet<(Action, bool)>,
    price: Cents,
}

const STOCK: i64 = 10;
const OPENING: Cents = 1_000_000;

impl World {
    /// Applies `action` at `now`; false if it could not be done (a payment refused).
    fn apply(&mut self, action: Action, now: SimTime) -> bool {
        let first = self.seen.insert((action, true));
        if self.idempotent && !first && !matches!(action, Action::Do(2) | Action::Undo(2)) {
            return true; // recognised repeat
        }
        match action {
            Action::Do(0) => self.order = "PENDING",
            Action::Do(1) => {
                self.stock -= 1;
                self.reservations += 1;
            }
            Action::Do(2) => return self.pay("charge", "customer", "shop", now),
            Action::Do(3) => {
                self.shipments += 1;
                self.order = "CONFIRMED";
            }
            Action::Undo(0) => self.order = "CANCELLED",
            Action::Undo(1) => {
                self.stock += 1;
                self.reservations = self.reservations.saturating_sub(1);
            }
            Action::Undo(2) => return self.pay("refund", "shop", "customer", now),
            Action::Undo(3) => self.shipments = self.shipments.saturating_sub(1),
            _ => {}
        }
        true
    }

    /// Moves the price through the ledger, with a key when idempotent.
    fn pay(&mut self, what: &str, from: &str, to: &str, now: SimTime) -> bool {
        let Ok(t) = Transfer::new(from, to, self.price) else { return false };
        let key = IdempotencyKey::new("order-service", format!("saga-1-{what}")).ok();
        let key = if self.idempotent { key.as_ref() } else { None };
        match self.ledger.transfer(key, &t, now) {
            Ok(applied) => {
                if !applied.replayed {
                    self.charged += if what == "charge" { self.price } else { -self.price };
                }
                true
            }
            Err(_) => false,
        }
    }

    fn snapshot(&self, at: SimTime, after: &'static str) -> Snapshot {
        Snapshot {
            at,
            after,
            order: self.order,
            reserved: i64::from(self.reservations),
            charged: self.charged,
            shipped: self.shipments > 0,
        }
    }
}

impl OrderSaga {
    /// Checks the settings.
    ///
    /// # Errors
    /// A step outside 0-3, more than [`MAX_COMPENSATION_FAILURES`], a probability
    /// outside 0-1, a zero timeout, or a non-positive price.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.fail_step.is_some_and(|s| s >= ORDER_FLOW.len()) {
            return Err(ConfigError::new(
                "fail_step",
                format!("the order flow has steps 0 to {}", ORDER_FLOW.len() - 1),
            ));
        }
        if self.compensation_failures > MAX_COMPENSATION_FAILURES {
            return Err(ConfigError::new(
                "compensation_failures",
                format!(
                    "{} is more than {MAX_COMPENSATION_FAILURES}; a compensation that keeps failing needs a person, not more retries",
                    self.compensation_failures
                ),
            ));
        }
        check_probability("lost_acks", self.lost_acks)?;
        if self.timeout.is_zero() || self.price <= 0 {
            return Err(ConfigError::new("timeout", "the timeout and the price must be positive"));
        }
        self.latency.validate()
    }

    /// Runs the saga once.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn run(&self, seed: u64) -> Result<SagaRun, ConfigError> {
        self.validate()?;
        let mut r = rng(seed);
        let ledger = MemoryLedger::new(&[("customer", OPENING), ("shop", OPENING)], Policy::default())?;
        let mut w = World {
            idempotent: self.idempotent,
            order: "none",
            stock: STOCK,
            reservations: 0,
            ledger,
            charged: 0,
            shipments: 0,
            seen: BTreeSet::new(),
            price: self.price,
        };
        let mut saga = Saga::new(ORDER_FLOW.len())?;
        let mut now = SimTime::ZERO;
        let (mut spans, mut snapshots) = (Vec::new(), vec![w.snapshot(now, "start")]);
        // Each action has its own backoff schedule, starting from the base again, and
        // its own count of tries.
        let mut current: Option<Action> = None;
        let mut delays = self.backoff.delays(crate::sim::substream(seed, 1));
        let mut tries = 0u32;
        let mut attempts = 0;
        while let Some(action) = saga.next() {
            attempts += 1;
            if attempts > MAX_ATTEMPTS {
                break;
            }
            let (label, compensating) = match action {
                Action::Do(i) => (ORDER_FLOW[i].name, false),
                Action::Undo(i) => (ORDER_FLOW[i].compensation, true),
            };
            if current != Some(action) {
                current = Some(action);
                delays = self.backoff.delays(crate::sim::substream(seed, u64::from(attempts) + 1));
                tries = 0;
            }
            tries += 1;
            let start = now;
            let took = self.latency.sample(&mut r);
            // A compensation's service is down for its first `compensation_failures`
            // tries: they fail without doing anything.
            let service_down = compensating && tries <= self.compensation_failures;
            let fails_for_good = action == Action::Do(self.fail_step.unwrap_or(usize::MAX));
            let ok = !service_down && !fails_for_good && w.apply(action, now + took);
            if ok {
                // The effect lands now, whether or not the answer gets back.
                snapshots.push(w.snapshot(now + took, label));
            }
            let ack_lost = ok && r.random::<f64>() < self.lost_acks;
            if ok && !ack_lost {
                now += took;
                spans.push(Span {
                    label,
                    start,
                    end: now,
                    kind: if compensating { SpanKind::Compensation } else { SpanKind::Step },
                });
                saga.record(action, true).map_err(|e| ConfigError::new("saga", e.to_string()))?;
            } else if fails_for_good {
                now += took;
                spans.push(Span { label, start, end: now, kind: SpanKind::StepFailed });
                saga.record(action, false).map_err(|e| ConfigError::new("saga", e.to_string()))?;
            } else {
                // No answer (service down, or the answer was lost): wait out the timeout,
                // back off, and send the same action again.
                now += self.timeout;
                spans.push(Span {
                    label,
                    start,
                    end: now,
                    kind: if ack_lost { SpanKind::AnswerLost } else { SpanKind::Retried },
                });
                now += delays.next().unwrap_or(self.timeout);
            }
        }
        let total = w.ledger.total().unwrap_or(0);
        Ok(SagaRun {
            status: saga.status(),
            spans,
            snapshots,
            customer_change: w.ledger.balance("customer").unwrap_or(0) - OPENING,
            money_created: total - 2 * OPENING,
            stock_missing: STOCK - w.stock,
            confirmed: w.order == "CONFIRMED",
            shipped: w.shipments > 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn payment_declined_runs_the_compensations_in_reverse() {
        let run = OrderSaga { fail_step: Some(2), compensation_failures: 2, ..OrderSaga::default() }
            .run(1)
            .unwrap();
        assert_eq!(run.status, Status::Compensated);
        let done: Vec<&str> = run
            .spans
            .iter()
            .filter(|s| !matches!(s.kind, SpanKind::Retried | SpanKind::AnswerLost))
            .map(|s| s.label)
            .collect();
        assert_eq!(
            done,
            ["create order", "reserve inventory", "process payment", "release inventory", "cancel order"]
        );
        // Each compensation failed twice first and was retried.
        assert_eq!(run.spans.iter().filter(|s| s.kind == SpanKind::Retried).count(), 4);
        assert_eq!((run.customer_change, run.stock_missing, run.money_created), (0, 0, 0));
    }

    #[test]
    fn without_idempotency_a_lost_refund_answer_refunds_twice() {
        // Shipping fails; the refund's answer is lost at least once for some seed.
        let bad = (0..200).map(|seed| {
            OrderSaga { fail_step: Some(3), lost_acks: 0.5, idempotent: false, ..OrderSaga::default() }
                .run(seed)
                .unwrap()
        });
        assert!(bad.into_iter().any(|r| r.customer_change > 0), "some run should refund twice");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

        /// Over 10,000 random failure schedules: the saga ends with every step done or
        /// every done step compensated, exactly once, and money and stock are conserved.
        #[test]
        fn a_saga_always_ends_all_done_or_all_undone(
            fail_step in proptest::option::of(0usize..4),
            compensation_failures in 0u32..5,
            lost_acks in 0.0f64..0.6,
            seed in any::<u64>(),
        ) {
            let run = OrderSaga { fail_step, compensation_failures, lost_acks, ..OrderSaga::default() }.run(seed).unwrap();
            prop_assert_eq!(run.money_created, 0);
            match run.status {
                Status::Completed => {
                    prop_assert!(fail_step.is_none());
                    prop_assert!(run.confirmed && run.shipped);
                    prop_assert_eq!((run.customer_change, run.stock_missing), (-8_000, 1));
                }
                Status::Compensated => {
                    prop_assert!(fail_step.is_some());
                    prop_assert!(!run.confirmed && !run.shipped);
                    prop_assert_eq!((run.customer_change, run.stock_missing), (0, 0));
                }
                other => prop_assert!(false, "ended {:?}", other),
            }
        }
    }
}
