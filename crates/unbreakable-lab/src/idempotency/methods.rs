//! Which HTTP methods are idempotent, found by experiment: apply each kind of operation
//! once and `k` times to the same resource and compare the states.
//!
//! Idempotent means the *state* after `k` identical requests equals the state after one.
//! The responses may differ: a second DELETE answers 404, but nothing more is deleted.

use std::collections::BTreeMap;

use serde::Serialize;

/// A product in the collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Its name.
    pub name: String,
    /// Units in stock.
    pub stock: i64,
}

/// A collection of items, `/items/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Collection {
    items: BTreeMap<u32, Item>,
    next_id: u32,
}

impl Collection {
    /// A collection holding one item, id 1: "boots", 10 in stock.
    pub fn example() -> Self {
        let mut c = Self::default();
        c.apply(&Operation::Post(Item { name: "boots".into(), stock: 10 }));
        c
    }

    /// The items, by id.
    pub fn items(&self) -> &BTreeMap<u32, Item> {
        &self.items
    }

    /// The collection in one line: `1: boots x10, 2: jacket x5`.
    pub fn summary(&self) -> String {
        if self.items.is_empty() {
            return "(empty)".into();
        }
        self.items
            .iter()
            .map(|(id, i)| format!("{id}: {} x{}", i.name, i.stock))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Applies `op`; returns the HTTP status a server would answer.
    pub fn apply(&mut self, op: &Operation) -> u16 {
        match op {
            Operation::Get(id) => {
                if self.items.contains_key(id) {
                    200
                } else {
                    404
                }
            }
            Operation::Put(id, item) => {
                let created = self.items.insert(*id, item.clone()).is_none();
                self.next_id = self.next_id.max(*id);
                if created { 201 } else { 200 }
            }
            Operation::Delete(id) => {
                if self.items.remove(id).is_some() {
                    204
                } else {
                    404
                }
            }
            Operation::Post(item) => {
                // Ids are exhausted only after a PUT to the largest id: answer 507
                // (insufficient storage) rather than overflow.
                let Some(id) = self.next_id.checked_add(1) else { return 507 };
                self.next_id = id;
                self.items.insert(id, item.clone());
                201
            }
            Operation::PatchSet { id, name } => match self.items.get_mut(id) {
                Some(item) => {
                    item.name.clone_from(name);
                    200
                }
                None => 404,
            },
            Operation::PatchAdd { id, stock } => match self.items.get_mut(id) {
                Some(item) => match item.stock.checked_add(*stock) {
                    Some(s) => {
                        item.stock = s;
                        200
                    }
                    // A stock that would overflow is refused, not wrapped.
                    None => 422,
                },
                None => 404,
            },
        }
    }
}

/// A request to the collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Operation {
    /// `GET /items/{id}`.
    Get(u32),
    /// `PUT /items/{id}`: replace (or create) the whole item.
    Put(u32, Item),
    /// `DELETE /items/{id}`.
    Delete(u32),
    /// `POST /items`: create a new item with a new id.
    Post(Item),
    /// `PATCH /items/{id}` setting a field: `{"name": ...}`.
    PatchSet {
        /// Which item.
        id: u32,
        /// The new name.
        name: String,
    },
    /// `PATCH /items/{id}` adding to a field: `{"stock": "+5"}`.
    PatchAdd {
        /// Which item.
        id: u32,
        /// How much to add.
        stock: i64,
    },
}

impl Operation {
    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        match self {
            Operation::Get(_) => "GET",
            Operation::Put(..) => "PUT",
            Operation::Delete(_) => "DELETE",
            Operation::Post(_) => "POST",
            Operation::PatchSet { .. } | Operation::PatchAdd { .. } => "PATCH",
        }
    }

    /// The request, as a line of HTTP.
    pub fn describe(&self) -> String {
        match self {
            Operation::Get(id) => format!("GET /items/{id}"),
            Operation::Put(id, i) => format!("PUT /items/{id} {{name: {}, stock: {}}}", i.name, i.stock),
            Operation::Delete(id) => format!("DELETE /items/{id}"),
            Operation::Post(i) => format!("POST /items {{name: {}, stock: {}}}", i.name, i.stock),
            Operation::PatchSet { id, name } => format!("PATCH /items/{id} {{name: {name}}}"),
            Operation::PatchAdd { id, stock } => format!("PATCH /items/{id} {{stock: +{stock}}}"),
        }
    }
}

/// The operations the table tries, one or two per method.
pub fn examples() -> Vec<Operation> {
    let item = |name: &str, stock| Item { name: name.into(), stock };
    vec![
        Operation::Get(1),
        Operation::Put(1, item("hiking boots", 12)),
        Operation::Delete(1),
        Operation::Post(item("jacket", 5)),
        Operation::PatchSet { id: 1, name: "trail boots".into() },
        Operation::PatchAdd { id: 1, stock: 5 },
    ]
}

/// One experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The method.
    pub method: &'static str,
    /// The request.
    pub request: String,
    /// The statuses of the `k` applications.
    pub statuses: Vec<u16>,
    /// Items after one application.
    pub after_one: usize,
    /// Items after `k`.
    pub after_k: usize,
    /// The collection after one application ([`Collection::summary`]).
    pub state_one: String,
    /// The collection after `k`.
    pub state_k: String,
    /// The state after `k` equals the state after one.
    pub idempotent: bool,
    /// One application leaves the state as it was (a *safe* method).
    pub safe: bool,
}

/// Applies each of `ops` once and `k` times to [`Collection::example`] and compares.
pub fn experiment(ops: &[Operation], k: u32) -> Vec<Row> {
    ops.iter()
        .map(|op| {
            let start = Collection::example();
            let mut once = start.clone();
            once.apply(op);
            let mut many = start.clone();
            let statuses = (0..k.max(1)).map(|_| many.apply(op)).collect();
            Row {
                method: op.method(),
                request: op.describe(),
                statuses,
                after_one: once.items.len(),
                after_k: many.items.len(),
                state_one: once.summary(),
                state_k: many.summary(),
                idempotent: many == once,
                safe: once == start,
            }
        })
        .collect()
}

/// Per method, in order of first appearance: "yes", "no", or "depends" when its
/// operations disagree.
pub fn verdicts(rows: &[Row]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, Vec<bool>)> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|(m, _)| *m == r.method) {
            Some((_, v)) => v.push(r.idempotent),
            None => out.push((r.method, vec![r.idempotent])),
        }
    }
    out.into_iter()
        .map(|(m, v)| {
            (
                m,
                if v.iter().all(|&x| x) {
                    "yes"
                } else if v.iter().any(|&x| x) {
                    "depends"
                } else {
                    "no"
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bug: a POST after a PUT to the largest id, or a stock increment past the largest
    /// stock, overflowed (a panic in debug builds).
    #[test]
    fn overflowing_ids_and_stock_are_refused() {
        let mut c = Collection::default();
        let item = Item { name: "boots".into(), stock: i64::MAX };
        assert_eq!(c.apply(&Operation::Put(u32::MAX, item.clone())), 201);
        assert_eq!(c.apply(&Operation::Post(item)), 507);
        assert_eq!(c.apply(&Operation::PatchAdd { id: u32::MAX, stock: 1 }), 422);
    }

    #[test]
    fn the_experiment_reproduces_the_usual_table() {
        let rows = experiment(&examples(), 3);
        assert_eq!(
            verdicts(&rows),
            vec![("GET", "yes"), ("PUT", "yes"), ("DELETE", "yes"), ("POST", "no"), ("PATCH", "depends")]
        );
        assert!(rows[0].safe && !rows[1].safe);
        // A second DELETE answers 404, but deletes nothing more.
        assert_eq!(rows[2].statuses, vec![204, 404, 404]);
        // Three POSTs create three items.
        assert_eq!((rows[3].after_one, rows[3].after_k), (2, 4));
    }
}
