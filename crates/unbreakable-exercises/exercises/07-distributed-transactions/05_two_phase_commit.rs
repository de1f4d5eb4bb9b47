// Exercise 07.5: run two-phase commit by hand.
//
// What to do: write `run(votes)`: a coordinator and one participant per vote; deliver
// every message in the order it was sent (a queue) until none is left, and return the
// coordinator's decision and every participant's value.
// Why it matters: 2PC's promise is atomic commitment: everyone commits or everyone aborts.
// Driving the pure state machines yourself shows where the promise comes from: one "no"
// aborts all, and only a full set of "yes" commits.
// Chapter: 07-distributed-transactions, "Two-phase commit, step by step".
// Hint: which side handles each of the three kinds of `Msg`, and which of them produce
//   new messages?

use std::collections::VecDeque;
use unbreakable::transactions::two_phase::{Coordinator, Msg, Outcome, Participant, Vote};

pub fn run(votes: &[Vote]) -> (Option<Outcome>, Vec<i64>) {
    let mut coord = Coordinator::new(votes.len());
    let mut parts: Vec<Participant> =
        votes.iter().enumerate().map(|(i, v)| Participant::new(i, *v)).collect();
    let mut queue: VecDeque<Msg> = coord.start().into();
    // TODO: deliver the messages.
    let _ = (&mut parts, &mut queue);
    (coord.decision(), parts.iter().map(|p| p.value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::transactions::two_phase::WRITE;

    #[test]
    fn all_yes_commits_everywhere() {
        assert_eq!(run(&[Vote::Yes; 3]), (Some(Outcome::Commit), vec![WRITE; 3]));
    }

    #[test]
    fn one_no_aborts_everywhere() {
        assert_eq!(run(&[Vote::Yes, Vote::No, Vote::Yes]), (Some(Outcome::Abort), vec![0; 3]));
        assert_eq!(run(&[Vote::Yes, Vote::Yes, Vote::No]), (Some(Outcome::Abort), vec![0; 3]));
    }
}
