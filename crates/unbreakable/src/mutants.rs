//! Test-only: fixed bugs that a simulation can switch back on, one thread at a time.
//!
//! Compiled only with the `mutants` feature, which no service enables. Each [`Mutant`]
//! names a bug this crate once had; while it is [`set`] on a thread, the code at its
//! switch behaves as the buggy version did, on that thread only (a simulation runs every
//! host's tasks on one thread, so one build covers every mutant and the unmutated code).
//! Work a host hands to tokio's blocking pool runs on other threads, where no mutant is
//! set: `AsyncRelay`'s reads and position stores do, so a switch on that path would be
//! silently off. Every switch today acts on the calling thread: [`Mutant::OutboxRowIdReuse`]
//! acts when `install` makes the table, which a simulation calls on its own thread. A
//! simulation's invariants must catch each of them: that is the proof they can fail.

use std::cell::Cell;

/// A bug that was fixed, switchable back on for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mutant {
    /// The idempotency edge frees the key when the handler's future is dropped or the
    /// handler fails: a retry runs the handler again while the first run's effect may
    /// still be in flight.
    KeyReleasedOnCancel,
    /// A fence accepts a token equal to the newest from another holder: two holders
    /// given one token both write.
    EqualTokenFenceAccepted,
    /// `RetryLayer` ignores the request's deadline: it waits and starts attempts after it.
    RetryIgnoresDeadline,
    /// The outbox table is made without `AUTOINCREMENT`: once `prune` deleted the newest
    /// rows, new events reuse their positions and a relay past them skips the events.
    OutboxRowIdReuse,
    /// `Repository::execute` answers the snapshot store's (transient) error after the
    /// append committed: a caller that retries transient errors appends the command twice.
    ErrorAfterCommit,
    /// `RetryLayer` records a `Failed` verdict (a final failure) in its breaker as a
    /// success, as it once recorded every final outcome: a backend that keeps failing
    /// that way never opens the breaker, and such a failed half-open probe closes it.
    FinalCountedAsSuccess,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: [Mutant; 6] = [
        Mutant::KeyReleasedOnCancel,
        Mutant::EqualTokenFenceAccepted,
        Mutant::RetryIgnoresDeadline,
        Mutant::OutboxRowIdReuse,
        Mutant::ErrorAfterCommit,
        Mutant::FinalCountedAsSuccess,
    ];

    /// Its name, in kebab case (as a command line takes it).
    pub fn name(self) -> &'static str {
        match self {
            Mutant::KeyReleasedOnCancel => "key-released-on-cancel",
            Mutant::EqualTokenFenceAccepted => "equal-token-fence",
            Mutant::RetryIgnoresDeadline => "retry-ignores-deadline",
            Mutant::OutboxRowIdReuse => "outbox-row-id-reuse",
            Mutant::ErrorAfterCommit => "error-after-commit",
            Mutant::FinalCountedAsSuccess => "final-counted-as-success",
        }
    }

    /// The mutant called `name` (see [`name`](Self::name)).
    pub fn parse(name: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|m| m.name() == name)
    }
}

thread_local! {
    static ACTIVE: Cell<Option<Mutant>> = const { Cell::new(None) };
}

/// Switches `mutant` on for this thread (`None`: the code as it is).
pub fn set(mutant: Option<Mutant>) {
    ACTIVE.with(|a| a.set(mutant));
}

/// Whether `mutant` is on for this thread.
pub fn active(mutant: Mutant) -> bool {
    ACTIVE.with(|a| a.get() == Some(mutant))
}

/// Runs `undo` when dropped, if `mutant` was on when it was made and it was not
/// [`disarm`](OnDrop::disarm)ed.
pub struct OnDrop<F: FnOnce()>(Option<F>);

/// A guard that runs `undo` on drop while `mutant` is on.
pub fn on_drop<F: FnOnce()>(mutant: Mutant, undo: F) -> OnDrop<F> {
    OnDrop(active(mutant).then_some(undo))
}

impl<F: FnOnce()> OnDrop<F> {
    /// Never runs `undo`.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(undo) = self.0.take() {
            undo();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{FencedResource, Token};

    #[test]
    fn a_mutant_changes_only_the_thread_that_set_it() {
        let mut resource = FencedResource::new(0);
        resource.write(Token(3), "a", |v| *v += 1).unwrap();
        assert!(
            resource.check(Token(3), "b").is_err(),
            "the fence refuses an equal token from another holder"
        );
        set(Some(Mutant::EqualTokenFenceAccepted));
        assert!(resource.check(Token(3), "b").is_ok(), "the mutant lets it through");
        let elsewhere = std::thread::spawn(move || resource.check(Token(3), "b").is_err()).join().unwrap();
        assert!(elsewhere, "another thread still runs the code as it is");
        set(None);
        assert!(!active(Mutant::EqualTokenFenceAccepted));
    }

    #[test]
    fn every_mutant_has_a_name_that_parses_back() {
        for m in Mutant::ALL {
            assert_eq!(Mutant::parse(m.name()), Some(m));
        }
        assert_eq!(Mutant::parse("no-such-bug"), None);
    }
}
