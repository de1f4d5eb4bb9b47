// Exercise 07.3: retry a compensation until it succeeds.
//
// What to do: write `compensate(saga, undo, max_tries)`: while the saga is compensating,
// call `undo(step)` for the step it asks to undo, record the outcome, and try again when
// it fails, up to `max_tries` tries per step. Return the number of `undo` calls, or an
// error naming the step that could not be undone.
// Why it matters: a refund can fail like any call. A saga that gives up on a failed
// compensation leaves the customer charged for an order that was cancelled; so
// compensations are retried (and must be idempotent, because some retries repeat work
// that did happen).
// Chapter: 07-distributed-transactions, "Compensations fail too".
// Hint: what does `Saga::next` return after a failed `Undo` is recorded?

use unbreakable::transactions::saga::Saga;

pub fn compensate(
    saga: &mut Saga,
    mut undo: impl FnMut(usize) -> bool,
    max_tries: u32,
) -> Result<u32, usize> {
    // TODO
    let _ = (saga, &mut undo, max_tries);
    todo!("compensate")
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::transactions::saga::{Action, Status};

    /// A saga of 4 steps whose step 3 failed: steps 2, 1, 0 need undoing.
    fn failed_at_3() -> Saga {
        let mut s = Saga::new(4).unwrap();
        for i in 0..3 {
            s.record(Action::Do(i), true).unwrap();
        }
        s.record(Action::Do(3), false).unwrap();
        s
    }

    #[test]
    fn the_refund_fails_twice_then_succeeds() {
        let mut saga = failed_at_3();
        let mut refund_failures = 2;
        let calls = compensate(
            &mut saga,
            |step| {
                if step == 2 && refund_failures > 0 {
                    refund_failures -= 1;
                    return false;
                }
                true
            },
            5,
        );
        assert_eq!(calls, Ok(5));
        assert_eq!(saga.status(), Status::Compensated);
    }

    #[test]
    fn each_step_gets_its_own_tries() {
        // Every refund fails twice, then succeeds: 3 calls per step, 3 steps. One counter
        // for the whole saga would give up on step 1 or 0 although each step had tries left.
        let mut saga = failed_at_3();
        let mut failures = std::collections::HashMap::new();
        let calls = compensate(
            &mut saga,
            |step| {
                let f = failures.entry(step).or_insert(0);
                *f += 1;
                *f > 2
            },
            3,
        );
        assert_eq!(calls, Ok(9));
        assert_eq!(saga.status(), Status::Compensated);
    }

    #[test]
    fn gives_up_and_names_the_step() {
        let mut saga = failed_at_3();
        let r = compensate(&mut saga, |step| step != 1, 3);
        assert_eq!(r, Err(1));
        assert_eq!(saga.status(), Status::Compensating);
        let mut saga = failed_at_3();
        let mut calls_to_2 = 0;
        let r = compensate(
            &mut saga,
            |step| {
                calls_to_2 += u32::from(step == 2);
                step != 2
            },
            4,
        );
        assert_eq!((r, calls_to_2), (Err(2), 4), "four tries of step 2, then it is named");
    }
}
