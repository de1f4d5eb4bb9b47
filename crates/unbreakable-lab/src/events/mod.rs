//! Event sourcing: the patterns of [`unbreakable::events`], and the workbook's models.
//!
//! * [`bank`]: the article's bank account, a balance that is never stored.
//! * [`inventory`]: the article's stock of one item: stock on a date, a discrepancy traced
//!   to the event that caused it, a bug fixed by replaying through corrected logic, and
//!   compensating events instead of edits.
//! * [`calendar`]: dates as milliseconds since the UNIX epoch, for time travel by date.

pub use unbreakable::events::*;

pub mod bank;
pub mod calendar;
pub mod inventory;
