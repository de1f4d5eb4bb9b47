//! The client-chosen key naming one logical request, scoped to the caller that sent it.

use std::fmt;

use serde::Serialize;

use crate::error::ConfigError;

/// The longest key (and the longest scope) [`IdempotencyKey::new`] accepts, in bytes
/// (Stripe's limit for keys).
pub const MAX_KEY_LEN: usize = 255;

/// A client-chosen key naming one logical request, in the scope of the caller that sent
/// it: each is 1 to 255 visible ASCII characters, such as an account id and a UUID.
///
/// Stores hold keys by (scope, key): two callers who both send `order-17` are two keys,
/// and neither can read the other's stored response. The scope is the *authenticated*
/// caller (the account or API client the request was authenticated as, as Stripe scopes
/// keys per account), never a value the client chose: then one client can neither see
/// nor block another's requests, and stores can bound the keys of each scope.
///
/// # Examples
/// ```
/// use unbreakable::idempotency::IdempotencyKey;
///
/// let alice = IdempotencyKey::new("acct_alice", "order-17").unwrap();
/// let bob = IdempotencyKey::new("acct_bob", "order-17").unwrap();
/// assert_ne!(alice, bob);
/// assert_eq!((alice.scope(), alice.as_str()), ("acct_alice", "order-17"));
/// let err = IdempotencyKey::new("acct_alice", "has space").unwrap_err();
/// assert!(err.to_string().contains("visible ASCII"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IdempotencyKey {
    scope: String,
    key: String,
}

/// Checks one part of a key: 1 to [`MAX_KEY_LEN`] bytes of visible ASCII.
fn check(field: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > MAX_KEY_LEN {
        return Err(ConfigError::new(
            field,
            format!("a {field} is 1 to {MAX_KEY_LEN} bytes; this one is {}", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(ConfigError::new(
            field,
            format!(
                "{c:?} is not allowed: use visible ASCII only (a UUID is a good key, an account id a good scope)"
            ),
        ));
    }
    Ok(())
}

impl IdempotencyKey {
    /// Checks and wraps `key`, sent by the caller authenticated as `scope`.
    ///
    /// # Errors
    /// A scope or key that is empty, longer than [`MAX_KEY_LEN`] bytes, or contains
    /// anything but visible ASCII (no spaces, no control characters); the error's field
    /// is `scope` or `key`.
    pub fn new(scope: impl Into<String>, key: impl Into<String>) -> Result<Self, ConfigError> {
        let (scope, key) = (scope.into(), key.into());
        check("scope", &scope)?;
        check("key", &key)?;
        Ok(Self { scope, key })
    }

    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The caller it belongs to.
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (scope {})", self.key, self.scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_scopes_are_checked() {
        let k = |key: String| IdempotencyKey::new("acct", key);
        assert!(k(String::new()).is_err());
        assert!(k("x".repeat(256)).is_err());
        assert!(k("x".repeat(255)).is_ok());
        assert!(k("tab\there".into()).is_err());
        assert!(k("é".into()).is_err());
        assert_eq!(IdempotencyKey::new("", "k").unwrap_err().field, "scope");
        assert_eq!(IdempotencyKey::new("a b", "k").unwrap_err().field, "scope");
        assert_eq!(IdempotencyKey::new("acct", "k").unwrap().to_string(), "k (scope acct)");
    }
}
