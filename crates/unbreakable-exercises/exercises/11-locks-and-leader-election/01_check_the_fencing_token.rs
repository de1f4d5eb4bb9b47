// Exercise 11.1: make the resource check the fencing token.
//
// What to do: `Ledger` is the storage a lock protects: it pays out money. Every payment
// comes with the fencing token of the lock its caller holds. Make `pay` refuse (with the
// crate's `Stale` error, changing nothing) a payment whose token is older than the newest
// token the ledger has accepted, or equal to it but from another holder, and remember the
// newest token and its holder. The holder of the newest token may pay many times. It is
// shipped paying whatever it is told.
// Why it matters: a lock holder that pauses (garbage collection, a swapped-out process)
// wakes up after its lease ran out, still believing it holds the lock, while another
// holder has taken over. The lock service cannot stop it: it does not know it paused. Only
// the resource can, because it sees the tokens in the order they arrive.
// Chapter: 11-locks-and-leader-election, "Two clients, one account".
// Hint: what must the ledger remember between payments? A token equal to the newest is
//   a retry of its holder, or a second holder given the same token (a counter that lost
//   an increment in a failover).

use unbreakable::lock::{Stale, Token};

#[derive(Debug, Default)]
pub struct Ledger {
    pub paid_cents: i64,
    pub newest: Option<(Token, String)>,
}

impl Ledger {
    pub fn pay(&mut self, token: Token, holder: &str, cents: i64) -> Result<(), Stale> {
        // TODO: refuse a stale token; remember the newest and its holder.
        let _ = (token, holder);
        self.paid_cents += cents;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use unbreakable::lock::{FencedResource, Lease};

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn the_paused_client_is_refused() {
        let mut lock = Lease::new();
        let mut ledger = Ledger::default();
        // Client 1 takes the lock for 10 s, then pauses for 15 s before paying.
        let t1 = lock.acquire("client-1", s(10), s(0)).unwrap();
        // Client 2 takes it when the lease runs out, and pays.
        let t2 = lock.acquire("client-2", s(10), s(10)).unwrap();
        ledger.pay(t2, "client-2", 30_000).unwrap();
        // Client 1 wakes and pays with its old token.
        let stale =
            Stale { token: t1, holder: "client-1".into(), newest: t2, newest_holder: "client-2".into() };
        assert_eq!(ledger.pay(t1, "client-1", 30_000), Err(stale));
        assert_eq!(ledger.paid_cents, 30_000, "paid once");
    }

    #[test]
    fn one_holder_may_pay_many_times_and_newer_tokens_pass() {
        let mut ledger = Ledger::default();
        ledger.pay(Token(3), "a", 1).unwrap();
        ledger.pay(Token(3), "a", 1).unwrap();
        ledger.pay(Token(7), "b", 1).unwrap();
        assert!(ledger.pay(Token(5), "a", 1).is_err());
        assert!(ledger.pay(Token(7), "c", 1).is_err(), "one token, another holder");
        ledger.pay(Token(7), "b", 1).unwrap();
        assert_eq!((ledger.paid_cents, ledger.newest), (4, Some((Token(7), "b".to_string()))));
    }

    #[test]
    fn agrees_with_the_crate_fenced_resource() {
        let tokens = [
            (2, "a"),
            (2, "a"),
            (1, "b"),
            (5, "c"),
            (4, "a"),
            (5, "d"),
            (5, "c"),
            (6, "a"),
            (3, "b"),
            (9, "e"),
            (9, "e"),
            (8, "f"),
        ];
        let (mut mine, mut theirs) = (Ledger::default(), FencedResource::new(0i64));
        for (t, who) in tokens {
            let a = mine.pay(Token(t), who, 10);
            let b = theirs.write(Token(t), who, |v| *v += 10);
            assert_eq!(a, b, "token {t} of {who}");
        }
        assert_eq!(mine.paid_cents, *theirs.value());
    }
}
