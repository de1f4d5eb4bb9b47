// Exercise 11.4: a leader writes only with its term, and steps down on a newer one.
//
// What to do: write `lead_write(node, me, log, now, entry)`, the only way node `me` writes to
// the shared log. It may write only if it leads at `now` by its own clock, and then with
// its term as the fencing token. If the log refuses the token as stale, a newer leader
// exists: the node must learn that term (so it stops acting as leader at once) before it
// reports the refusal. It is shipped writing with the newest term it has seen, leading or
// not, and ignoring refusals.
// Why it matters: an old leader that comes back from a pause does not know it was
// replaced. Its own clock tells it the lease ran out (if it checks), and the resource
// tells it about the newer term (if it listens). A leader that ignores both keeps
// sending writes that are refused, or worse, accepted by a resource that does not check.
// Chapter: 11-locks-and-leader-election, "Leader election with terms".
// Hint: which `Elector` method gives the term only while the lease is valid at `now`,
//   and which one takes a term seen elsewhere?

use std::time::Duration;
use unbreakable::lock::election::Elector;
use unbreakable::lock::{FencedResource, Stale};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    NotLeader,
    Stale(Stale),
}

pub fn lead_write(
    node: &mut Elector,
    me: &str,
    log: &mut FencedResource<Vec<String>>,
    now: Duration,
    entry: &str,
) -> Result<(), Refused> {
    let term = node.leader(now).ok_or(Refused::NotLeader)?;
    log.write(term, me, |l| l.push(entry.to_string())).map_err(|stale| {
        node.observe(stale.newest);
        Refused::Stale(stale)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::lock::Token;
    use unbreakable::lock::election::{Config, Role};

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    fn leader(term: u64, at: Duration) -> Elector {
        let mut n = Elector::new(Config::default()).unwrap();
        n.tick(at);
        n.on_granted(Token(term), at);
        n
    }

    #[test]
    fn a_leader_writes_with_its_term() {
        let mut a = leader(4, s(0));
        let mut log = FencedResource::new(Vec::new());
        lead_write(&mut a, "a", &mut log, s(1), "x").unwrap();
        assert_eq!((log.value().clone(), log.newest()), (vec!["x".to_string()], Some(Token(4))));
    }

    #[test]
    fn after_a_pause_its_own_clock_says_no() {
        let mut a = leader(1, s(0));
        let mut log = FencedResource::new(Vec::new());
        // a paused for 20 s; its 10 s lease is over by its own clock.
        assert_eq!(lead_write(&mut a, "a", &mut log, s(20), "late"), Err(Refused::NotLeader));
        assert!(log.value().is_empty());
    }

    #[test]
    fn a_newer_term_on_the_log_makes_it_step_down() {
        // a still thinks it leads (its clock ran slow), but b was elected with term 2.
        let mut a = leader(1, s(0));
        let mut b = leader(2, s(0));
        let mut log = FencedResource::new(Vec::new());
        lead_write(&mut b, "b", &mut log, s(1), "from b").unwrap();
        let refused = lead_write(&mut a, "a", &mut log, s(2), "from a");
        assert_eq!(
            refused,
            Err(Refused::Stale(Stale {
                token: Token(1),
                holder: "a".into(),
                newest: Token(2),
                newest_holder: "b".into()
            }))
        );
        assert_eq!(a.role(), Role::Follower, "a steps down at once");
        assert_eq!(a.newest_term(), Token(2));
        assert_eq!(a.leader(s(3)), None);
        assert_eq!(lead_write(&mut a, "a", &mut log, s(3), "again"), Err(Refused::NotLeader));
        assert_eq!(log.value(), &vec!["from b".to_string()]);
    }
}
