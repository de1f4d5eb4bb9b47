// Exercise 07.2: add a step, and its compensation, to the order saga.
//
// What to do: the shop now gives loyalty points when an order is paid. Add a step
// "award points" after "process payment" (and before "ship") to `CHECKOUT`, with the
// compensation that undoes it, and make `compensations(flow, failed)` list the
// compensations a failure at step `failed` runs, in the order they run.
// Why it matters: every new step in a saga needs its own undo, or a failed order leaves
// points (or money, or stock) behind. Writing the compensation with the step is the
// habit that prevents it.
// Chapter: 07-distributed-transactions, "Sagas: compensate instead of lock".
// Hint: which steps have completed when step `failed` fails, and in which order are
//   their compensations run?

use unbreakable::transactions::saga::Step;

pub const CHECKOUT: [Step; 5] = [
    Step { name: "create order", compensation: "cancel order" },
    Step { name: "reserve inventory", compensation: "release inventory" },
    Step { name: "process payment", compensation: "refund payment" },
    Step { name: "award points", compensation: "revoke points" },
    Step { name: "ship", compensation: "cancel shipment" },
];

pub fn compensations(flow: &[Step], failed: usize) -> Vec<&'static str> {
    flow[..failed.min(flow.len())].iter().rev().map(|s| s.compensation).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::transactions::saga::{Action, Saga};

    #[test]
    fn the_new_step_sits_between_payment_and_shipping() {
        let names: Vec<&str> = CHECKOUT.iter().map(|s| s.name).collect();
        assert_eq!(names, ["create order", "reserve inventory", "process payment", "award points", "ship"]);
        assert!(CHECKOUT[3].compensation.contains("points"), "undo the points: {:?}", CHECKOUT[3]);
    }

    #[test]
    fn shipping_fails_and_the_points_are_taken_back_first() {
        let c = compensations(&CHECKOUT, 4);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], CHECKOUT[3].compensation);
        assert_eq!(&c[1..], ["refund payment", "release inventory", "cancel order"]);
        assert!(compensations(&CHECKOUT, 0).is_empty());
    }

    #[test]
    fn agrees_with_the_saga_state_machine() {
        for failed in 0..CHECKOUT.len() {
            let mut saga = Saga::new(CHECKOUT.len()).unwrap();
            let mut undone = Vec::new();
            while let Some(a) = saga.next() {
                match a {
                    Action::Do(i) => saga.record(a, i != failed).unwrap(),
                    Action::Undo(i) => {
                        undone.push(CHECKOUT[i].compensation);
                        saga.record(a, true).unwrap()
                    }
                }
            }
            assert_eq!(compensations(&CHECKOUT, failed), undone, "failed at {failed}");
        }
    }
}
