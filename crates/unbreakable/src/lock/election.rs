//! Leader election on a lease: whoever holds the lock is the leader, the lock's fencing
//! token is the leader's **term**, and a leader acts only while its lease is valid by its
//! own clock, and only with its term as the fencing token.
//!
//! [`Elector`] is the pure core of one node: [`tick`](Elector::tick) says what to do at
//! `now` (try to acquire, renew, or wait), and the `on_*` methods take the lock service's
//! answers. [`Campaign`] is the async edge that drives it over any
//! [`LockStore`].
//!
//! A leader that pauses (or is cut off) past its lease loses it; another node acquires the
//! lock with a larger term. When the old leader wakes, its own clock tells it the lease
//! ran out ([`leader`](Elector::leader) answers `None`) and its renewal is refused; and if
//! it was already half-way through a write when it paused, the resource refuses the write
//! because its term is older than the one the new leader wrote with.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use tokio::sync::watch;

use super::{Grant, LockError, LockStore, Token, TokenSource};
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

/// The clock-drift allowance of Redlock's reference implementation (redlock-rb) and most of
/// its ports: 1% of the TTL plus 2 ms (Redis expires keys with 1 ms precision). The Redis
/// documentation itself only asks for "a few milliseconds"; raise it for clocks you trust less.
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
    /// A grant whose term is not newer than every term this node has seen (its own
    /// included) is ignored: a store that failed over can hand a term out twice. This
    /// only guards what this node has seen: another node that never saw the term can still
    /// accept it, so terms that must never repeat come from a durable [`TokenSource`],
    /// and the resource fences on them. A leader keeps its term with
    /// [`on_renewed`](Self::on_renewed), not with a new grant.
    pub fn on_granted(&mut self, term: Token, sent_at: Duration) {
        if term <= self.newest_term {
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
/// answers. A grant that arrives with a term not newer than every term this node has seen
/// is released at once, so a node never leads twice with one term. That cannot stop two
/// *different* nodes from accepting one term that a failed-over store handed out twice
/// (node b never saw node a's term): until a's next renewal is refused, both may act.
/// Take terms from a durable source ([`Campaign::with_tokens`]) and fence every write
/// on the term.
///
/// # Where the terms come from
/// By default from the store's own counter ([`LockStore::acquire`]). A Redis `INCR` can
/// repeat after a failover or a restart (see [`tokens`](super::tokens)); with
/// [`with_tokens`](Self::with_tokens) each term is drawn from a durable
/// [`TokenSource`] and the lock taken with [`LockStore::acquire_given`].
///
/// # Stopping
/// [`run_until`](Self::run_until) campaigns until a shutdown future completes, then
/// resigns (the lock is freed for the next leader at once). If the campaign, or the task
/// running [`run`](Self::run), is dropped, aborted or panics, the leadership channel turns
/// `None`.
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
pub struct Campaign<S, T = StoreCounter> {
    store: Arc<S>,
    tokens: Option<Arc<T>>,
    key: String,
    owner: String,
    elector: Elector,
    clock: Clock,
    grant: Option<Grant>,
    /// An acquisition whose step was cancelled: the next step (or a resignation) awaits
    /// its answer instead of sending another, so a grant made meanwhile is not lost.
    in_flight: Option<InFlight>,
    /// A grant this node must not keep (a stale term, or it came too late), whose release
    /// was cancelled: the next step sends it again.
    stale: Option<Grant>,
    leadership: StepDown,
}

/// An acquisition sent at `sent_at` (by the node's clock) whose answer has not been read.
struct InFlight {
    sent_at: Duration,
    call: Pin<Box<dyn Future<Output = Result<Grant, LockError>> + Send>>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight").field("sent_at", &self.sent_at).finish_non_exhaustive()
    }
}

/// The sender of a campaign's leadership channel, which sends `None` when dropped: a
/// worker never sees a leader whose campaign is gone (dropped, aborted, or panicked).
#[derive(Debug)]
struct StepDown(watch::Sender<Option<Token>>);

impl Drop for StepDown {
    fn drop(&mut self) {
        self.0.send_replace(None);
    }
}

/// The terms of a [`Campaign`] without [`with_tokens`](Campaign::with_tokens): the lock
/// store's own counter. An uninhabited type: there is no such source to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCounter {}

impl TokenSource for StoreCounter {
    async fn next_token(&self, _: &str) -> Result<Token, LockError> {
        match *self {}
    }
}

impl<S: LockStore + 'static> Campaign<S> {
    /// A node `owner` campaigning for `key`, its terms from the store's own counter (see
    /// [`with_tokens`](Self::with_tokens)).
    ///
    /// # Errors
    /// As [`Config::validate`], or an empty owner.
    pub fn new(store: S, key: &str, owner: &str, config: Config, clock: Clock) -> Result<Self, ConfigError> {
        if owner.is_empty() {
            return Err(ConfigError::new("owner", "each node needs its own non-empty id"));
        }
        Ok(Self {
            store: Arc::new(store),
            tokens: None,
            key: key.to_string(),
            owner: owner.to_string(),
            elector: Elector::new(config)?,
            clock,
            grant: None,
            in_flight: None,
            stale: None,
            leadership: StepDown(watch::Sender::new(None)),
        })
    }

    /// The same campaign, its terms drawn from `tokens` (a durable, linearizable counter)
    /// and acquired with [`LockStore::acquire_given`], instead of the store's own counter.
    /// Use it when the store can fail over or restart and forget tokens it gave (a Redis
    /// `INCR`, see [`tokens`](super::tokens)): two nodes then never lead with one term.
    /// A grant whose token is not the term just drawn (a store that does not use the
    /// token it is given) is released, and the node does not lead on it.
    pub fn with_tokens<T: TokenSource + 'static>(self, tokens: T) -> Campaign<S, T> {
        Campaign {
            store: self.store,
            tokens: Some(Arc::new(tokens)),
            key: self.key,
            owner: self.owner,
            elector: self.elector,
            clock: self.clock,
            grant: self.grant,
            in_flight: self.in_flight,
            stale: self.stale,
            leadership: self.leadership,
        }
    }
}

impl<S: LockStore + 'static, T: TokenSource + 'static> Campaign<S, T> {
    /// The acquisition, as a future that owns what it needs (so a cancelled step can
    /// leave it with the campaign): with a term from the token source if there is one,
    /// else from the store's counter.
    fn acquisition(&self, ttl: Duration) -> Pin<Box<dyn Future<Output = Result<Grant, LockError>> + Send>> {
        let (store, tokens) = (Arc::clone(&self.store), self.tokens.clone());
        let (key, owner) = (self.key.clone(), self.owner.clone());
        Box::pin(async move {
            let Some(tokens) = tokens else { return store.acquire(&key, &owner, ttl).await };
            let term = tokens.next_token(&key).await?;
            let grant = store.acquire_given(&key, &owner, ttl, term).await?;
            if grant.token != term {
                // Not the durable term: another node may hold this token too.
                let _ = store.release(&grant).await;
                return Err(LockError::Backend(format!(
                    "the lock store granted token {} for the term {term} it was given",
                    grant.token
                )));
            }
            Ok(grant)
        })
    }

    /// Does what the elector says now (acquire, renew or nothing) and returns the term if
    /// this node leads. The store call is bounded (see the [type docs](Self)).
    ///
    /// # Cancellation
    /// Dropping the step (a `select!` or a timeout around it) loses no grant: an
    /// acquisition it had sent stays with the campaign, and the next step (or
    /// [`resign`](Self::resign)) awaits its answer instead of asking again, its lease
    /// counted from when it was first sent. The same holds for the release of a grant the
    /// node does not keep. A dropped renewal changes nothing: the lease still ends by this
    /// node's clock where the last answered renewal put it.
    pub async fn step(&mut self) -> Option<Token> {
        self.release_stale().await;
        let now = self.clock.now();
        let config = self.elector.config;
        let action = if self.in_flight.is_some() { Action::Acquire } else { self.elector.tick(now) };
        match action {
            Action::Wait(_) => {}
            Action::Acquire => {
                let flight = match self.in_flight.take() {
                    Some(resumed) => resumed,
                    None => InFlight { sent_at: now, call: self.acquisition(config.ttl) },
                };
                let flight = self.in_flight.insert(flight);
                let sent_at = flight.sent_at;
                let limit =
                    config.ttl.saturating_sub(config.margin).saturating_sub(now.saturating_sub(sent_at));
                let result = bounded(limit, flight.call.as_mut()).await;
                self.in_flight = None;
                match result {
                    Ok(grant) => {
                        self.elector.on_granted(grant.token, sent_at);
                        if self.elector.leader(self.clock.now()) == Some(grant.token) {
                            self.grant = Some(grant);
                        } else {
                            // A stale term (a newer one was seen), or the answer came after
                            // the lease ended: free the lock rather than sit on it unused.
                            self.stale = Some(grant);
                            self.release_stale().await;
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
        self.leadership.0.send_replace(term);
        term
    }

    /// Releases a grant this node does not keep, bounded by its TTL; kept for the next
    /// step if this one is cancelled first.
    async fn release_stale(&mut self) {
        if let Some(g) = &self.stale {
            let _ = bounded(g.ttl, self.store.release(g)).await;
        }
        self.stale = None;
    }

    /// Steps for ever, sleeping until [`next_wake`](Self::next_wake) between steps, so
    /// that [`leadership`](Self::leadership) turns `None` when the lease ends by this node's
    /// clock even if nobody calls [`step`](Self::step). Spawn it, and drop or abort the
    /// task to stop campaigning (the lease then ends by itself; use
    /// [`run_until`](Self::run_until) to free it at once). When this future is dropped,
    /// aborted or panics, leadership turns `None`: nobody renews the lease any more.
    pub async fn run(&mut self) {
        let _step_down = StepDown(self.leadership.0.clone());
        loop {
            self.step().await;
            let wake = self.next_wake();
            tokio::time::sleep(wake.saturating_sub(self.clock.now())).await;
        }
    }

    /// Steps as [`run`](Self::run) until `shutdown` completes, then [`resign`](Self::resign)s:
    /// the lock is freed at once for the next leader, and leadership turns `None`.
    ///
    /// # Errors
    /// As [`resign`](Self::resign).
    pub async fn run_until(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), LockError> {
        {
            let mut run = std::pin::pin!(self.run());
            let mut shutdown = std::pin::pin!(shutdown);
            std::future::poll_fn(|cx| match shutdown.as_mut().poll(cx) {
                std::task::Poll::Ready(()) => std::task::Poll::Ready(()),
                std::task::Poll::Pending => run.as_mut().poll(cx),
            })
            .await;
        }
        self.resign().await
    }

    /// Leadership as a [`watch`] channel: the term while this node leads, `None`
    /// otherwise (as of the last step).
    pub fn leadership(&self) -> watch::Receiver<Option<Token>> {
        self.leadership.0.subscribe()
    }

    /// When the next [`step`](Self::step) has something to do.
    pub fn next_wake(&mut self) -> Duration {
        if self.in_flight.is_some() || self.stale.is_some() {
            return self.clock.now(); // a cancelled step left work to finish
        }
        match self.elector.tick(self.clock.now()) {
            Action::Wait(t) => t,
            _ => self.clock.now(),
        }
    }

    /// Steps down and releases the lock if it still holds it, including a grant an
    /// acquisition left by a cancelled step brings (awaited within its limit). The release
    /// is bounded by the TTL.
    ///
    /// # Errors
    /// [`LockError::Backend`] if the release could not be sent or got no answer (the lease
    /// then ends by itself).
    pub async fn resign(&mut self) -> Result<(), LockError> {
        self.elector.on_refused(self.clock.now());
        self.leadership.0.send_replace(None);
        if let Some(mut flight) = self.in_flight.take() {
            let config = self.elector.config;
            let spent = self.clock.now().saturating_sub(flight.sent_at);
            let limit = config.ttl.saturating_sub(config.margin).saturating_sub(spent);
            if let Ok(g) = bounded(limit, flight.call.as_mut()).await {
                self.stale = Some(g);
            }
        }
        self.release_stale().await;
        if let Some(g) = self.grant.take() {
            bounded(g.ttl, self.store.release(&g)).await?;
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

    /// A store in front of [`MemoryLocks`](super::super::MemoryLocks) whose acquisitions
    /// take the lock at once but answer `answer_after` later (a slow network), whose
    /// renewals never answer if `renew_hangs` (a partition that drops packets), and which
    /// ignores given tokens for its own counter's if `own_tokens`.
    struct Flaky {
        inner: super::super::MemoryLocks,
        answer_after: Duration,
        renew_hangs: bool,
        own_tokens: bool,
    }

    impl Flaky {
        fn new(inner: super::super::MemoryLocks) -> Self {
            Self { inner, answer_after: Duration::ZERO, renew_hangs: false, own_tokens: false }
        }
    }

    impl LockStore for Flaky {
        async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
            let granted = self.inner.acquire(key, owner, ttl).await;
            tokio::time::sleep(self.answer_after).await;
            granted
        }
        async fn acquire_given(
            &self,
            key: &str,
            owner: &str,
            ttl: Duration,
            token: Token,
        ) -> Result<Grant, LockError> {
            if self.own_tokens {
                return self.acquire(key, owner, ttl).await;
            }
            let granted = self.inner.acquire_given(key, owner, ttl, token).await;
            tokio::time::sleep(self.answer_after).await;
            granted
        }
        async fn renew(&self, grant: &Grant) -> Result<(), LockError> {
            if self.renew_hangs {
                std::future::pending::<()>().await;
            }
            self.inner.renew(grant).await
        }
        async fn release(&self, grant: &Grant) -> Result<bool, LockError> {
            self.inner.release(grant).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_renewal_ends_with_the_lease() {
        let clock = Clock::start();
        let store = Flaky { renew_hangs: true, ..Flaky::new(super::super::MemoryLocks::with_clock(clock)) };
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
    #[test]
    fn a_grant_repeating_a_seen_term_is_not_a_new_term() {
        let mut n = Elector::new(Config::default()).unwrap();
        n.observe(Token(7)); // another node led with term 7
        n.on_granted(Token(7), s(0)); // a failed-over store hands 7 out again
        assert_eq!(n.leader(s(0)), None, "two leaders with term 7");
        n.on_granted(Token(8), s(1));
        assert_eq!(n.leader(s(1)), Some(Token(8)));
        n.on_renewed(s(4)); // its own renewal still works
        assert_eq!(n.leader(s(13)), Some(Token(8)));
        n.on_granted(Token(8), s(14)); // ... but the same term granted again is not new
        assert_eq!(n.role(), Role::Leader { term: Token(8) });
        assert_eq!(n.leader(s(14)), None, "a repeated grant of 8 extended the lease");
    }

    /// A lock store that loses its locks and its counter on [`fail_over`](Self::fail_over),
    /// as a Redis failover to a replica that missed the last writes does.
    #[derive(Clone)]
    struct FailingOver {
        clock: Clock,
        inner: std::sync::Arc<std::sync::Mutex<super::super::MemoryLocks>>,
    }

    impl FailingOver {
        fn new(clock: Clock) -> Self {
            Self {
                clock,
                inner: std::sync::Arc::new(std::sync::Mutex::new(super::super::MemoryLocks::with_clock(
                    clock,
                ))),
            }
        }
        fn fail_over(&self) {
            *self.inner.lock().unwrap() = super::super::MemoryLocks::with_clock(self.clock);
        }
        fn now(&self) -> super::super::MemoryLocks {
            self.inner.lock().unwrap().clone()
        }
    }

    impl LockStore for FailingOver {
        async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
            self.now().acquire(key, owner, ttl).await
        }
        async fn acquire_given(
            &self,
            key: &str,
            owner: &str,
            ttl: Duration,
            token: Token,
        ) -> Result<Grant, LockError> {
            self.now().acquire_given(key, owner, ttl, token).await
        }
        async fn renew(&self, grant: &Grant) -> Result<(), LockError> {
            self.now().renew(grant).await
        }
        async fn release(&self, grant: &Grant) -> Result<bool, LockError> {
            self.now().release(grant).await
        }
    }

    /// A durable counter (it survives the store's failover).
    #[derive(Clone, Default)]
    struct Counter(std::sync::Arc<std::sync::atomic::AtomicU64>);

    impl super::super::TokenSource for Counter {
        async fn next_token(&self, _: &str) -> Result<Token, LockError> {
            Ok(Token(self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn terms_from_a_token_source_do_not_repeat_after_a_failover() {
        let clock = Clock::start();
        let config = Config::default();
        // The store's own counter: after the failover b gets a's term again.
        let store = FailingOver::new(clock);
        let mut a = Campaign::new(store.clone(), "mailer", "a", config, clock).unwrap();
        let mut b = Campaign::new(store.clone(), "mailer", "b", config, clock).unwrap();
        let first = a.step().await.expect("a leads");
        store.fail_over();
        assert_eq!(b.step().await, Some(first), "the store repeats the term (what with_tokens is for)");

        // Terms from a durable source: b's term is newer, the resource can fence a.
        let store = FailingOver::new(clock);
        let tokens = Counter::default();
        let mut a =
            Campaign::new(store.clone(), "mailer", "a", config, clock).unwrap().with_tokens(tokens.clone());
        let mut b = Campaign::new(store.clone(), "mailer", "b", config, clock).unwrap().with_tokens(tokens);
        let ta = a.step().await.expect("a leads");
        assert_eq!(b.step().await, None, "a holds the lock");
        store.fail_over();
        tokio::time::sleep(config.renew_every).await;
        let tb = b.step().await.expect("b leads after the failover");
        assert!(tb > ta, "b leads with {tb}, a with {ta}");
        // a's renewal is refused by the failed-over store: it steps down.
        assert_eq!(a.step().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_refuses_a_repeated_term_from_its_store() {
        let clock = Clock::start();
        let store = FailingOver::new(clock);
        let mut a = Campaign::new(store.clone(), "mailer", "a", Config::default(), clock).unwrap();
        a.elector().observe(Token(1)); // it saw term 1 (a leader before the failover)
        assert_eq!(a.step().await, None, "the store's repeated term 1 was taken as new");
        assert_eq!(store.now().holder_at("mailer", clock.now()), None, "and released");
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_cancelled_mid_acquire_keeps_its_grant() {
        let clock = Clock::start();
        let locks = super::super::MemoryLocks::with_clock(clock);
        let slow = Flaky { answer_after: s(1), ..Flaky::new(locks.clone()) };
        let mut node = node_a(slow, clock);
        // The store granted, the answer is on its way, and the step is dropped (a timeout
        // around it).
        assert!(tokio::time::timeout(Duration::from_millis(500), node.step()).await.is_err());
        assert_eq!(locks.holder_at("mailer", clock.now()), Some(("a".to_string(), Token(1))));
        assert_eq!(node.next_wake(), clock.now(), "the answer is still to be read");
        // The next step reads that answer instead of asking again (and being told the lock
        // is held, by itself, until the TTL).
        assert_eq!(node.step().await, Some(Token(1)), "the grant was lost");
        assert_eq!(clock.now(), s(1), "the answer came 1 s after the request");
        // The lease counts from the first request: it ends at ttl - margin from 0.
        let config = Config::default();
        assert_eq!(node.elector().time_left(clock.now()), config.ttl - config.margin - s(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_resignation_releases_a_grant_a_cancelled_step_left() {
        let clock = Clock::start();
        let locks = super::super::MemoryLocks::with_clock(clock);
        let mut node = node_a(Flaky { answer_after: s(1), ..Flaky::new(locks.clone()) }, clock);
        assert!(tokio::time::timeout(Duration::from_millis(500), node.step()).await.is_err());
        node.resign().await.unwrap();
        assert_eq!(locks.holder_at("mailer", clock.now()), None, "the late grant was kept");
    }

    #[tokio::test(start_paused = true)]
    async fn a_campaign_with_tokens_leads_only_on_the_term_it_drew() {
        let clock = Clock::start();
        let locks = super::super::MemoryLocks::with_clock(clock);
        // A store that answers with its own counter's token, not the durable one: another
        // node may hold that token too.
        let store = Flaky { own_tokens: true, ..Flaky::new(locks.clone()) };
        let durable = Counter(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(100)));
        let mut a = node_a(store, clock).with_tokens(durable);
        assert_eq!(a.step().await, None, "a led on a term its token source never issued");
        assert_eq!(locks.holder_at("mailer", clock.now()), None, "and kept the lock");
    }

    /// Node a campaigning for "mailer" on `store`, with the default configuration.
    fn node_a<S: LockStore + 'static>(store: S, clock: Clock) -> Campaign<S> {
        Campaign::new(store, "mailer", "a", Config::default(), clock).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_aborted_campaign_tells_the_worker() {
        let clock = Clock::start();
        let mut node = node_a(super::super::MemoryLocks::with_clock(clock), clock);
        let leading = node.leadership();
        let term = node.step().await.expect("a leads");
        let campaign = tokio::spawn(async move { node.run().await });
        tokio::time::sleep(s(1)).await;
        assert_eq!(*leading.borrow(), Some(term));
        campaign.abort();
        assert!(campaign.await.unwrap_err().is_cancelled());
        assert_eq!(*leading.borrow(), None, "the worker still sees a leader that is gone");
    }

    /// A store whose `renew` panics.
    struct Panicking(super::super::MemoryLocks);

    impl LockStore for Panicking {
        async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Grant, LockError> {
            self.0.acquire(key, owner, ttl).await
        }
        async fn acquire_given(
            &self,
            key: &str,
            owner: &str,
            ttl: Duration,
            token: Token,
        ) -> Result<Grant, LockError> {
            self.0.acquire_given(key, owner, ttl, token).await
        }
        async fn renew(&self, _: &Grant) -> Result<(), LockError> {
            panic!("a bug in the store")
        }
        async fn release(&self, grant: &Grant) -> Result<bool, LockError> {
            self.0.release(grant).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_campaign_that_panics_tells_the_worker() {
        let clock = Clock::start();
        let mut node = node_a(Panicking(super::super::MemoryLocks::with_clock(clock)), clock);
        let leading = node.leadership();
        let campaign = tokio::spawn(async move { node.run().await });
        assert!(campaign.await.unwrap_err().is_panic(), "the renewal panicked");
        assert_eq!(*leading.borrow(), None, "the worker still sees a leader that is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_stops_tells_the_worker() {
        let clock = Clock::start();
        let mut node = node_a(super::super::MemoryLocks::with_clock(clock), clock);
        let leading = node.leadership();
        // run() is dropped (a select or timeout around it), the campaign lives on.
        assert!(tokio::time::timeout(s(1), node.run()).await.is_err());
        assert_eq!(node.elector().role(), Role::Leader { term: Token(1) });
        assert_eq!(*leading.borrow(), None, "nobody renews, yet the worker sees a leader");
    }

    #[tokio::test(start_paused = true)]
    async fn run_until_resigns_on_shutdown() {
        let clock = Clock::start();
        let locks = super::super::MemoryLocks::with_clock(clock);
        let mut node = Campaign::new(locks.clone(), "mailer", "a", Config::default(), clock).unwrap();
        let leading = node.leadership();
        node.run_until(tokio::time::sleep(s(30))).await.unwrap();
        assert_eq!(clock.now(), s(30), "it ran until the shutdown");
        assert_eq!(*leading.borrow(), None);
        assert_eq!(locks.holder_at("mailer", clock.now()), None, "the lock was released at once");
    }
}
