//! Given / when / then: tests of an aggregate's rules that read like the rules.
//!
//! ```
//! use unbreakable::events::testing::given;
//! use unbreakable::events::Aggregate;
//!
//! #[derive(Default)]
//! struct Stock(u32);
//! #[derive(Debug, PartialEq)]
//! enum Event { Received(u32), Sold(u32) }
//! impl Aggregate for Stock {
//!     type Command = u32; // sell this many
//!     type Event = Event;
//!     type Error = String;
//!     fn handle(&self, n: &u32) -> Result<Vec<Event>, String> {
//!         if *n <= self.0 { Ok(vec![Event::Sold(*n)]) } else { Err(format!("only {} left", self.0)) }
//!     }
//!     fn apply(&mut self, e: &Event) {
//!         match e { Event::Received(n) => self.0 += n, Event::Sold(n) => self.0 -= n }
//!     }
//! }
//!
//! given::<Stock>(vec![Event::Received(50), Event::Sold(3)]).when(&47).then_expect(vec![Event::Sold(47)]);
//! given::<Stock>(vec![Event::Received(2)]).when(&3).then_expect_error("only 2 left".to_string());
//! ```

use std::fmt::Debug;

use super::{Aggregate, replay};

/// The events that already happened.
pub fn given<A: Aggregate>(events: Vec<A::Event>) -> Given<A> {
    Given { events }
}

/// The history of a test.
#[derive(Debug)]
pub struct Given<A: Aggregate> {
    events: Vec<A::Event>,
}

impl<A: Aggregate> Given<A> {
    /// The state those events build.
    pub fn state(&self) -> A {
        replay(&self.events)
    }

    /// Decides `command` on that state.
    pub fn when(self, command: &A::Command) -> Then<A> {
        Then { result: self.state().handle(command) }
    }
}

/// What the aggregate decided.
#[derive(Debug)]
pub struct Then<A: Aggregate> {
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A> {
    /// The decision itself, for custom checks.
    pub fn result(self) -> Result<Vec<A::Event>, A::Error> {
        self.result
    }

    /// Checks that the command was accepted with exactly these events.
    ///
    /// # Panics
    /// If it was refused, or produced other events (the message shows both).
    pub fn then_expect(self, expected: Vec<A::Event>)
    where
        A::Event: PartialEq + Debug,
        A::Error: Debug,
    {
        match self.result {
            Ok(events) => assert_eq!(events, expected, "the command produced other events than expected"),
            Err(e) => panic!("expected events {expected:?}, but the command was refused: {e:?}"),
        }
    }

    /// Checks that the command was refused with this error.
    ///
    /// # Panics
    /// If it was accepted, or refused with another error.
    pub fn then_expect_error(self, expected: A::Error)
    where
        A::Event: Debug,
        A::Error: PartialEq + Debug,
    {
        match self.result {
            Ok(events) => {
                panic!("expected the error {expected:?}, but the command was accepted with {events:?}")
            }
            Err(e) => assert_eq!(e, expected, "the command was refused with another error"),
        }
    }
}

pub mod conformance;
