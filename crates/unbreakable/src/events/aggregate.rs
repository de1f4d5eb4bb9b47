//! The aggregate: rules in `handle`, none in `apply`.

/// A consistency boundary rebuilt from its events, in the style of cqrs-es.
///
/// * [`handle`](Self::handle) holds **every** business rule: it reads the current state
///   and either refuses the command or returns the events that record what happened. It
///   changes nothing.
/// * [`apply`](Self::apply) holds **none**: it folds one event into the state, and must
///   accept every event `handle` ever produced (also old ones after the rules changed),
///   so it never fails.
///
/// Replaying the same events through `apply` always gives the same state; that is what
/// snapshots, time travel and projections rely on.
pub trait Aggregate: Default {
    /// What a caller asks for.
    type Command;
    /// What happened.
    type Event;
    /// Why a command was refused.
    type Error;

    /// The version of the state's fold, stored with each snapshot. Raise it whenever
    /// [`apply`](Self::apply) or the state's shape changes (a bug fixed in `apply`, a new
    /// field): snapshots saved under another version are then ignored and the state is
    /// rebuilt by replaying the events, so the fix reaches every aggregate instead of
    /// hiding behind snapshots of the old fold's result. Snapshots that fail to decode
    /// are ignored the same way. Defaults to 1.
    const SNAPSHOT_VERSION: u32 = 1;

    /// Decides a command against the current state.
    ///
    /// # Errors
    /// The command breaks a rule; nothing is recorded.
    fn handle(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state.
    fn apply(&mut self, event: &Self::Event);
}

/// The state after `events`, from the default state.
pub fn replay<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a A::Event>) -> A
where
    A::Event: 'a,
{
    let mut state = A::default();
    for e in events {
        state.apply(e);
    }
    state
}

/// The state after `events`, starting from `state`, and how many events were applied.
pub fn replay_counted<'a, A: Aggregate>(
    mut state: A,
    events: impl IntoIterator<Item = &'a A::Event>,
) -> (A, u64)
where
    A::Event: 'a,
{
    let mut n = 0;
    for e in events {
        state.apply(e);
        n += 1;
    }
    (state, n)
}
