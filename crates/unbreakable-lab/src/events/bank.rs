//! The article's bank account: a balance that is never stored.
//!
//! The store holds the movements; the balance is a fold over them, computed when asked.
//! Nothing in the store says "Alice has $4,000": delete every cached balance and the
//! next load computes it again from the movements.

use serde::{Deserialize, Serialize};

use super::{Aggregate, EventType};

/// An account's state: the balance in whole dollars, and how many movements made it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The balance, in dollars.
    pub balance: i64,
    /// How many movements were applied.
    pub movements: u64,
}

/// What happened to an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Movement {
    /// Money in, with what it was.
    Deposited {
        /// Dollars.
        amount: i64,
        /// "initial deposit", "transfer from Bob", ...
        memo: String,
    },
    /// Money out.
    Withdrawn {
        /// Dollars.
        amount: i64,
        /// "ATM withdrawal", ...
        memo: String,
    },
}

impl EventType for Movement {
    fn event_type(&self) -> &'static str {
        match self {
            Movement::Deposited { .. } => "Deposited",
            Movement::Withdrawn { .. } => "Withdrawn",
        }
    }
}

/// What a customer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Pay in `amount` dollars.
    Deposit(i64, String),
    /// Take out `amount` dollars.
    Withdraw(i64, String),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Amounts must be positive.
    #[error("the amount must be positive, not {0}")]
    NotPositive(i64),
    /// No overdraft.
    #[error("insufficient funds: the balance is {balance}, the withdrawal {amount}")]
    Insufficient {
        /// The balance at the time.
        balance: i64,
        /// The amount asked for.
        amount: i64,
    },
}

impl Aggregate for Account {
    type Command = Request;
    type Event = Movement;
    type Error = Refused;

    fn handle(&self, request: &Request) -> Result<Vec<Movement>, Refused> {
        match request {
            Request::Deposit(a, _) | Request::Withdraw(a, _) if *a <= 0 => Err(Refused::NotPositive(*a)),
            Request::Deposit(a, memo) => Ok(vec![Movement::Deposited { amount: *a, memo: memo.clone() }]),
            Request::Withdraw(a, _) if *a > self.balance => {
                Err(Refused::Insufficient { balance: self.balance, amount: *a })
            }
            Request::Withdraw(a, memo) => Ok(vec![Movement::Withdrawn { amount: *a, memo: memo.clone() }]),
        }
    }

    fn apply(&mut self, m: &Movement) {
        self.movements += 1;
        match m {
            Movement::Deposited { amount, .. } => self.balance += amount,
            Movement::Withdrawn { amount, .. } => self.balance -= amount,
        }
    }
}

/// The article's four movements on Alice's account.
pub fn article_requests() -> Vec<Request> {
    vec![
        Request::Deposit(1000, "initial deposit".into()),
        Request::Deposit(2000, "transfer from Bob".into()),
        Request::Withdraw(500, "ATM withdrawal".into()),
        Request::Deposit(1500, "direct deposit".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::testing::given;
    use crate::events::{MemoryEventStore, MemorySnapshots, Repository, SnapshotPolicy};

    #[test]
    fn the_article_ledger_is_4000() {
        let mut repo = Repository::<Account, _, _>::new(
            MemoryEventStore::new(),
            MemorySnapshots::new(),
            SnapshotPolicy::never(),
        );
        for (t, r) in article_requests().iter().enumerate() {
            repo.execute("alice", r, t as u64).unwrap();
        }
        assert_eq!(repo.load("alice").unwrap().state, Account { balance: 4000, movements: 4 });
        given::<Account>(vec![Movement::Deposited { amount: 100, memo: String::new() }])
            .when(&Request::Withdraw(101, "ATM".into()))
            .then_expect_error(Refused::Insufficient { balance: 100, amount: 101 });
    }
}
