//! The client-chosen key naming one logical request.

use std::fmt;

use serde::Serialize;

use crate::error::ConfigError;

/// The longest key [`IdempotencyKey::new`] accepts, in bytes (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// A client-chosen key naming one logical request: 1 to 255 visible ASCII characters,
/// such as a UUID.
///
/// # Examples
/// ```
/// use unbreakable::idempotency::IdempotencyKey;
///
/// assert!(IdempotencyKey::new("3f2a9c1e-transfer-0001").is_ok());
/// let err = IdempotencyKey::new("has space").unwrap_err();
/// assert!(err.to_string().contains("visible ASCII"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps `key`.
    ///
    /// # Errors
    /// Empty, longer than [`MAX_KEY_LEN`] bytes, or containing anything but visible ASCII
    /// (no spaces, no control characters).
    pub fn new(key: impl Into<String>) -> Result<Self, ConfigError> {
        let key = key.into();
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(ConfigError::new(
                "key",
                format!("a key is 1 to {MAX_KEY_LEN} bytes; this one is {}", key.len()),
            ));
        }
        if let Some(c) = key.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "key",
                format!("{c:?} is not allowed: use visible ASCII only (a UUID is a good key)"),
            ));
        }
        Ok(Self(key))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("x".repeat(256)).is_err());
        assert!(IdempotencyKey::new("x".repeat(255)).is_ok());
        assert!(IdempotencyKey::new("tab\there").is_err());
        assert!(IdempotencyKey::new("é").is_err());
    }
}
