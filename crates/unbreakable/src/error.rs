//! Crate-level errors.
//!
//! Each module reports its own small error type; [`Error`] gathers them for callers that
//! want one type to pass up with `?`.

use std::fmt;

/// A configuration that cannot work, rejected when it is built.
///
/// The message names the field, the value that was given and what to change.
///
/// ### Handling
/// Fix the configuration; retrying with the same values fails the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field (or pair of fields) at fault, such as `"base"` or `"cap"`.
    pub field: &'static str,
    /// What is wrong and what to change, in words a reader can act on.
    pub message: String,
}

impl ConfigError {
    /// A new error for `field`, with a message that says what to change.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Checks that a probability lies in `0..=1` (and is a number).
///
/// # Errors
/// A [`ConfigError`] for `field` that names the value and the valid range.
pub fn check_probability(field: &'static str, p: f64) -> Result<(), ConfigError> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(ConfigError::new(field, format!("{p} is not a probability; use a value from 0.0 to 1.0")))
    }
}

/// The crate's error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration was rejected when it was built.
    ///
    /// ### Handling
    /// Change the configuration as the message says; this is never transient.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Reading or writing a file failed.
    ///
    /// ### Handling
    /// Check the path and its permissions.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
