use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::ConfigError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The shortest secret [`CursorSigner::new`] accepts, in bytes (the size of a SHA-256
/// block's output: shorter keys make the tag easier to guess).
pub const MIN_SECRET_LEN: usize = 32;
/// The tag is HMAC-SHA256 truncated to its first 16 bytes (128 bits, as RFC 2104 allows).
const TAG_LEN: usize = 16;
/// Format version, the first byte of every cursor.
const VERSION: u8 = 1;
/// The longest position a cursor carries (it travels in URLs).
const MAX_POSITION: usize = 512;

/// Why a cursor was refused. Each variant is a client error (HTTP 400): the client
/// should start again from the first page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// Not URL-safe base64 without padding.
    #[error("bad cursor: not URL-safe base64 (was it cut or re-encoded?)")]
    NotBase64,
    /// Too short or too long to be a cursor of this format.
    #[error("bad cursor: {len} bytes is not the length of a cursor")]
    Length {
        /// Decoded length.
        len: usize,
    },
    /// Made by another version of this code.
    #[error("bad cursor: format version {0} is not known (start again from the first page)")]
    Version(u8),
    /// The tag does not match: the cursor was edited, made with another secret, or made
    /// for another scope (another user's list or another query).
    #[error("bad cursor: it was altered, or was issued for another list or by another key")]
    Signature,
    /// Signed correctly but the position has the wrong shape for this list.
    #[error("bad cursor: its position has {len} bytes, this list expects {expected}")]
    Position {
        /// Position length found.
        len: usize,
        /// Position length expected.
        expected: usize,
    },
}

/// The position of a keyset page: the sort key and the id of the last row sent (the id
/// breaks ties between rows with the same sort key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keyset {
    /// The last row's sort key (a price in cents, a timestamp).
    pub sort: i64,
    /// The last row's id.
    pub id: i64,
}

impl Keyset {
    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.sort.to_be_bytes());
        b[8..].copy_from_slice(&self.id.to_be_bytes());
        b
    }
}

/// Signs and checks cursors with a server-side secret. Cheap to clone and share.
#[derive(Clone)]
pub struct CursorSigner {
    mac: HmacSha256,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner { secret: <hidden> }")
    }
}

impl CursorSigner {
    /// A signer with `secret`, which must stay on the server (from configuration or a
    /// secret store). Rotating it invalidates every cursor in flight.
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::new(
                "secret",
                format!(
                    "{} bytes is too short to sign cursors; use at least {MIN_SECRET_LEN} random bytes",
                    secret.len()
                ),
            ));
        }
        let mac =
            HmacSha256::new_from_slice(secret).map_err(|e| ConfigError::new("secret", e.to_string()))?;
        Ok(Self { mac })
    }

    fn tag(&self, scope: &str, position: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(&[VERSION]);
        // The scope's length first, so ("ab", "c") and ("a", "bc") sign differently.
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(position);
        mac
    }

    /// A cursor for `position` in the list named by `scope` (for example
    /// `"user:7/orders?status=open"`: everything that must match when it comes back).
    /// Positions longer than 512 bytes are a programming error and are cut to 512.
    pub fn encode(&self, scope: &str, position: &[u8]) -> String {
        let position = &position[..position.len().min(MAX_POSITION)];
        let tag = self.tag(scope, position).finalize().into_bytes();
        let mut raw = Vec::with_capacity(1 + position.len() + TAG_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(position);
        raw.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position inside `cursor`, if this signer made it for `scope` and nobody changed
    /// it. The tag is compared in constant time.
    ///
    /// # Errors
    /// A [`CursorError`] saying which check failed.
    pub fn decode(&self, scope: &str, cursor: &str) -> Result<Vec<u8>, CursorError> {
        if cursor.len() > 4 * (1 + MAX_POSITION + TAG_LEN).div_ceil(3) {
            return Err(CursorError::Length { len: cursor.len() * 3 / 4 });
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::NotBase64)?;
        if raw.len() < 1 + TAG_LEN {
            return Err(CursorError::Length { len: raw.len() });
        }
        if raw[0] != VERSION {
            return Err(CursorError::Version(raw[0]));
        }
        let (position, tag) = raw[1..].split_at(raw.len() - 1 - TAG_LEN);
        self.tag(scope, position).verify_truncated_left(tag).map_err(|_| CursorError::Signature)?;
        Ok(position.to_vec())
    }

    /// [`encode`](Self::encode) for a [`Keyset`] position.
    pub fn encode_keyset(&self, scope: &str, at: Keyset) -> String {
        self.encode(scope, &at.to_bytes())
    }

    /// [`decode`](Self::decode) for a [`Keyset`] position.
    ///
    /// # Errors
    /// As [`decode`](Self::decode), or [`CursorError::Position`] for a position that is
    /// not 16 bytes.
    pub fn decode_keyset(&self, scope: &str, cursor: &str) -> Result<Keyset, CursorError> {
        let p = self.decode(scope, cursor)?;
        let b: [u8; 16] =
            p.as_slice().try_into().map_err(|_| CursorError::Position { len: p.len(), expected: 16 })?;
        let (sort, id) = b.split_at(8);
        Ok(Keyset {
            sort: i64::from_be_bytes(sort.try_into().expect("8 bytes")),
            id: i64::from_be_bytes(id.try_into().expect("8 bytes")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signer() -> CursorSigner {
        CursorSigner::new(SECRET).unwrap()
    }

    #[test]
    fn round_trip_and_url_safe() {
        let s = signer();
        let at = Keyset { sort: -5, id: i64::MAX };
        let c = s.encode_keyset("u1", at);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{c}");
        assert_eq!(s.decode_keyset("u1", &c), Ok(at));
        assert_eq!(s.decode("u1", &s.encode("u1", b"")), Ok(vec![]));
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let s = signer();
        let raw = URL_SAFE_NO_PAD.decode(s.encode_keyset("u1", Keyset { sort: 10, id: 20 })).unwrap();
        for i in 0..raw.len() * 8 {
            let mut r = raw.clone();
            r[i / 8] ^= 1 << (i % 8);
            assert!(s.decode("u1", &URL_SAFE_NO_PAD.encode(&r)).is_err(), "bit {i}");
        }
    }

    #[test]
    fn other_scope_other_key_and_garbage_are_refused_with_the_reason() {
        let s = signer();
        let c = s.encode_keyset("user:7", Keyset { sort: 1, id: 2 });
        assert_eq!(s.decode("user:8", &c), Err(CursorError::Signature));
        let other = CursorSigner::new(b"another secret, also 32 bytes long!").unwrap();
        assert_eq!(other.decode("user:7", &c), Err(CursorError::Signature));
        assert_eq!(s.decode("user:7", "not base64!"), Err(CursorError::NotBase64));
        assert_eq!(s.decode("user:7", "AAAA"), Err(CursorError::Length { len: 3 }));
        assert!(matches!(s.decode("user:7", &"A".repeat(10_000)), Err(CursorError::Length { .. })));
        let mut raw = URL_SAFE_NO_PAD.decode(&c).unwrap();
        raw[0] = 9;
        assert_eq!(s.decode("user:7", &URL_SAFE_NO_PAD.encode(raw)), Err(CursorError::Version(9)));
        let short = s.encode("user:7", b"abc");
        assert_eq!(s.decode_keyset("user:7", &short), Err(CursorError::Position { len: 3, expected: 16 }));
        // Scope boundaries are part of what is signed.
        assert_eq!(s.decode("a", &s.encode("ab", b"c")), Err(CursorError::Signature));
    }

    #[test]
    fn short_secret_is_a_config_error_and_debug_hides_it() {
        let e = CursorSigner::new(b"short").unwrap_err();
        assert_eq!(e.field, "secret");
        assert!(e.message.contains("at least 32"));
        assert!(!format!("{:?}", signer()).contains("0123"));
    }

    proptest::proptest! {
        #[test]
        fn any_keyset_round_trips(sort: i64, id: i64, scope in ".{0,40}") {
            let s = signer();
            let at = Keyset { sort, id };
            proptest::prop_assert_eq!(s.decode_keyset(&scope, &s.encode_keyset(&scope, at)), Ok(at));
        }
    }
}
