//! A resource that checks fencing tokens.

use super::Token;

/// A write refused because its token is older than one the resource has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fencing token {token} is stale: the resource has seen token {newest}; the writer lost its lock")]
pub struct Stale {
    /// The refused write's token.
    pub token: Token,
    /// The newest token the resource has accepted.
    pub newest: Token,
}

/// A value that accepts a write only with a token at least as new as every token it has
/// accepted before. Storage, a payment ledger or a queue does this check itself (in a
/// database: `UPDATE ... WHERE fence <= $token`); this type is that check.
///
/// Equal tokens pass: the holder of one grant may write many times.
///
/// # Examples
/// ```
/// use unbreakable::lock::{FencedResource, Token};
///
/// let mut balance = FencedResource::new(100);
/// balance.write(Token(34), |b| *b -= 30).unwrap();   // client 2, the current holder
/// let late = balance.write(Token(33), |b| *b -= 30);  // client 1, awake after a pause
/// assert!(late.is_err());
/// assert_eq!(*balance.value(), 70);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedResource<T> {
    value: T,
    newest: Option<Token>,
}

impl<T> FencedResource<T> {
    /// A resource holding `value`, having seen no token.
    pub fn new(value: T) -> Self {
        Self { value, newest: None }
    }

    /// Applies `f` if `token` is not older than any accepted before; returns what `f`
    /// returned.
    ///
    /// # Errors
    /// [`Stale`] if a newer token has written; the value is unchanged.
    pub fn write<R>(&mut self, token: Token, f: impl FnOnce(&mut T) -> R) -> Result<R, Stale> {
        self.check(token)?;
        self.newest = Some(token);
        Ok(f(&mut self.value))
    }

    /// Whether a write with `token` would be accepted, without writing.
    ///
    /// # Errors
    /// [`Stale`], as [`write`](Self::write).
    pub fn check(&self, token: Token) -> Result<(), Stale> {
        match self.newest {
            Some(newest) if token < newest => Err(Stale { token, newest }),
            _ => Ok(()),
        }
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The newest token accepted.
    pub fn newest(&self) -> Option<Token> {
        self.newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_pass_older_fail() {
        let mut r = FencedResource::new(Vec::new());
        r.write(Token(2), |v| v.push(2)).unwrap();
        r.write(Token(2), |v| v.push(2)).unwrap();
        assert_eq!(r.write(Token(1), |v| v.push(1)), Err(Stale { token: Token(1), newest: Token(2) }));
        r.write(Token(5), |v| v.push(5)).unwrap();
        assert_eq!(r.value(), &vec![2, 2, 5]);
        assert_eq!(r.newest(), Some(Token(5)));
    }
}
