//! Two-phase commit: a coordinator and participants as pure state machines.
//!
//! 1. **Prepare.** The coordinator logs the transaction and asks every participant to
//!    prepare. A participant that can commit makes its work durable, *keeps its locks*, and
//!    votes yes; one that cannot votes no and aborts.
//! 2. **Commit or abort.** All yes: the coordinator logs "commit" and tells everyone. Any
//!    no: it logs "abort" and tells everyone. Participants apply the decision and release
//!    their locks.
//!
//! The weak spot: a participant that voted yes may neither commit nor abort on its own.
//! If the coordinator crashes after the prepare phase, prepared participants hold their
//! locks until it recovers and reads its log: a logged decision is sent again; with no
//! decision logged, it aborts (*presumed abort*).
//!
//! Every handler takes a message and returns the messages to send: no clocks, no I/O.
//! [`explore`] drives them through a schedule of deliveries, drops, duplicates and
//! crashes, which is how the property tests check that no participant ever commits
//! while another aborts.

use serde::Serialize;

/// A participant's vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Vote {
    /// Ready to commit; locks held.
    Yes,
    /// Cannot commit.
    No,
}

/// The coordinator's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Outcome {
    /// Everyone commits.
    Commit,
    /// Everyone aborts.
    Abort,
}

/// Where a participant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Phase {
    /// Doing the work; it may still abort on its own.
    Working,
    /// Voted yes: locks held, waiting for the decision.
    Prepared,
    /// Committed; locks released.
    Committed,
    /// Aborted; locks released.
    Aborted,
}

impl Phase {
    /// Whether it holds its locks.
    pub fn holds_locks(self) -> bool {
        matches!(self, Phase::Working | Phase::Prepared)
    }
}

/// A message between the coordinator and participant `to`/`from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// Coordinator -> participant: prepare.
    Prepare(usize),
    /// Participant -> coordinator: its vote.
    Voted(usize, Vote),
    /// Coordinator -> participant: the decision.
    Decide(usize, Outcome),
}

/// Something that must never happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A participant was told the opposite of what it already did.
    #[error("participant {participant} was told to {told:?} after it had reached {was:?}")]
    Conflict {
        /// Which participant.
        participant: usize,
        /// Its phase.
        was: Phase,
        /// The decision it was sent.
        told: Outcome,
    },
    /// Participants ended in different states.
    #[error("participants disagree: {0:?}")]
    Split(Vec<Phase>),
    /// Committed although someone voted no.
    #[error("committed although participant {0} voted no")]
    CommitAgainstNo(usize),
}

/// One participant: its own data (a balance, say), the transaction's write to it held
/// back until the decision, and its locks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Its index.
    pub id: usize,
    /// Where it stands (durable: it survives a crash).
    pub phase: Phase,
    /// How it will vote when asked.
    pub vote: Vote,
    /// Its committed data.
    pub value: i64,
    /// The transaction's write, made durable at prepare, applied at commit.
    pub staged: Option<i64>,
}

/// What the transaction adds to each participant's value.
pub const WRITE: i64 = 100;

impl Participant {
    /// A participant holding 0 that will vote `vote`.
    pub fn new(id: usize, vote: Vote) -> Self {
        Self { id, phase: Phase::Working, vote, value: 0, staged: None }
    }

    /// Handles "prepare": votes, and prepares (staging its write, keeping its locks) or
    /// aborts. A repeat gets the same vote. A write it cannot apply (its value would
    /// overflow) is voted no, as a real participant refuses a write that breaks a
    /// constraint.
    pub fn on_prepare(&mut self) -> Msg {
        if self.phase == Phase::Working {
            let staged = self.value.checked_add(WRITE).filter(|_| self.vote == Vote::Yes);
            self.phase = if staged.is_some() { Phase::Prepared } else { Phase::Aborted };
            self.staged = staged;
        }
        let vote =
            if matches!(self.phase, Phase::Prepared | Phase::Committed) { Vote::Yes } else { Vote::No };
        Msg::Voted(self.id, vote)
    }

    /// Handles the decision. Repeats are harmless.
    ///
    /// # Errors
    /// [`Violation::Conflict`] if told to commit after aborting, to abort after committing,
    /// or to commit without having prepared.
    pub fn on_decide(&mut self, d: Outcome) -> Result<(), Violation> {
        let next = match (self.phase, d) {
            (Phase::Prepared, Outcome::Commit) => {
                self.value = self.staged.take().unwrap_or(self.value);
                Phase::Committed
            }
            (Phase::Committed, Outcome::Commit) => Phase::Committed,
            (Phase::Working | Phase::Prepared | Phase::Aborted, Outcome::Abort) => {
                self.staged = None;
                Phase::Aborted
            }
            (was, told) => return Err(Violation::Conflict { participant: self.id, was, told }),
        };
        self.phase = next;
        Ok(())
    }
}

/// The coordinator's durable log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LogRecord {
    /// The transaction started; prepares were sent.
    Begin,
    /// The decision, written before anyone is told.
    Decided(Outcome),
}

/// The coordinator of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coordinator {
    participants: usize,
    /// Durable.
    log: Vec<LogRecord>,
    /// Volatile: lost in a crash.
    votes: Vec<Option<Vote>>,
    up: bool,
}

impl Coordinator {
    /// A coordinator for `participants` participants.
    pub fn new(participants: usize) -> Self {
        Self { participants, log: Vec::new(), votes: vec![None; participants], up: true }
    }

    /// The decision in the log, if any.
    pub fn decision(&self) -> Option<Outcome> {
        self.log.iter().find_map(|r| match r {
            LogRecord::Decided(d) => Some(*d),
            LogRecord::Begin => None,
        })
    }

    /// The durable log.
    pub fn log(&self) -> &[LogRecord] {
        &self.log
    }

    /// Whether it is running.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Starts the transaction: logs it and asks everyone to prepare.
    pub fn start(&mut self) -> Vec<Msg> {
        self.log.push(LogRecord::Begin);
        (0..self.participants).map(Msg::Prepare).collect()
    }

    fn decide(&mut self, d: Outcome) -> Vec<Msg> {
        if self.decision().is_none() {
            self.log.push(LogRecord::Decided(d));
        }
        let d = self.decision().unwrap_or(d);
        (0..self.participants).map(|p| Msg::Decide(p, d)).collect()
    }

    /// Handles a vote; returns the decision messages once it can decide.
    pub fn on_vote(&mut self, from: usize, vote: Vote) -> Vec<Msg> {
        if !self.up || from >= self.participants {
            return Vec::new();
        }
        if let Some(d) = self.decision() {
            // A late or repeated vote: tell that participant the decision again.
            return vec![Msg::Decide(from, d)];
        }
        self.votes[from] = Some(vote);
        if vote == Vote::No {
            return self.decide(Outcome::Abort);
        }
        if self.votes.iter().all(|v| *v == Some(Vote::Yes)) {
            return self.decide(Outcome::Commit);
        }
        Vec::new()
    }

    /// Crashes: the votes it had collected are lost; the log survives.
    pub fn crash(&mut self) {
        self.up = false;
        self.votes = vec![None; self.participants];
    }

    /// Restarts and recovers from the log: resends a logged decision, or (presumed
    /// abort) aborts a transaction that has none.
    pub fn recover(&mut self) -> Vec<Msg> {
        self.up = true;
        match self.decision() {
            Some(d) => self.decide(d),
            None if self.log.contains(&LogRecord::Begin) => self.decide(Outcome::Abort),
            None => Vec::new(),
        }
    }

    /// Sends the decision again (a participant's answer may have been lost), or, before
    /// there is one, the prepares.
    pub fn resend(&self) -> Vec<Msg> {
        if !self.up {
            return Vec::new();
        }
        match self.decision() {
            Some(d) => (0..self.participants).map(|p| Msg::Decide(p, d)).collect(),
            None => (0..self.participants).filter(|p| self.votes[*p].is_none()).map(Msg::Prepare).collect(),
        }
    }
}

/// The end of an [`explore`] run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Final {
    /// Every participant's phase.
    pub phases: Vec<Phase>,
    /// Every participant's data: all [`WRITE`] after a commit, all 0 after an abort.
    pub values: Vec<i64>,
    /// The coordinator's decision.
    pub decision: Option<Outcome>,
    /// Steps taken.
    pub steps: usize,
}

/// Runs one transaction with `votes` through a schedule of `choices`: each choice picks
/// a message in flight and delivers it, drops it, or delivers it and keeps a duplicate;
/// some crash or restart the coordinator or make it resend. When the choices run out, the
/// coordinator recovers and everything in flight is delivered (the network heals), so
/// every run ends.
///
/// # Errors
/// A [`Violation`]: a participant told to do the opposite of what it did, participants
/// ending in different states, or a commit against a no vote.
pub fn explore(votes: &[Vote], choices: &[u8]) -> Result<Final, Violation> {
    let mut parts: Vec<Participant> =
        votes.iter().enumerate().map(|(i, v)| Participant::new(i, *v)).collect();
    let mut coord = Coordinator::new(votes.len());
    let mut flight: Vec<Msg> = coord.start();
    let mut steps = 0;
    let deliver =
        |m: Msg, parts: &mut Vec<Participant>, coord: &mut Coordinator| -> Result<Vec<Msg>, Violation> {
            Ok(match m {
                Msg::Prepare(p) => vec![parts[p].on_prepare()],
                Msg::Voted(p, v) => coord.on_vote(p, v),
                Msg::Decide(p, d) => {
                    parts[p].on_decide(d)?;
                    Vec::new()
                }
            })
        };
    for &c in choices {
        steps += 1;
        match c % 16 {
            // Crash, restart, or a timeout that makes the coordinator resend.
            13 => coord.crash(),
            14 => {
                if !coord.is_up() {
                    flight.extend(coord.recover());
                }
            }
            15 => flight.extend(coord.resend()),
            _ if flight.is_empty() => {}
            k => {
                let i = usize::from(c / 16) % flight.len();
                let m = flight.swap_remove(i);
                match k {
                    0 | 1 => {} // lost
                    2 => {
                        flight.push(m); // duplicated: one copy stays in flight
                        flight.extend(deliver(m, &mut parts, &mut coord)?);
                    }
                    _ => flight.extend(deliver(m, &mut parts, &mut coord)?),
                }
            }
        }
    }
    // Heal: the coordinator recovers, resends, and nothing more is lost.
    if !coord.is_up() {
        flight.extend(coord.recover());
    }
    flight.extend(coord.resend());
    let mut guard = 0;
    while let Some(m) = flight.pop() {
        steps += 1;
        flight.extend(deliver(m, &mut parts, &mut coord)?);
        if flight.is_empty() && parts.iter().any(|p| p.phase.holds_locks()) {
            flight.extend(coord.resend());
        }
        guard += 1;
        if guard > 10_000 {
            break;
        }
    }
    let phases: Vec<Phase> = parts.iter().map(|p| p.phase).collect();
    let committed = phases.contains(&Phase::Committed);
    if committed && phases.iter().any(|p| *p != Phase::Committed) {
        return Err(Violation::Split(phases));
    }
    if committed {
        if let Some(no) = votes.iter().position(|v| *v == Vote::No) {
            return Err(Violation::CommitAgainstNo(no));
        }
    }
    if phases.iter().any(|p| p.holds_locks()) {
        return Err(Violation::Split(phases));
    }
    let values: Vec<i64> = parts.iter().map(|p| p.value).collect();
    let want = if phases.first() == Some(&Phase::Committed) { WRITE } else { 0 };
    if values.iter().any(|v| *v != want) || parts.iter().any(|p| p.staged.is_some()) {
        return Err(Violation::Split(phases));
    }
    Ok(Final { phases, values, decision: coord.decision(), steps })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bug: `value + WRITE` overflowed (a panic in debug builds) for a participant whose
    /// public `value` was near `i64::MAX`.
    #[test]
    fn a_write_that_would_overflow_is_voted_no() {
        let mut p = Participant::new(0, Vote::Yes);
        p.value = i64::MAX;
        assert_eq!(p.on_prepare(), Msg::Voted(0, Vote::No));
        assert_eq!(p.phase, Phase::Aborted);
    }

    #[test]
    fn all_yes_commits_and_one_no_aborts_everyone() {
        let yes = explore(&[Vote::Yes; 3], &[]).unwrap();
        assert_eq!((yes.phases, yes.decision), (vec![Phase::Committed; 3], Some(Outcome::Commit)));
        let no = explore(&[Vote::Yes, Vote::No, Vote::Yes], &[]).unwrap();
        assert_eq!((no.phases, no.decision), (vec![Phase::Aborted; 3], Some(Outcome::Abort)));
    }

    #[test]
    fn a_coordinator_that_crashes_before_deciding_presumes_abort() {
        // Deliver the three prepares, then crash with the votes in flight. Choice 3
        // delivers the message at index 0, 19 the one at index 1; delivering uses
        // `swap_remove`, so [3, 3, 19] takes P0, then P2, then P1.
        let run = explore(&[Vote::Yes; 3], &[3, 3, 19, 13]).unwrap();
        assert_eq!(run.decision, Some(Outcome::Abort));
        assert_eq!(run.phases, vec![Phase::Aborted; 3]);
        // Deliver the three votes too: the decision is logged with the last one, and
        // recovery resends it.
        let run = explore(&[Vote::Yes; 3], &[3, 3, 19, 3, 3, 3, 13]).unwrap();
        assert_eq!(run.decision, Some(Outcome::Commit));
    }

    #[test]
    fn a_participant_refuses_to_commit_after_aborting() {
        let mut p = Participant::new(0, Vote::No);
        p.on_prepare();
        assert!(matches!(p.on_decide(Outcome::Commit), Err(Violation::Conflict { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

        /// Over 10,000 random schedules of lost, duplicated and reordered messages and
        /// coordinator crashes: never a commit at one participant and an abort at another,
        /// never a commit against a no, and every participant ends with its locks released.
        #[test]
        fn two_phase_commit_is_atomic_under_any_schedule(
            votes in proptest::collection::vec(prop_oneof![4 => Just(Vote::Yes), 1 => Just(Vote::No)], 2..6),
            choices in proptest::collection::vec(any::<u8>(), 0..60),
        ) {
            let run = explore(&votes, &choices);
            prop_assert!(run.is_ok(), "{:?}", run);
        }
    }
}
