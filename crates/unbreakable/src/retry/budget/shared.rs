//! A budget shared between executors: one state, one clock.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{RetryBudget, RetryToken};
use crate::time::Clock;

/// A [`RetryBudget`] shared between tasks and executors: a cloneable handle that owns
/// the budget's clock, so every clone counts its window from the same origin.
///
/// # Examples
/// ```
/// use unbreakable::retry::{Budget, RetryQuota};
///
/// let quota = Budget::new(RetryQuota::default());
/// let same = quota.clone();
/// assert_eq!(same.lock().available(), 500);
/// ```
#[derive(Debug)]
pub struct Budget<B> {
    inner: Arc<Mutex<B>>,
    clock: Clock,
}

impl<B> Clone for Budget<B> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), clock: self.clock }
    }
}

impl<B: RetryBudget> Budget<B> {
    /// A shared `budget`, its clock starting now.
    pub fn new(budget: B) -> Self {
        Self { inner: Arc::new(Mutex::new(budget)), clock: Clock::start() }
    }

    /// The budget itself, to read or adjust it.
    pub fn lock(&self) -> MutexGuard<'_, B> {
        // The budgets' updates are a few arithmetic steps that cannot panic half-way.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The type-erased budget the executor holds.
pub(crate) trait SharedBudget: Send + Sync {
    fn admit(&self, draw: f64) -> bool;
    fn withdraw(&self, after_timeout: bool, draw: f64) -> Option<RetryToken>;
    fn on_outcome(&self, success: bool, token: Option<RetryToken>);
    fn on_answered(&self, token: Option<RetryToken>);
}

impl<B: RetryBudget> SharedBudget for Budget<B> {
    fn admit(&self, draw: f64) -> bool {
        let now = self.clock.now();
        self.lock().admit(now, draw)
    }

    fn withdraw(&self, after_timeout: bool, draw: f64) -> Option<RetryToken> {
        let now = self.clock.now();
        self.lock().withdraw(now, after_timeout, draw)
    }

    fn on_outcome(&self, success: bool, token: Option<RetryToken>) {
        let now = self.clock.now();
        self.lock().on_outcome(now, success, token);
    }

    fn on_answered(&self, token: Option<RetryToken>) {
        let now = self.clock.now();
        self.lock().on_answered(now, token);
    }
}
