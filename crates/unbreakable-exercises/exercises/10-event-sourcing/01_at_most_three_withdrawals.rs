// Exercise 10.1: a new rule, tested with given / when / then.
//
// What to do: the bank allows at most three withdrawals per account. Add the rule to
// `Account`: `handle` refuses a fourth withdrawal with `Refused::TooManyWithdrawals`, and
// the state keeps what the rule needs. The tests are written in the crate's
// given / when / then harness (`unbreakable::events::testing`): read them first.
// Why it matters: in an event-sourced aggregate every rule lives in `handle`, which reads
// the state, and `apply` only folds events in, never checking anything, because it must
// accept every event ever stored. A rule added today is enforced on state rebuilt from
// years-old events.
// Chapter: 10-event-sourcing, "Rules in `handle`, none in `apply`".
// Hint: the state has only the balance. What must `apply` count so that `handle` can say
//   no, and should `apply` ever refuse an event?

use unbreakable::events::Aggregate;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Account {
    pub cents: i64,
    // TODO: what the new rule needs to know.
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Deposit(i64),
    Withdraw(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Deposited(i64),
    Withdrawn(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    NotPositive,
    InsufficientFunds { balance: i64 },
    TooManyWithdrawals,
}

pub const MAX_WITHDRAWALS: u32 = 3;

impl Aggregate for Account {
    type Command = Command;
    type Event = Event;
    type Error = Refused;

    fn handle(&self, command: &Command) -> Result<Vec<Event>, Refused> {
        match *command {
            Command::Deposit(n) | Command::Withdraw(n) if n <= 0 => Err(Refused::NotPositive),
            Command::Deposit(n) => Ok(vec![Event::Deposited(n)]),
            // TODO: the new rule.
            Command::Withdraw(n) if n > self.cents => Err(Refused::InsufficientFunds { balance: self.cents }),
            Command::Withdraw(n) => Ok(vec![Event::Withdrawn(n)]),
        }
    }

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Deposited(n) => self.cents += n,
            Event::Withdrawn(n) => self.cents -= n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::{Deposited, Withdrawn};
    use unbreakable::events::testing::given;

    #[test]
    fn three_withdrawals_are_allowed() {
        given::<Account>(vec![Deposited(1000), Withdrawn(100), Withdrawn(100)])
            .when(&Command::Withdraw(100))
            .then_expect(vec![Withdrawn(100)]);
    }

    #[test]
    fn the_fourth_is_refused() {
        given::<Account>(vec![Deposited(1000), Withdrawn(100), Withdrawn(100), Withdrawn(100)])
            .when(&Command::Withdraw(100))
            .then_expect_error(Refused::TooManyWithdrawals);
    }

    #[test]
    fn deposits_do_not_count_and_the_old_rules_still_hold() {
        given::<Account>(vec![Deposited(1000), Withdrawn(100), Withdrawn(100), Withdrawn(100)])
            .when(&Command::Deposit(50))
            .then_expect(vec![Deposited(50)]);
        given::<Account>(vec![Deposited(100)])
            .when(&Command::Withdraw(500))
            .then_expect_error(Refused::InsufficientFunds { balance: 100 });
        given::<Account>(vec![]).when(&Command::Deposit(0)).then_expect_error(Refused::NotPositive);
    }

    #[test]
    fn apply_never_refuses_an_old_event() {
        // Five withdrawals recorded before the rule existed still replay.
        let history =
            vec![Deposited(1000), Withdrawn(1), Withdrawn(1), Withdrawn(1), Withdrawn(1), Withdrawn(1)];
        let g = given::<Account>(history);
        assert_eq!(g.state().cents, 995);
        g.when(&Command::Withdraw(1)).then_expect_error(Refused::TooManyWithdrawals);
    }
}
