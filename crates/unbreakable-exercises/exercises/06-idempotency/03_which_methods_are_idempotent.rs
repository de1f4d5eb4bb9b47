// Exercise 06.3: which operations are idempotent? Compare states.
//
// What to do: write `apply` for the four operations on a tiny product store, then
// `idempotent(op, state)`: whether applying `op` twice leaves the same state as applying
// it once.
// Why it matters: a retry repeats an operation. PUT and DELETE can be repeated safely by
// their meaning; POST creates again; an "add to stock" PATCH adds again. Whether a retry
// needs an idempotency key follows from this test.
// Chapter: 06-idempotency, "Which HTTP methods are idempotent?".
// Hint: compare `apply(apply(s, op), op)` with `apply(s, op)`. Which operations does the
//   answer depend on the starting state or the body for?

use std::collections::BTreeMap;

pub type State = BTreeMap<u32, i64>; // product id -> stock

#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// POST /products: create a new product with the next free id.
    Post { stock: i64 },
    /// PUT /products/{id}: set the stock.
    Put { id: u32, stock: i64 },
    /// DELETE /products/{id}.
    Delete { id: u32 },
    /// PATCH /products/{id}: add to the stock (if the product exists).
    PatchAdd { id: u32, stock: i64 },
}

pub fn apply(state: &State, op: Op) -> State {
    let mut s = state.clone();
    // TODO
    todo!("{s:?} {op:?}")
}

pub fn idempotent(op: Op, state: &State) -> bool {
    // TODO
    todo!("{op:?} {state:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> State {
        BTreeMap::from([(1, 10), (2, 5)])
    }

    #[test]
    fn apply_each() {
        assert_eq!(apply(&start(), Op::Post { stock: 3 }), BTreeMap::from([(1, 10), (2, 5), (3, 3)]));
        assert_eq!(apply(&start(), Op::Put { id: 1, stock: 7 }), BTreeMap::from([(1, 7), (2, 5)]));
        assert_eq!(apply(&start(), Op::Delete { id: 2 }), BTreeMap::from([(1, 10)]));
        assert_eq!(apply(&start(), Op::PatchAdd { id: 2, stock: 4 }), BTreeMap::from([(1, 10), (2, 9)]));
        assert_eq!(apply(&start(), Op::PatchAdd { id: 9, stock: 4 }), start());
    }

    #[test]
    fn post_never_reuses_an_id() {
        // Product 2 was deleted: a new product gets id 4, after the highest; `len() + 1`
        // would be 3 and overwrite product 3.
        let gap = BTreeMap::from([(1, 10), (3, 5)]);
        assert_eq!(apply(&gap, Op::Post { stock: 4 }), BTreeMap::from([(1, 10), (3, 5), (4, 4)]));
        assert_eq!(apply(&State::new(), Op::Post { stock: 1 }), BTreeMap::from([(1, 1)]));
    }

    #[test]
    fn the_methods_table() {
        assert!(!idempotent(Op::Post { stock: 3 }, &start()));
        assert!(idempotent(Op::Put { id: 1, stock: 7 }, &start()));
        assert!(idempotent(Op::Delete { id: 2 }, &start()));
        assert!(!idempotent(Op::PatchAdd { id: 1, stock: 4 }, &start()));
        // "Depends": adding zero is harmless to repeat.
        assert!(idempotent(Op::PatchAdd { id: 1, stock: 0 }, &start()));
    }

    #[test]
    fn the_answer_depends_on_the_state_not_only_the_method() {
        // A PATCH to a product that does not exist changes nothing, however often it is sent.
        assert!(idempotent(Op::PatchAdd { id: 9, stock: 4 }, &start()));
        // A POST into a store with gaps in its ids still creates again.
        assert!(!idempotent(Op::Post { stock: 0 }, &BTreeMap::from([(5, 1)])));
        assert!(idempotent(Op::Delete { id: 7 }, &start()), "deleting nothing twice is still nothing");
    }
}
