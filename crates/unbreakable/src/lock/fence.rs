//! A resource that checks fencing tokens.

use super::Token;

/// A write refused because its token is older than one the resource has accepted, or
/// equal to it but from another holder (two holders given one token: a token counter
/// that lost an increment, see [`TokenSource`](super::TokenSource)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fencing token {token} of {holder:?} is refused: the resource has accepted token {newest} of {newest_holder:?}; the writer lost its lock (or two holders were given one token)"
)]
pub struct Stale {
    /// The refused write's token.
    pub token: Token,
    /// The refused write's holder.
    pub holder: String,
    /// The newest token the resource has accepted.
    pub newest: Token,
    /// The holder that wrote with it.
    pub newest_holder: String,
}

/// A value that accepts a write only with a token newer than every token it has accepted
/// before, or equal to the newest and from the same holder. Storage, a payment ledger or
/// a queue does this check itself; this type is that check. In a database it is one
/// condition on the write, with the newest token and its holder stored next to the row:
///
/// ```sql
/// UPDATE accounts SET balance = $1, fence = $2, fence_holder = $3
///  WHERE id = $4 AND (fence < $2 OR (fence = $2 AND fence_holder = $3))
/// ```
///
/// An equal token from the same holder passes: the holder of one grant may write many
/// times, and retry a write. An equal token from another holder is refused: two grants
/// got one token, which a [`TokenSource`](super::TokenSource) that is durable and
/// linearizable never does, but a Redis `INCR` counter does after a failover to a replica
/// that had not received the increment. The first of the two to write wins.
///
/// # Examples
/// ```
/// use unbreakable::lock::{FencedResource, Token};
///
/// let mut balance = FencedResource::new(100);
/// balance.write(Token(34), "client-2", |b| *b -= 30).unwrap(); // the current holder
/// let late = balance.write(Token(33), "client-1", |b| *b -= 30); // awake after a pause
/// assert!(late.is_err());
/// let twin = balance.write(Token(34), "client-3", |b| *b -= 30); // given the same token
/// assert!(twin.is_err());
/// assert_eq!(*balance.value(), 70);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedResource<T> {
    value: T,
    newest: Option<(Token, String)>,
}

impl<T> FencedResource<T> {
    /// A resource holding `value`, having seen no token.
    pub fn new(value: T) -> Self {
        Self { value, newest: None }
    }

    /// Applies `f` if (`token`, `holder`) may write (see [`check`](Self::check)); returns
    /// what `f` returned.
    ///
    /// # Errors
    /// [`Stale`]; the value is unchanged.
    pub fn write<R>(&mut self, token: Token, holder: &str, f: impl FnOnce(&mut T) -> R) -> Result<R, Stale> {
        self.check(token, holder)?;
        if self.newest.as_ref().is_none_or(|(t, _)| *t < token) {
            self.newest = Some((token, holder.to_string()));
        }
        Ok(f(&mut self.value))
    }

    /// Whether a write with `token` by `holder` would be accepted, without writing: a
    /// token newer than the newest accepted, or the newest from the holder that wrote
    /// with it.
    ///
    /// # Errors
    /// [`Stale`] for an older token, or the newest from another holder.
    pub fn check(&self, token: Token, holder: &str) -> Result<(), Stale> {
        #[cfg(feature = "mutants")]
        if crate::mutants::active(crate::mutants::Mutant::EqualTokenFenceAccepted)
            && self.newest() == Some(token)
        {
            return Ok(());
        }
        match &self.newest {
            Some((newest, by)) if token < *newest || (token == *newest && by != holder) => {
                Err(Stale { token, holder: holder.to_string(), newest: *newest, newest_holder: by.clone() })
            }
            _ => Ok(()),
        }
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The newest token accepted.
    pub fn newest(&self) -> Option<Token> {
        self.newest.as_ref().map(|(t, _)| *t)
    }

    /// The holder that wrote with the newest token.
    pub fn newest_holder(&self) -> Option<&str> {
        self.newest.as_ref().map(|(_, h)| h.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_pass_older_fail() {
        let mut r = FencedResource::new(Vec::new());
        r.write(Token(2), "a", |v| v.push(2)).unwrap();
        r.write(Token(2), "a", |v| v.push(2)).unwrap();
        assert_eq!(
            r.write(Token(1), "c", |v| v.push(1)),
            Err(Stale { token: Token(1), holder: "c".into(), newest: Token(2), newest_holder: "a".into() })
        );
        r.write(Token(5), "b", |v| v.push(5)).unwrap();
        assert_eq!(r.value(), &vec![2, 2, 5]);
        assert_eq!(r.newest(), Some(Token(5)));
        assert_eq!(r.newest_holder(), Some("b"));
    }

    /// Two holders given one token (a counter that lost an increment in a failover): the
    /// first to write wins, the other is refused; the winner's retry still passes.
    #[test]
    fn an_equal_token_from_another_holder_is_refused() {
        let mut r = FencedResource::new(100u64);
        r.write(Token(7), "client-2", |b| *b -= 50).unwrap();
        let late = r.write(Token(7), "client-1", |b| *b -= 80);
        assert_eq!(
            late,
            Err(Stale {
                token: Token(7),
                holder: "client-1".into(),
                newest: Token(7),
                newest_holder: "client-2".into()
            })
        );
        assert!(r.check(Token(7), "client-1").is_err());
        r.write(Token(7), "client-2", |b| *b -= 10).unwrap();
        assert_eq!(*r.value(), 40);
    }
}
