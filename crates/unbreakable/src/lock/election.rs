//! Leader election on a lease: whoever holds the lock is the leader, the lock's fencing
//! token is the leader's **term**, and a leader acts only while its lease is valid by its
//! own clock, and only with its term as the fencing token.
//!
//! [`Elector`] is the pure core of one node: [`tick`](Elector::tick) says what to do at
//! `now` (try to acquire, renew, or wait), and the `on_*` methods take the lock service's
//! answers. [`Campaign`] is the async edge that drives it over any
//! [`LockStore`](super::LockStore).
//!
//! A leader that pauses (or is cut off) past its lease loses it; another node acquires the
//! lock with a larger term. When the old leader wakes, its own clock tells it the lease
//! ran out ([`leader`](Elector::leader) answers `None`) and its renewal is refused; and if
//! it was already half-way through a write when it paused, the resource refuses the write
//! because its term is older than the one the new leader wrote with.

use std::time::Duration;

use serde::Serialize;

use tokio::sync::watch;

use super::{Grant, LockError, LockStore, Token};
use crate::error::ConfigError;
use crate::time::Clock;

/// `call`, or [`LockError::Backend`] if it takes `limit` or longer.
async fn bounded<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, LockError>>,
) -> Result<T, LockError> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(LockError::Backend(format!("no answer within {limit:?}"))))
}

/// The drift allowance the Redlock description uses: 1% of the TTL plus 2 ms.
pub fn drift_allowance(ttl: Duration) -> Duration {
    ttl / 100 + Duration::from_millis(2)
}

/// How a node campaigns and leads.
///
/// # Default
/// | field | default | why |
/// |---|---|---|
/// | `ttl` | 10 s | the heartbeat timeout: how long the cluster waits for a silent leader |
/// | `renew_every` | 3 s | three renewals per lease: one lost renewal does not cost the lease |
/// | `margin` | [`drift_allowance`]`(ttl)` = 102 ms | the leader stops this much before the lease ends by its own clock |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Config {
    /// The lease (the heartbeat timeout).
    pub ttl: Duration,
    /// How often a leader renews, and a follower tries to acquire.
    pub renew_every: Duration,
    /// How long before the end of the lease (by its own clock) a leader stops acting:
    /// room for clock drift between the node and the lock service.
    pub margin: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let ttl = Duration::from_secs(10);
        Self { ttl, renew_every: Duration::from_secs(3), margin: drift_allowance(ttl) }
    }
}

impl Config {
    /// A configuration with lease `ttl`, renewing at a third of it, with the default margin.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn with_ttl(ttl: Duration) -> Result<Self, ConfigError> {
        let c = Self { ttl, renew_every: ttl / 3, margin: drift_allowance(ttl) };
        c.validate()?;
        Ok(c)
    }

    /// Checks that a leader can renew before its own view of the lease ends.
    ///
    /// # Errors
    /// A TTL under 1 ms, a zero renewal interval, or `renew_every + margin >= ttl`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ttl < Duration::from_millis(1) {
            return Err(ConfigError::new(
                "ttl",
                "a lease under 1 ms cannot be held; use the longest silence after which the cluster should elect someone else",
            ));
        }
        if self.renew_every.is_zero() {
            return Err(ConfigError::new(
                "renew_every",
                "0 would renew in a busy loop; use about a third of the TTL",
            ));
        }
        if self.renew_every.checked_add(self.margin).is_none_or(|busy| busy >= self.ttl) {
            return Err(ConfigError::new(
                "renew_every",
                format!(
                    "renewing every {:?} with a margin of {:?} leaves no time inside a lease of {:?}; renew at most every (ttl - margin) / 2",
                    self.renew_every, self.margin, self.ttl
                ),
            ));
        }
        Ok(())
    }
}

/// What a node should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Try to take the lock (it has no lease, or its lease ran out by its own clock).
    Acquire,
    /// Renew the lease it holds.
    Renew,
    /// Nothing until this time.
    Wait(Duration),
}

/// A node's view of its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    /// Not leading.
    Follower,
    /// Leading in `term` while its lease is valid.
    Leader {
        /// The term: the fencing token of its grant.
        term: Token,
    },
}

/// The pure election state machine of one node (see the [module docs](self)).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::lock::election::{Action, Config, Elector};
/// use unbreakable::lock::Token;
///
/// let s = Duration::from_secs;
/// let mut node = Elector::new(Config::default()).unwrap();
/// assert_eq!(node.tick(s(0)), Action::Acquire);
/// node.on_granted(Token(7), s(0));
/// assert_eq!(node.leader(s(1)), Some(Token(7)));
/// assert_eq!(node.tick(s(1)), Action::Wait(s(3)));
/// // it paused for 20 s and missed every renewal: by its own clock the lease is over
/// assert_eq!(node.leader(s(21)), None);
/// assert_eq!(node.tick(s(21)), Action::Acquire);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Elector {
    config: Config,
    role: Role,
    valid_until: Duration,
    next_at: Duration,
    newest_term: Token,
}

impl Elector {
    /// A follower that will try to acquire at once.
    ///
    /// # Errors
    /// As [`Config::validate`].
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            role: Role::Follower,
            valid_until: Duration::ZERO,
            next_at: Duration::ZERO,
            newest_term: Token(0),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What to do at `now`. A leader whose lease ran out by its own clock steps down here.
    pub fn tick(&mut self, now: Duration) -> Action {
        if matches!(self.role, Role::Leader { .. }) && now >= self.valid_until {
            self.role = Role::Follower;
            self.next_at = now;
        }
        if now < self.next_at {
            let wake = match self.role {
                Role::Leader { .. } => self.next_at.min(self.valid_until),
                Role::Follower => self.next_at,
            };
            return Action::Wait(wake);
        }
        match self.role {
            Role::Leader { .. } => Action::Renew,
            Role::Follower => Action::Acquire,
        }
    }

    /// The lock was granted with `term`, for a request sent at `sent_at` (by this node's
    /// clock: the lease is counted from when the request left, not when the answer came).
    /// A grant older than a term this node has already seen is ignored.
    pub fn on_granted(&mut self, term: Token, sent_at: Duration) {
        if term < self.newest_term {
            return;
        }
        self.newest_term = term;
        self.role = Role::Leader { term };
        self.valid_until = self.lease_end(sent_at);
        self.next_at = sent_at.saturating_add(self.config.renew_every);
    }

    /// The lease was renewed, for a request sent at `sent_at`.
    pub fn on_renewed(&mut self, sent_at: Duration) {
        if let Role::Leader { .. } = self.role {
            self.valid_until = self.lease_end(sent_at);
            self.next_at = sent_at.saturating_add(self.config.renew_every);
        }
    }

    /// The lock service refused (someone else holds the lock, or this lease was lost) at
    /// `now`: follow, and try again after `renew_every`.
    pub fn on_refused(&mut self, now: Duration) {
        self.role = Role::Follower;
        self.next_at = now.saturating_add(self.config.renew_every);
    }

    /// The lock service did not answer at `now`: keep the role (a leader's lease still
    /// runs out by its own clock) and try again after `renew_every`.
    pub fn on_unreachable(&mut self, now: Duration) {
        self.next_at = now.saturating_add(self.config.renew_every);
    }

    /// This node saw `term` (on a resource, in a message): if it is newer than its own, a
    /// leader steps down at once.
    pub fn observe(&mut self, term: Token) {
        if term > self.newest_term {
            self.newest_term = term;
            if matches!(self.role, Role::Leader { .. }) {
                self.role = Role::Follower;
            }
        }
    }

    /// When a lease granted for a request sent at `sent_at` ends by this node's clock.
    fn lease_end(&self, sent_at: Duration) -> Duration {
        sent_at.saturating_add(self.config.ttl).saturating_sub(self.config.margin)
    }

    /// How long the lease this node holds still runs at `now` by its own clock (zero for
    /// a follower).
    pub fn time_left(&self, now: Duration) -> Duration {
        match self.role {
            Role::Leader { .. } => self.valid_until.saturating_sub(now),
            Role::Follower => Duration::ZERO,
        }
    }

    /// Its term if it leads at `now` with a lease valid by its own clock.
    pub fn leader(&self, now: Duration) -> Option<Token> {
        match self.role {
            Role::Leader { term } if now < self.valid_until => Some(term),
            _ => None,
        }
    }

    /// Its role (as of its last tick or answer).
    pub fn role(&self) -> Role {
        self.role
    }

    /// The newest term this node has seen.
    pub fn newest_term(&self) -> Token {
        self.newest_term
    }
}

/// The async edge: one node campaigning for `key` over a [`LockStore`], on a [`Clock`].
///
/// Call [`step`](Self::step) in a loop, sleeping until [`next_wake`](Self::next_wake)
/// (or let [`run`](Self::run) do it); act as leader only with the term `step` returns,
/// passing it as the fencing token.
///
/// Every store call is bounded: a renewal by the time left on the lease (by this node's
/// clock), an acquisition by `ttl - margin`. A call that runs out counts as unreachable,
/// so a leader whose renewal hangs steps down when its lease ends, not when the store
/// answers. A grant that arrives with a term older than one this node has seen is
/// released at once.
///
/// # Telling the worker
/// [`leadership`](Self::leadership) is a [`watch`] channel with the term while this node
/// leads and `None` otherwise, updated by every step. A worker selects on it to stop the
/// moment leadership ends, also in the middle of its own call:
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use unbreakable::lock::election::{Campaign, Config};
/// use unbreakable::lock::MemoryLocks;
/// use unbreakable::time::Clock;
///
/// let clock = Clock::start();
/// let mut node = Campaign::new(MemoryLocks::with_clock(clock), "mailer", "a", Config::default(), clock).unwrap();
/// let mut leading = node.leadership();
/// let term = node.step().await.unwrap();
/// let campaign = tokio::spawn(async move { node.run().await });
/// // the leader's work, with `term` as its fencing token
/// let work = tokio::time::sleep(std::time::Duration::from_secs(60));
/// let finished = tokio::select! {
///     _ = leading.wait_for(|t| *t != Some(term)) => false, // leadership ended: stop
///     () = work => true,
/// };
/// assert!(finished, "the campaign renewed the lease all along");
/// campaign.abort();
/// # });
/// ```
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use unbreakable::lock::election::{Campaign, Config};
/// use unbreakable::lock::MemoryLocks;
/// use unbreakable::time::Clock;
///
/// let clock = Clock::start();
/// let locks = MemoryLocks::with_clock(clock);
/// let mut a = Campaign::new(locks.clone(), "mailer", "a", Config::default(), clock).unwrap();
/// let mut b = Campaign::new(locks.clone(), "mailer", "b", Config::default(), clock).unwrap();
/// assert!(a.step().await.is_some());
/// assert!(b.step().await.is_none()); // a leads; b follows
/// # });
/// ```
#[derive(Debug)]
pub struct Campaign<S> {
    store: S,
    key: String,
    owner: String,
    elector: Elector,
    clock: Clock,
    grant: Option<Grant>,
    leadership: watch::Sender<Option<Token>>,
}

impl<S: LockStore> Campaign<S> {
    /// A node `owner` campaigning for `key`.
    ///
    /// # Errors
    /// As [`Config::validate`], or an empty owner.
    pub fn new(store: S, key: &str, owner: &str, config: Config, clock: Clock) -> Result<Self, ConfigError> {
        if owner.is_empty() {
            return Err(ConfigError::new("owner", "each node needs its own non-empty id"));
        }
        Ok(Self {
            store,
            key: key.to_string(),
            owner: owner.to_string(),
            elector: Elector::new(config)?,
            clock,
            grant: None,
            leadership: watch::Sender::new(None),
        })
    }

    /// Does what the elector says now (acquire, renew or nothing) and returns the term if
    /// this node leads. The store call is bounded (see the [type docs](Self)).
    pub async fn step(&mut self) -> Option<Token> {
        let now = self.clock.now();
        let config = self.elector.config;
        match self.elector.tick(now) {
            Action::Wait(_) => {}
            Action::Acquire => {
                let limit = config.ttl.saturating_sub(config.margin);
                let call = self.store.acquire(&self.key, &self.owner, config.ttl);
                match bounded(limit, call).await {
                    Ok(grant) => {
                        self.elector.on_granted(grant.token, now);
                        if self.elector.leader(self.clock.now()) == Some(grant.token) {
                            self.grant = Some(grant);
                        } else {
                            // A stale term (a newer one was seen), or the answer came after
                            // the lease ended: free the lock rather than sit on it unused.
                            let left = config.ttl.saturating_sub(self.clock.now().saturating_sub(now));
                            let _ = bounded(left, self.store.release(&grant)).await;
                        }
                    }
                    Err(LockError::Backend(_)) => self.elector.on_unreachable(self.clock.now()),
                    Err(_) => self.elector.on_refused(self.clock.now()),
                }
            }
            Action::Renew => {
                let result = match &self.grant {
                    Some(g) => bounded(self.elector.time_left(now), self.store.renew(g)).await,
                    None => Err(LockError::Lost { key: self.key.clone(), token: 0 }),
                };
                match result {
                    Ok(()) => self.elector.on_renewed(now),
                    Err(LockError::Backend(_)) => self.elector.on_unreachable(self.clock.now()),
                    Err(_) => {
                        self.grant = None;
                        self.elector.on_refused(self.clock.now());
                    }
                }
            }
        }
        let now = self.clock.now();
        self.elector.tick(now);
        let term = self.elector.leader(now);
        self.leadership.send_replace(term);
        term
    }

    /// Steps for ever, sleeping until [`next_wake`](Self::next_wake) between steps, so
    /// that [`leadership`](Self::leadership) turns `None` when the lease ends by this node's
    /// clock even if nobody calls [`step`](Self::step). Spawn it, and drop or abort the
    /// task to stop campaigning (the lease then ends by itself; call
    /// [`resign`](Self::resign) first to free it at once).
    pub async fn run(&mut self) {
        loop {
            self.step().await;
            let wake = self.next_wake();
            tokio::time::sleep(wake.saturating_sub(self.clock.now())).await;
        }
    }

    /// Leadership as a [`watch`] channel: the term while this node leads, `None`
    /// otherwise (as of the last step).
    pub fn leadership(&self) -> watch::Receiver<Option<Token>> {
        self.leadership.subscribe()
    }

    /// When the next [`step`](Self::step) has something to do.
    pub fn next_wake(&mut self) -> Duration {
        match self.elector.tick(self.clock.now()) {
            Action::Wait(t) => t,
            _ => self.clock.now(),
        }
    }

    /// Steps down and releases the lock if it still holds it.
    ///
    /// # Errors
    /// [`LockError::Backend`] if the release could not be sent (the lease then ends by
    /// itself).
    pub async fn resign(&mut self) -> Result<(), LockError> {
        self.elector.on_refused(self.clock.now());
        self.leadership.send_replace(None);
        if let Some(g) = self.grant.take() {
            self.store.release(&g).await?;
        }
        Ok(())
    }

    /// The pure state machine, to observe newer terms or read the role.
    pub fn elector(&mut self) -> &mut Elector {
        &mut self.elector
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn bad_configs_say_what_to_change() {
        let e = Config { ttl: s(3), renew_every: s(3), margin: s(0) }.validate().unwrap_err();
        assert_eq!(e.field, "renew_every");
        assert!(Config::with_ttl(Duration::ZERO).is_err());
        assert!(Config::with_ttl(s(1)).is_ok());
    }

    #[test]
    fn a_leader_renews_and_steps_down_on_a_newer_term() {
        let mut n = Elector::new(Config::default()).unwrap();
        n.on_granted(Token(3), s(0));
        assert_eq!(n.tick(s(3)), Action::Renew);
        n.on_renewed(s(3));
        assert_eq!(n.leader(s(12)), Some(Token(3)));
        n.observe(Token(4));
        assert_eq!(n.leader(s(12)), None);
        assert_eq!(n.tick(s(12)), Action::Acquire);
        // a stale grant after a newer term is ignored
        n.on_granted(Token(2), s(13));
        assert_eq!(n.leader(s(13)), None);
    }

    #[test]
    fn the_lease_counts_from_the_request_and_leaves_a_margin() {
        let mut n = Elector::new(Config::default()).unwrap();
        n.on_granted(Token(1), s(5));
        assert_eq!(n.leader(s(15) - Duration::from_millis(103)), Some(Token(1)));
        assert_eq!(n.leader(s(15) - Duration::from_millis(102)), None);
    }

    #[test]
    fn an_endless_ttl_saturates_instead_of_panicking() {
        let c = Config::with_ttl(Duration::MAX).unwrap();
        let mut n = Elector::new(c).unwrap();
        n.on_granted(Token(1), s(5));
        assert_eq!(n.leader(s(6)), Some(Token(1)));
        n.on_renewed(s(7));
        n.on_refused(s(8));
        n.on_unreachable(s(9));
        assert!(matches!(n.tick(s(9)), Action::Wait(_)));
        let huge = Config { ttl: Duration::MAX, renew_every: Duration::MAX, margin: Duration::MAX };
        assert_eq!(huge.validate().unwrap_err().field, "renew_every");
    }

    /// A store whose `renew` (or everything, with `hang_all`) never answers: a partition
    /// that drops packets.
    #[derive(Clone)]
    struct Silent {
        inner: super::super::MemoryLocks,
        hang_all: bool,
    }

    impl LockStore for Silent {
        async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
            if self.hang_all {
                std::future::pending::<()>().await;
            }
            self.inner.acquire(key, owner, ttl).await
        }
        async fn renew(&self, _: &Grant) -> Result<(), LockError> {
            std::future::pending().await
        }
        async fn release(&self, grant: &Grant) -> Result<bool, LockError> {
            self.inner.release(grant).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_renewal_ends_with_the_lease() {
        let clock = Clock::start();
        let store = Silent { inner: super::super::MemoryLocks::with_clock(clock), hang_all: false };
        let config = Config::default();
        let mut node = Campaign::new(store, "mailer", "a", config, clock).unwrap();
        let leading = node.leadership();
        let term = node.step().await.expect("a leads");
        assert_eq!(*leading.borrow(), Some(term));
        tokio::time::sleep(config.renew_every).await;
        // The renewal hangs: step must come back when the lease ends by the node's clock.
        let valid_until = config.ttl - config.margin;
        let r = tokio::time::timeout(config.ttl * 2, node.step()).await;
        assert_eq!(r, Ok(None), "the step hung past the lease, or still leads");
        assert_eq!(clock.now(), valid_until);
        assert_eq!(*leading.borrow(), None, "the worker is told");
        assert!(term > Token(0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_grant_with_a_stale_term_is_released() {
        let clock = Clock::start();
        let locks = super::super::MemoryLocks::with_clock(clock);
        let mut node = Campaign::new(locks.clone(), "mailer", "a", Config::default(), clock).unwrap();
        node.elector().observe(Token(9)); // a newer leader was seen elsewhere
        assert_eq!(node.step().await, None, "term 1 is older than 9: not a leader");
        assert_eq!(locks.holder_at("mailer", clock.now()), None, "the stale grant was released");
    }
}
