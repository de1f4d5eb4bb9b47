// Exercise 07.1: drive a saga to the end.
//
// What to do: write `run(flow, fails_at)`: drive the pure `Saga` over the steps of
// `flow`, performing whatever it asks next (`Saga::next`) and recording the outcome,
// until it has nothing left to do. The step at index `fails_at` (if any) fails; every
// other action succeeds. Return the names of the actions performed, in order: a step's
// `name` for `Do`, its `compensation` for `Undo`.
// Why it matters: a saga has no rollback; it has compensations, run in reverse order for
// the steps that completed. The pure state machine decides the order; your service only
// performs what it is told.
// Chapter: 07-distributed-transactions, "Sagas: compensate instead of lock".
// Hint: loop while `next()` is `Some(action)`; what is the outcome of each action, and
//   should the failed step itself be compensated?

use unbreakable::transactions::saga::{Saga, Status, Step};

pub fn run(flow: &[Step], fails_at: Option<usize>) -> (Vec<&'static str>, Status) {
    let mut saga = Saga::new(flow.len()).expect("a flow with steps");
    let mut log: Vec<&'static str> = Vec::new();
    // TODO
    let _ = (&mut saga, &mut log, fails_at);
    todo!("drive the saga")
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::transactions::saga::ORDER_FLOW;

    #[test]
    fn all_steps_succeed() {
        let (log, status) = run(&ORDER_FLOW, None);
        assert_eq!(log, ["create order", "reserve inventory", "process payment", "ship"]);
        assert_eq!(status, Status::Completed);
    }

    #[test]
    fn payment_fails_and_the_rest_is_undone_in_reverse() {
        let (log, status) = run(&ORDER_FLOW, Some(2));
        assert_eq!(
            log,
            ["create order", "reserve inventory", "process payment", "release inventory", "cancel order"]
        );
        assert_eq!(status, Status::Compensated);
    }

    #[test]
    fn the_first_step_failing_needs_no_compensation() {
        let (log, status) = run(&ORDER_FLOW, Some(0));
        assert_eq!(log, ["create order"]);
        assert_eq!(status, Status::Compensated);
    }
}
