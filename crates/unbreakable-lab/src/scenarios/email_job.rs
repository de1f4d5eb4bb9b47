//! The article's daily e-mail job (chapter 11): five API servers run the same cron job.
//! Without coordination every user gets one e-mail per server; with a leader election
//! one server sends. When the leader crashes mid-job, the next leader continues from a
//! checkpoint (the next user to mail) stored durably and written with the leader's term
//! as fencing token.
//!
//! The leader sends, then checkpoints after every `batch` users, so a crash re-sends at
//! most `batch - 1` users; with idempotent sends (the mail provider keeps a key per user
//! and day and drops repeats) nobody gets a duplicate.
//!
//! Each server runs the crate's pure [`Elector`] against one [`Lease`] (the lock service),
//! on a fixed tick of virtual time. Faults: crashes (for good), pauses (the server
//! stops; a leader that wakes sends the e-mails it was about to send before it looks at
//! its lease again, as after a GC pause) and partitions from the lock service (renewals
//! fail; the leader stops when its lease ends by its own clock).

use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;
use unbreakable::lock::election::{Action, Config, Elector};
use unbreakable::lock::{FencedResource, Lease, Token};

/// How the servers coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Coordination {
    /// Every server runs the whole job.
    None,
    /// A leader runs it; sends may repeat after a crash.
    Election,
    /// A leader runs it, and the mail provider drops repeated (user, day) keys.
    ElectionIdempotent,
}

impl Coordination {
    /// All three.
    pub const ALL: [Coordination; 3] =
        [Coordination::None, Coordination::Election, Coordination::ElectionIdempotent];

    /// A name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Coordination::None => "no election",
            Coordination::Election => "election + checkpoint",
            Coordination::ElectionIdempotent => "election + checkpoint + idempotent sends",
        }
    }
}

/// What goes wrong, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FaultKind {
    /// The server dies for good.
    Crash,
    /// The server stops for this long.
    Pause(Duration),
    /// The server cannot reach the lock service for this long.
    Partition(Duration),
}

/// A fault at a time, on a server (`None`: whoever leads then, or server 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// When.
    pub at: Duration,
    /// Which server; `None` for the leader at that moment.
    pub node: Option<usize>,
    /// What.
    pub kind: FaultKind,
}

/// The experiment's settings.
///
/// # Default
/// 5 servers, 10,000 users, 1,000 e-mails per second, a checkpoint every 100 users, a
/// 10 s lease renewed every third of it (3.33 s) with the default drift margin, a 10 ms tick, the leader crashing
/// at 4.25 s, a 300 s horizon.
#[derive(Debug, Clone, Serialize)]
pub struct EmailJob {
    /// Servers.
    pub servers: usize,
    /// Users to mail.
    pub users: usize,
    /// E-mails per second one server sends.
    pub rate: f64,
    /// Users per checkpoint.
    pub batch: usize,
    /// The election.
    pub election: Config,
    /// The simulation's step.
    pub tick: Duration,
    /// The faults.
    pub faults: Vec<Fault>,
    /// When the run stops, finished or not.
    pub horizon: Duration,
}

impl Default for EmailJob {
    fn default() -> Self {
        Self {
            servers: 5,
            users: 10_000,
            rate: 1000.0,
            batch: 100,
            election: Config {
                ttl: Duration::from_secs(10),
                renew_every: Duration::from_secs(10) / 3,
                ..Config::default()
            },
            tick: Duration::from_millis(10),
            faults: vec![Fault { at: Duration::from_millis(4250), node: None, kind: FaultKind::Crash }],
            horizon: Duration::from_secs(300),
        }
    }
}

/// A stretch of leadership.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reign {
    /// The server.
    pub node: usize,
    /// Its term.
    pub term: u64,
    /// When it started sending, seconds.
    pub from: f64,
    /// When it stopped, seconds.
    pub to: f64,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailRun {
    /// E-mails each user received.
    pub per_user: Vec<u32>,
    /// When the last user was mailed.
    pub finished_at: Option<Duration>,
    /// The longest time without a leader sending, after the first leader started and
    /// before the job finished.
    pub leaderless: Duration,
    /// Who led when.
    pub reigns: Vec<Reign>,
    /// Checkpoint writes refused for a stale term.
    pub stale_writes: u32,
    /// Terms in which more than one server believed it led (the property tests want 0).
    pub shared_terms: u32,
}

impl EmailRun {
    /// Users with no e-mail.
    pub fn skipped(&self) -> usize {
        self.per_user.iter().filter(|&&c| c == 0).count()
    }

    /// E-mails beyond one per user.
    pub fn duplicates(&self) -> u64 {
        self.per_user.iter().map(|&c| u64::from(c.saturating_sub(1))).sum()
    }

    /// `(e-mails received, users)` for every count that occurs.
    pub fn histogram(&self) -> Vec<(u32, usize)> {
        let max = self.per_user.iter().copied().max().unwrap_or(0);
        (0..=max)
            .map(|k| (k, self.per_user.iter().filter(|&&c| c == k).count()))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Node {
    elector: Elector,
    alive: bool,
    paused_until: Duration,
    cut_until: Duration,
    /// The next user to mail and this reign's term, while leading.
    cursor: Option<(usize, Token)>,
    credit: f64,
    reign_start: Duration,
}

impl EmailJob {
    /// Checks the settings.
    ///
    /// # Errors
    /// No servers or users, a rate or batch of zero, a zero tick, or a bad election.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.servers == 0 || self.servers > 1000 {
            return Err(ConfigError::new("servers", "use 1 to 1000 servers"));
        }
        if self.users == 0 || self.batch == 0 {
            return Err(ConfigError::new("users", "a job needs users and a batch of at least 1"));
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(ConfigError::new("rate", "e-mails per second must be a positive number"));
        }
        if self.tick.is_zero() {
            return Err(ConfigError::new("tick", "the simulation step must be above zero"));
        }
        self.election.validate()
    }

    /// Runs the job under `how`.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn run(&self, how: Coordination) -> Result<EmailRun, ConfigError> {
        self.validate()?;
        let mut per_user = vec![0u32; self.users];
        if how == Coordination::None {
            per_user.iter_mut().for_each(|c| *c = self.servers as u32);
            let t = Duration::from_secs_f64(self.users as f64 / self.rate);
            return Ok(EmailRun {
                per_user,
                finished_at: Some(t),
                leaderless: Duration::ZERO,
                reigns: Vec::new(),
                stale_writes: 0,
                shared_terms: 0,
            });
        }
        let idempotent = how == Coordination::ElectionIdempotent;
        let mut delivered = vec![false; self.users];
        let mut lock = Lease::new();
        let mut checkpoint = FencedResource::new(0usize);
        let node = Node {
            elector: Elector::new(self.election)?,
            alive: true,
            paused_until: Duration::ZERO,
            cut_until: Duration::ZERO,
            cursor: None,
            credit: 0.0,
            reign_start: Duration::ZERO,
        };
        let mut nodes = vec![node; self.servers];
        let mut faults = self.faults.clone();
        faults.sort_by_key(|f| f.at);
        let mut next_fault = 0;
        let mut reigns: Vec<Reign> = Vec::new();
        let mut stale_writes = 0;
        let mut term_holders: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let mut shared_terms = 0;
        let (mut last_send, mut leaderless, mut started) = (Duration::ZERO, Duration::ZERO, false);
        let mut finished_at = None;
        let per_tick = self.rate * self.tick.as_secs_f64();
        let mut t = Duration::ZERO;
        while t <= self.horizon && finished_at.is_none() {
            while next_fault < faults.len() && faults[next_fault].at <= t {
                let f = faults[next_fault];
                next_fault += 1;
                let who = f
                    .node
                    .filter(|&n| n < self.servers)
                    .or_else(|| nodes.iter().position(|n| n.cursor.is_some()))
                    .unwrap_or(0);
                let n = &mut nodes[who];
                match f.kind {
                    FaultKind::Crash => {
                        n.alive = false;
                        if let Some((_, term)) = n.cursor.take() {
                            reigns.push(Reign {
                                node: who,
                                term: term.0,
                                from: n.reign_start.as_secs_f64(),
                                to: t.as_secs_f64(),
                            });
                        }
                    }
                    FaultKind::Pause(d) => n.paused_until = n.paused_until.max(t + d),
                    FaultKind::Partition(d) => n.cut_until = n.cut_until.max(t + d),
                }
            }
            let mut sent_this_tick = false;
            for (i, n) in nodes.iter_mut().enumerate() {
                if !n.alive || t < n.paused_until {
                    continue;
                }
                let woke = n.paused_until > Duration::ZERO && t < n.paused_until + self.tick;
                // A leader that wakes from a pause first sends what it was about to send.
                if woke {
                    if let Some((cursor, term)) = n.cursor {
                        let c = self.send(
                            cursor,
                            per_tick.max(1.0) as usize,
                            idempotent,
                            &mut per_user,
                            &mut delivered,
                        );
                        match checkpoint.write(term, &i.to_string(), |ck| *ck = (*ck).max(c)) {
                            Ok(()) => n.cursor = Some((c, term)),
                            Err(stale) => {
                                stale_writes += 1;
                                n.elector.observe(stale.newest);
                                n.cursor = None;
                            }
                        }
                    }
                }
                match n.elector.tick(t) {
                    Action::Wait(_) => {}
                    Action::Acquire if t < n.cut_until => n.elector.on_unreachable(t),
                    Action::Renew if t < n.cut_until => n.elector.on_unreachable(t),
                    Action::Acquire => match lock.acquire(&i.to_string(), self.election.ttl, t) {
                        Ok(token) => n.elector.on_granted(token, t),
                        Err(_) => n.elector.on_refused(t),
                    },
                    Action::Renew => {
                        let term = n.elector.role();
                        let token = match term {
                            unbreakable::lock::election::Role::Leader { term } => term,
                            unbreakable::lock::election::Role::Follower => Token(0),
                        };
                        match lock.renew(&i.to_string(), token, self.election.ttl, t) {
                            Ok(()) => n.elector.on_renewed(t),
                            Err(_) => n.elector.on_refused(t),
                        }
                    }
                }
                let Some(term) = n.elector.leader(t) else {
                    if let Some((_, term)) = n.cursor.take() {
                        reigns.push(Reign {
                            node: i,
                            term: term.0,
                            from: n.reign_start.as_secs_f64(),
                            to: t.as_secs_f64(),
                        });
                    }
                    continue;
                };
                let holder = *term_holders.entry(term.0).or_insert(i);
                if holder != i {
                    shared_terms += 1;
                }
                let cursor = match n.cursor {
                    Some((c, tm)) if tm == term => c,
                    _ => {
                        n.reign_start = t;
                        n.credit = 0.0;
                        *checkpoint.value()
                    }
                };
                if cursor >= self.users {
                    finished_at = Some(t);
                    n.cursor = Some((cursor, term));
                    break;
                }
                n.credit += per_tick;
                let k = n.credit.floor() as usize;
                n.credit -= k as f64;
                let mut c = cursor;
                let mut left = k;
                while left > 0 && c < self.users {
                    let upto = ((c / self.batch + 1) * self.batch).min(self.users).min(c + left);
                    let done = self.send(c, upto - c, idempotent, &mut per_user, &mut delivered);
                    left -= done - c;
                    c = done;
                    if c % self.batch == 0 || c == self.users {
                        if let Err(stale) = checkpoint.write(term, &i.to_string(), |ck| *ck = c) {
                            stale_writes += 1;
                            n.elector.observe(stale.newest);
                            break;
                        }
                    }
                }
                n.cursor = Some((c, term));
                if k > 0 {
                    sent_this_tick = true;
                }
                if c >= self.users {
                    finished_at = Some(t);
                }
            }
            if sent_this_tick {
                if started {
                    leaderless = leaderless.max(t.saturating_sub(last_send + self.tick));
                }
                started = true;
                last_send = t;
            }
            t += self.tick;
        }
        for (i, n) in nodes.iter().enumerate() {
            if let Some((_, term)) = n.cursor {
                reigns.push(Reign {
                    node: i,
                    term: term.0,
                    from: n.reign_start.as_secs_f64(),
                    to: t.min(self.horizon).as_secs_f64(),
                });
            }
        }
        reigns.sort_by(|a, b| a.from.total_cmp(&b.from));
        Ok(EmailRun { per_user, finished_at, leaderless, reigns, stale_writes, shared_terms })
    }

    /// Sends to up to `k` users from `from`; returns the next user.
    fn send(
        &self,
        from: usize,
        k: usize,
        idempotent: bool,
        per_user: &mut [u32],
        delivered: &mut [bool],
    ) -> usize {
        let to = (from + k).min(self.users);
        for u in from..to {
            if !(idempotent && delivered[u]) {
                per_user[u] += 1;
                delivered[u] = true;
            }
        }
        to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_servers_five_emails_one_leader_one() {
        let job = EmailJob { faults: Vec::new(), ..EmailJob::default() };
        assert!(job.run(Coordination::None).unwrap().per_user.iter().all(|&c| c == 5));
        let r = job.run(Coordination::Election).unwrap();
        assert!(r.per_user.iter().all(|&c| c == 1));
        assert_eq!(r.reigns.len(), 1);
    }

    #[test]
    fn a_crash_mid_job_repeats_less_than_a_batch_and_skips_nobody() {
        let job = EmailJob::default();
        let r = job.run(Coordination::Election).unwrap();
        assert_eq!(r.skipped(), 0);
        assert!(r.duplicates() > 0 && r.duplicates() < 100, "{}", r.duplicates());
        assert_eq!(r.reigns.len(), 2);
        assert!(
            r.leaderless > Duration::from_secs(5) && r.leaderless < Duration::from_secs(13),
            "{:?}",
            r.leaderless
        );
        let i = job.run(Coordination::ElectionIdempotent).unwrap();
        assert!(i.per_user.iter().all(|&c| c == 1));
    }
}
