// Exercise 06.1: from the pure decision to an HTTP answer.
//
// What to do: write `answer(entry, request, now, policy)`: ask the crate's pure `decide`
// what to do with a request under its key, and map that to what the server does: run the
// handler, replay the stored response with 200, answer 409 while the first request is
// still running, or 422 when the key was used with a different body.
// Why it matters: the rules of idempotency keys are few but easy to get wrong under
// retries; keeping them in one pure function means one place to test them all.
// Chapter: 06-idempotency, "The rules, as a pure function".
// Hint: `Decision` has five variants; which two both mean "run the handler"?

use std::time::Duration;
use unbreakable::idempotency::{Entry, Fingerprint, Policy};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    RunHandler,
    Replay { status: u16, body: String },
    Conflict409,
    Unprocessable422,
}

pub fn answer(
    entry: Option<&Entry<String>>,
    request: &Fingerprint,
    now: Duration,
    policy: &Policy,
) -> Answer {
    use unbreakable::idempotency::{Decision, decide};
    match decide(entry, request, now, policy) {
        Decision::Execute | Decision::Reclaim { .. } => Answer::RunHandler,
        Decision::Replay(body) => Answer::Replay { status: 200, body },
        Decision::InProgress { .. } => Answer::Conflict409,
        Decision::Mismatch => Answer::Unprocessable422,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn the_rules() {
        let p = Policy::default();
        let pay = Fingerprint::of(b"pay 500");
        let other = Fingerprint::of(b"pay 600");
        let done = Entry::Done { request: pay, response: "tx-1".to_string(), created: s(0) };
        let running = Entry::InFlight { request: pay, created: s(0) };
        assert_eq!(answer(None, &pay, s(1), &p), Answer::RunHandler);
        assert_eq!(answer(Some(&done), &pay, s(1), &p), Answer::Replay { status: 200, body: "tx-1".into() });
        assert_eq!(answer(Some(&done), &other, s(1), &p), Answer::Unprocessable422);
        assert_eq!(answer(Some(&running), &pay, s(1), &p), Answer::Conflict409);
        // The owner of a key held past the lock timeout is presumed dead.
        assert_eq!(answer(Some(&running), &pay, s(3600), &p), Answer::RunHandler);
        // Past the retention the key is forgotten.
        assert_eq!(answer(Some(&done), &pay, s(25 * 3600), &p), Answer::RunHandler);
    }
}
