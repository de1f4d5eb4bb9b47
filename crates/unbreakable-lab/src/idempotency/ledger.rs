//! Money transfers with idempotency keys: the payment API of the article's widget.
//!
//! A [`Ledger`] moves money between accounts. With a key, a transfer is applied at most
//! once however often it is sent; without one, every copy that arrives is applied. The
//! in-memory [`MemoryLedger`] serves the simulations; [`SqliteLedger`](super::sqlite::SqliteLedger)
//! is the durable one.
//!
//! A refused transfer (unknown account, insufficient funds) changes nothing and is not
//! stored under its key, so a retry of it is judged afresh.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Begun, IdempotencyKey, KeyError, MemoryStore, Policy};
use crate::error::ConfigError;
use crate::sim::SimTime;

/// An amount of money in cents.
pub type Cents = i64;

/// Move `amount` cents from one account to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Transfer {
    /// The account paying.
    pub from: String,
    /// The account paid.
    pub to: String,
    /// How much, in cents (positive).
    pub amount: Cents,
}

impl Transfer {
    /// A transfer of `amount` cents.
    ///
    /// # Errors
    /// A non-positive amount, an empty account name, or the same account on both sides.
    pub fn new(from: impl Into<String>, to: impl Into<String>, amount: Cents) -> Result<Self, ConfigError> {
        let (from, to) = (from.into(), to.into());
        if amount <= 0 {
            return Err(ConfigError::new(
                "amount",
                format!("{amount} cents: a transfer moves a positive amount"),
            ));
        }
        if from.is_empty() || to.is_empty() {
            return Err(ConfigError::new("account", "account names must not be empty"));
        }
        if from == to {
            return Err(ConfigError::new(
                "account",
                format!("\"{from}\" pays itself; pick two different accounts"),
            ));
        }
        Ok(Self { from, to, amount })
    }

    /// The canonical bytes the key store compares: a repeat must match them exactly.
    pub fn request_bytes(&self) -> Vec<u8> {
        format!("{}\u{1f}{}\u{1f}{}", self.from, self.to, self.amount).into_bytes()
    }
}

/// The result of an applied transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction's id.
    pub tx_id: u64,
    /// The payer's balance right after it.
    pub from_balance: Cents,
    /// The payee's balance right after it.
    pub to_balance: Cents,
}

/// A transfer's answer: its receipt, and whether it was replayed from the key store
/// rather than executed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The (original) receipt.
    pub receipt: Receipt,
    /// `true` if this was a repeat answered from the store.
    pub replayed: bool,
}

/// Why a transfer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// No such account.
    ///
    /// ### Handling
    /// A client error; do not retry.
    #[error("no account named \"{0}\"")]
    UnknownAccount(String),
    /// The payer has too little money.
    ///
    /// ### Handling
    /// Nothing was applied or stored; a retry is judged afresh.
    #[error("\"{account}\" has {balance} cents, cannot pay {amount}")]
    InsufficientFunds {
        /// The payer.
        account: String,
        /// Its balance.
        balance: Cents,
        /// The amount asked for.
        amount: Cents,
    },
    /// The key store refused it: in progress, reused with another request, or full.
    ///
    /// ### Handling
    /// See [`KeyError`].
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The storage failed (the SQLite ledger only): the message of the key store's
    /// [`StoreError`](super::StoreError), or an amount that would overflow a balance.
    ///
    /// ### Handling
    /// Nothing was committed; retry with the same key.
    #[error("storage: {0}")]
    Storage(String),
}

/// A ledger of accounts.
pub trait Ledger {
    /// Applies `transfer` at `now`, at most once per `key`; with no key, every call
    /// applies it.
    ///
    /// # Errors
    /// [`LedgerError`]; nothing is applied.
    fn transfer(
        &mut self,
        key: Option<&IdempotencyKey>,
        transfer: &Transfer,
        now: SimTime,
    ) -> Result<Applied, LedgerError>;

    /// An account's balance.
    ///
    /// # Errors
    /// [`LedgerError::UnknownAccount`] or a storage error.
    fn balance(&self, account: &str) -> Result<Cents, LedgerError>;

    /// The sum of all balances: transfers move money, never create or destroy it.
    ///
    /// # Errors
    /// A storage error.
    fn total(&self) -> Result<Cents, LedgerError>;

    /// Transfers applied so far (replays not counted).
    ///
    /// # Errors
    /// A storage error.
    fn applied(&self) -> Result<u64, LedgerError>;
}

/// Applies `t` to `balances`, checking accounts and funds; returns the two new balances.
pub(crate) fn apply(
    balances: &mut BTreeMap<String, Cents>,
    t: &Transfer,
) -> Result<(Cents, Cents), LedgerError> {
    let from = *balances.get(&t.from).ok_or_else(|| LedgerError::UnknownAccount(t.from.clone()))?;
    let to = *balances.get(&t.to).ok_or_else(|| LedgerError::UnknownAccount(t.to.clone()))?;
    if from < t.amount {
        return Err(LedgerError::InsufficientFunds {
            account: t.from.clone(),
            balance: from,
            amount: t.amount,
        });
    }
    let to_after = to
        .checked_add(t.amount)
        .ok_or_else(|| LedgerError::Storage(format!("\"{}\" would overflow", t.to)))?;
    balances.insert(t.from.clone(), from - t.amount);
    balances.insert(t.to.clone(), to_after);
    Ok((from - t.amount, to_after))
}

/// An in-memory ledger with an in-memory key store.
///
/// # Examples
/// The article's widget: Alice has $5,000, Bob $3,000; Alice sends Bob $500, the response is
/// lost, and the client sends it again.
/// ```
/// use std::time::Duration;
/// use unbreakable_lab::idempotency::{IdempotencyKey, Policy};
/// use unbreakable_lab::idempotency::ledger::{Ledger, MemoryLedger, Transfer};
///
/// let accounts = [("alice", 500_000), ("bob", 300_000)];
/// let t = Transfer::new("alice", "bob", 50_000).unwrap();
/// let key = IdempotencyKey::new("acct_alice", "transfer-1").unwrap();
/// let now = Duration::ZERO;
///
/// let mut with_key = MemoryLedger::new(&accounts, Policy::default()).unwrap();
/// let first = with_key.transfer(Some(&key), &t, now).unwrap();
/// let retry = with_key.transfer(Some(&key), &t, now).unwrap();
/// assert!(retry.replayed && retry.receipt == first.receipt);
/// assert_eq!((with_key.balance("alice").unwrap(), with_key.balance("bob").unwrap()), (450_000, 350_000));
///
/// let mut without = MemoryLedger::new(&accounts, Policy::default()).unwrap();
/// without.transfer(None, &t, now).unwrap();
/// without.transfer(None, &t, now).unwrap(); // charged twice
/// assert_eq!((without.balance("alice").unwrap(), without.balance("bob").unwrap()), (400_000, 400_000));
/// ```
#[derive(Debug, Clone)]
pub struct MemoryLedger {
    balances: BTreeMap<String, Cents>,
    keys: MemoryStore<Receipt>,
    applied: u64,
}

impl MemoryLedger {
    /// A ledger with `accounts` (name, opening balance in cents).
    ///
    /// # Errors
    /// No accounts, a duplicate or empty name, or a negative opening balance.
    pub fn new(accounts: &[(&str, Cents)], policy: Policy) -> Result<Self, ConfigError> {
        Ok(Self { balances: open(accounts)?, keys: MemoryStore::new(policy), applied: 0 })
    }
}

/// Checks opening balances (their total must fit in [`Cents`], so that no sum of
/// balances can overflow).
pub(crate) fn open(accounts: &[(&str, Cents)]) -> Result<BTreeMap<String, Cents>, ConfigError> {
    if accounts.is_empty() {
        return Err(ConfigError::new("accounts", "a ledger needs at least one account"));
    }
    let mut balances = BTreeMap::new();
    let mut total: Cents = 0;
    for &(name, balance) in accounts {
        if name.is_empty() || balance < 0 {
            return Err(ConfigError::new(
                "accounts",
                format!("\"{name}\" with {balance} cents: names must not be empty, balances not negative"),
            ));
        }
        if balances.insert(name.to_string(), balance).is_some() {
            return Err(ConfigError::new("accounts", format!("\"{name}\" is listed twice")));
        }
        total = total.checked_add(balance).ok_or_else(|| {
            ConfigError::new(
                "accounts",
                format!(
                    "the opening balances add up to more than {} cents; open with less money",
                    Cents::MAX
                ),
            )
        })?;
    }
    Ok(balances)
}

impl Ledger for MemoryLedger {
    fn transfer(
        &mut self,
        key: Option<&IdempotencyKey>,
        t: &Transfer,
        now: SimTime,
    ) -> Result<Applied, LedgerError> {
        let lease = match key {
            Some(key) => match self.keys.begin_at(key, &t.request_bytes(), now)? {
                Begun::Replay(receipt) => return Ok(Applied { receipt, replayed: true }),
                Begun::Execute(lease) => Some((key, lease)),
            },
            None => None,
        };
        match apply(&mut self.balances, t) {
            Ok((from_balance, to_balance)) => {
                self.applied += 1;
                let receipt = Receipt { tx_id: self.applied, from_balance, to_balance };
                if let Some((key, lease)) = lease {
                    self.keys.complete(key, lease, &receipt)?;
                }
                Ok(Applied { receipt, replayed: false })
            }
            Err(e) => {
                if let Some((key, lease)) = lease {
                    self.keys.release(key, lease);
                }
                Err(e)
            }
        }
    }

    fn balance(&self, account: &str) -> Result<Cents, LedgerError> {
        self.balances.get(account).copied().ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))
    }

    fn total(&self) -> Result<Cents, LedgerError> {
        // Transfers conserve money and `open` checked the opening total, so this cannot
        // overflow; checked all the same.
        self.balances
            .values()
            .try_fold(0, |sum: Cents, b| sum.checked_add(*b))
            .ok_or_else(|| LedgerError::Storage("the balances overflow".into()))
    }

    fn applied(&self) -> Result<u64, LedgerError> {
        Ok(self.applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn refused_transfers_change_nothing_and_are_not_stored() {
        let mut l = MemoryLedger::new(&[("a", 100), ("b", 0)], Policy::default()).unwrap();
        let k = IdempotencyKey::new("acct", "k").unwrap();
        let t = Transfer::new("a", "b", 500).unwrap();
        let e = l.transfer(Some(&k), &t, Duration::ZERO).unwrap_err();
        assert!(matches!(e, LedgerError::InsufficientFunds { balance: 100, .. }));
        assert_eq!((l.total().unwrap(), l.applied().unwrap()), (100, 0));
        // Not stored: the same key with a smaller (different) request is a mismatch only
        // if the first was stored; here it simply executes.
        let small = Transfer::new("a", "b", 50).unwrap();
        assert!(l.transfer(Some(&k), &small, Duration::ZERO).is_ok());
        assert!(matches!(
            l.transfer(Some(&k), &t, Duration::ZERO),
            Err(LedgerError::Key(KeyError::Mismatch { .. }))
        ));
        assert!(matches!(
            l.transfer(None, &Transfer::new("a", "zed", 1).unwrap(), Duration::ZERO),
            Err(LedgerError::UnknownAccount(_))
        ));
    }

    #[test]
    fn bad_transfers_and_accounts_are_refused_when_built() {
        assert_eq!(Transfer::new("a", "b", 0).unwrap_err().field, "amount");
        assert_eq!(Transfer::new("a", "a", 5).unwrap_err().field, "account");
        assert!(MemoryLedger::new(&[("a", 1), ("a", 2)], Policy::default()).is_err());
        assert!(MemoryLedger::new(&[("a", -1)], Policy::default()).is_err());
    }

    /// Opening balances whose total overflows `i64` are refused when built, instead of
    /// `total()` panicking on the overflowing sum later.
    #[test]
    fn opening_balances_that_overflow_are_refused() {
        let e = MemoryLedger::new(&[("a", Cents::MAX), ("b", 1)], Policy::default()).unwrap_err();
        assert_eq!(e.field, "accounts");
        assert!(e.message.contains("add up to more than"));
        let l = MemoryLedger::new(&[("a", Cents::MAX - 1), ("b", 1)], Policy::default()).unwrap();
        assert_eq!(l.total().unwrap(), Cents::MAX);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

        /// Over 10,000 random schedules of keyed transfers (lost, duplicated, reordered
        /// and retried deliveries): money is conserved, no key is applied twice, every
        /// repeat gets the original receipt, and the balances are those of applying each
        /// delivered transfer exactly once.
        #[test]
        fn keyed_transfers_apply_at_most_once_under_any_schedule(
            amounts in proptest::collection::vec(1i64..500, 1..8),
            deliveries in proptest::collection::vec((0usize..8, any::<bool>()), 0..40),
        ) {
            let accounts = [("a", 10_000), ("b", 10_000), ("c", 10_000)];
            let mut l = MemoryLedger::new(&accounts, Policy::default()).unwrap();
            let pairs = [("a", "b"), ("b", "c"), ("c", "a")];
            let transfers: Vec<(IdempotencyKey, Transfer)> = amounts
                .iter()
                .enumerate()
                .map(|(i, &amount)| {
                    let (from, to) = pairs[i % 3];
                    (IdempotencyKey::new("acct", format!("k{i}")).unwrap(), Transfer::new(from, to, amount).unwrap())
                })
                .collect();
            let n = transfers.len();
            let mut receipts: Vec<Option<Receipt>> = vec![None; n];
            for (which, duplicated) in deliveries {
                let (key, t) = &transfers[which % n];
                for _ in 0..1 + usize::from(duplicated) {
                    let applied = l.transfer(Some(key), t, Duration::ZERO);
                    prop_assert!(applied.is_ok(), "{:?}", applied);
                    let applied = applied.unwrap();
                    match &receipts[which % n] {
                        Some(first) => prop_assert!(applied.replayed && &applied.receipt == first),
                        None => {
                            prop_assert!(!applied.replayed);
                            receipts[which % n] = Some(applied.receipt);
                        }
                    }
                }
            }
            prop_assert_eq!(l.total().unwrap(), 30_000);
            let delivered = receipts.iter().filter(|r| r.is_some()).count();
            prop_assert_eq!(l.applied().unwrap() as usize, delivered);
            let mut expected = open(&accounts).unwrap();
            for (i, (_, t)) in transfers.iter().enumerate() {
                if receipts[i].is_some() {
                    apply(&mut expected, t).unwrap();
                }
            }
            for (name, cents) in &expected {
                prop_assert_eq!(l.balance(name).unwrap(), *cents);
            }
        }
    }
}
