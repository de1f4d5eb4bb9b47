// Exercise 11.2: release and renew only your own lock (compare-and-delete).
//
// What to do: `Kv` is a toy Redis with `SET key value NX PX ttl` (`set_nx_px`, given).
// A lock holder stores a value unique to its grant ("owner:token"). Write `release`,
// which deletes the key only if it still holds this value, and `renew`, which extends the
// key's expiry only if it still holds this value; both say whether they did. They are
// shipped as a plain `DEL` and a plain `PEXPIRE`.
// Why it matters: a holder that paused past its lease finds the key held by someone else.
// A plain `DEL` frees that other holder's lock, and a third client walks in: two
// holders at once, caused by the release. On a real Redis the check and the delete run in
// one Lua script, so nothing can happen between them; here one `&mut self` call is that
// atomic step.
// Chapter: 11-locks-and-leader-election, "A lease, step by step" and "The same on a real
//   Redis".
// Hint: what should `release` compare before it deletes, and is a key whose expiry has
//   passed still held by anyone?

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Kv {
    keys: HashMap<String, (String, Duration)>,
}

impl Kv {
    /// `SET key value NX PX ttl`: sets the key if it is absent or expired.
    pub fn set_nx_px(&mut self, key: &str, value: &str, ttl: Duration, now: Duration) -> bool {
        if self.get(key, now).is_some() {
            return false;
        }
        self.keys.insert(key.to_string(), (value.to_string(), now + ttl));
        true
    }

    /// `GET key`: its value if it has not expired.
    pub fn get(&self, key: &str, now: Duration) -> Option<&str> {
        self.keys.get(key).filter(|(_, expires)| now < *expires).map(|(v, _)| v.as_str())
    }

    pub fn release(&mut self, key: &str, value: &str, now: Duration) -> bool {
        if self.get(key, now) == Some(value) {
            self.keys.remove(key);
            true
        } else {
            false
        }
    }

    pub fn renew(&mut self, key: &str, value: &str, ttl: Duration, now: Duration) -> bool {
        if self.get(key, now) != Some(value) {
            return false;
        }
        if let Some(entry) = self.keys.get_mut(key) {
            entry.1 = now + ttl;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::lock::Lease;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn a_late_release_does_not_free_the_next_holder() {
        let mut kv = Kv::default();
        assert!(kv.set_nx_px("job", "a:1", s(10), s(0)));
        // a pauses; its lease runs out and b takes the lock.
        assert!(kv.set_nx_px("job", "b:2", s(10), s(12)));
        // a wakes and releases "its" lock.
        assert!(!kv.release("job", "a:1", s(15)));
        assert_eq!(kv.get("job", s(15)), Some("b:2"), "b still holds it");
        assert!(!kv.set_nx_px("job", "c:3", s(10), s(15)), "c must not get in");
        assert!(kv.release("job", "b:2", s(16)));
        assert_eq!(kv.get("job", s(16)), None);
    }

    #[test]
    fn a_late_renew_does_not_extend_the_next_holder() {
        let mut kv = Kv::default();
        kv.set_nx_px("job", "a:1", s(10), s(0));
        assert!(kv.renew("job", "a:1", s(10), s(5)), "a renews in time: until 15 s");
        assert!(!kv.set_nx_px("job", "b:2", s(10), s(12)));
        assert!(kv.set_nx_px("job", "b:2", s(10), s(15)), "a's renewed lease ends at 15 s");
        assert!(!kv.renew("job", "a:1", s(60), s(16)), "a may not extend b's lease");
        assert!(kv.set_nx_px("job", "c:3", s(10), s(25)), "b's lease ends at 25 s as b set it");
        assert!(!kv.renew("job", "c:3", s(10), s(40)), "an expired lease is not renewed");
    }

    #[test]
    fn agrees_with_the_crate_lease() {
        // (who, op, at): op 0 acquire, 1 renew, 2 release; ttl 10 s.
        let ops = [
            (0, 0, 0),
            (1, 0, 3),
            (0, 1, 8),
            (1, 2, 9),
            (0, 2, 30),
            (1, 0, 31),
            (0, 0, 35),
            (1, 1, 40),
            (0, 2, 41),
            (0, 0, 52),
            (1, 2, 53),
        ];
        let names = ["a", "b"];
        let (mut lease, mut kv) = (Lease::new(), Kv::default());
        let mut tokens = [None, None];
        for (who, op, at) in ops {
            let (name, now) = (names[who], s(at));
            match op {
                0 => {
                    let next = lease.last_token().0 + 1;
                    let got = lease.acquire(name, s(10), now).ok();
                    assert_eq!(
                        kv.set_nx_px("k", &format!("{name}:{next}"), s(10), now),
                        got.is_some(),
                        "{name} acquires at {at}"
                    );
                    if got.is_some() {
                        tokens[who] = got;
                    }
                }
                1 | 2 => {
                    let Some(t) = tokens[who] else { continue };
                    let value = format!("{name}:{}", t.0);
                    let (a, b) = if op == 1 {
                        (lease.renew(name, t, s(10), now).is_ok(), kv.renew("k", &value, s(10), now))
                    } else {
                        (lease.release(name, t, now), kv.release("k", &value, now))
                    };
                    assert_eq!(a, b, "{name} op {op} at {at}");
                }
                _ => unreachable!(),
            }
            let holder = lease.holder(now).map(|(o, t)| format!("{o}:{}", t.0));
            assert_eq!(kv.get("k", now), holder.as_deref(), "holder after {name} op {op} at {at}");
        }
    }
}
