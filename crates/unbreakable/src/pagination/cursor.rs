use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::ConfigError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The shortest secret [`CursorSigner::new`] accepts, in bytes (the size of a SHA-256
/// block's output: shorter keys make the tag easier to guess).
pub const MIN_SECRET_LEN: usize = 32;
/// The longest position a cursor carries, in bytes (it travels in URLs).
pub const MAX_POSITION: usize = 512;
/// The tag is HMAC-SHA256 truncated to its first 16 bytes (128 bits, as RFC 2104 allows).
const TAG_LEN: usize = 16;
/// Format version, the first byte of every cursor: 2 carries a key id and an issue time.
const VERSION: u8 = 2;
/// The first format (no key id, no issue time): still accepted, as key id 0 issued at 0.
const VERSION_1: u8 = 1;
/// Version, key id, issued-at (ms since the UNIX epoch, big-endian).
const HEADER: usize = 1 + 1 + 8;

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
    /// Signed with a key this signer no longer holds (rotated out), or never held.
    #[error(
        "bad cursor: signed with key {0}, which this server does not hold (start again from the first page)"
    )]
    UnknownKey(u8),
    /// The tag does not match: the cursor was edited, made with another secret, or made
    /// for another scope (another user's list or another query).
    #[error("bad cursor: it was altered, or was issued for another list or by another key")]
    Signature,
    /// Older than the maximum age given to [`CursorSigner::decode_at`].
    #[error("bad cursor: it expired (issued at {issued_ms} ms, valid until {expires_ms} ms)")]
    Expired {
        /// When it was issued (ms since the UNIX epoch; 0 if encoded without a clock).
        issued_ms: u64,
        /// When it stopped being accepted.
        expires_ms: u64,
    },
    /// Signed correctly but the position has the wrong shape for this list.
    #[error("bad cursor: its position has {len} bytes, this list expects {expected}")]
    Position {
        /// Position length found.
        len: usize,
        /// Position length expected.
        expected: usize,
    },
    /// A position longer than [`MAX_POSITION`] was given to encode (a server bug: it is
    /// never cut, which would make the cursor decode to another page).
    #[error("a cursor position of {len} bytes is longer than the {max} a cursor carries")]
    PositionTooLarge {
        /// The position's length.
        len: usize,
        /// [`MAX_POSITION`].
        max: usize,
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

    fn from_bytes(p: &[u8]) -> Result<Self, CursorError> {
        let b: [u8; 16] = p.try_into().map_err(|_| CursorError::Position { len: p.len(), expected: 16 })?;
        let mut sort = [0u8; 8];
        let mut id = [0u8; 8];
        sort.copy_from_slice(&b[..8]);
        id.copy_from_slice(&b[8..]);
        Ok(Keyset { sort: i64::from_be_bytes(sort), id: i64::from_be_bytes(id) })
    }
}

/// Signs and checks cursors with server-side secrets: a keyring of up to 256 keys, each
/// with a one-byte id carried in the cursor. Cursors are signed with the current key and
/// accepted under any key on the ring, so a secret can be rotated without breaking the
/// cursors in flight: deploy the new key as current with the old one as previous, and
/// drop the old one once cursors signed with it have expired. Cheap to clone and share.
///
/// Each cursor also carries when it was issued (`*_at` methods, milliseconds since the
/// UNIX epoch from the caller's clock, so the signer stays pure), and
/// [`decode_at`](Self::decode_at) refuses one older than a maximum age.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::pagination::{CursorError, CursorSigner};
///
/// let old = CursorSigner::new(b"the secret of last quarter, 32 bytes+").unwrap();
/// let issued = old.encode_at("user:7/orders", b"page-2", 1_000).unwrap();
/// // Rotation: key 1 signs from now on; key 0 is still accepted.
/// let signer = CursorSigner::with_key_id(1, b"the secret of this quarter, 32 bytes+").unwrap()
///     .with_previous_key(0, b"the secret of last quarter, 32 bytes+").unwrap();
/// let hour = Duration::from_secs(3600);
/// assert_eq!(signer.decode_at("user:7/orders", &issued, 2_000, hour).unwrap(), b"page-2");
/// // An hour and a bit later the cursor has expired.
/// assert!(matches!(signer.decode_at("user:7/orders", &issued, 3_602_000, hour), Err(CursorError::Expired { .. })));
/// ```
#[derive(Clone)]
pub struct CursorSigner {
    /// The current key first, then the previous ones.
    keys: Vec<(u8, HmacSha256)>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(id, _)| *id).collect();
        write!(f, "CursorSigner {{ key_ids: {ids:?}, secrets: <hidden> }}")
    }
}

fn mac_for(secret: &[u8]) -> Result<HmacSha256, ConfigError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(ConfigError::new(
            "secret",
            format!(
                "{} bytes is too short to sign cursors; use at least {MIN_SECRET_LEN} random bytes",
                secret.len()
            ),
        ));
    }
    HmacSha256::new_from_slice(secret).map_err(|e| ConfigError::new("secret", e.to_string()))
}

impl CursorSigner {
    /// A signer with one key, `secret`, under key id 0. The secret must stay on the server
    /// (from configuration or a secret store). To rotate it, see
    /// [`with_key_id`](Self::with_key_id) and [`with_previous_key`](Self::with_previous_key).
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        Self::with_key_id(0, secret)
    }

    /// A signer whose current key is `secret` under the id `key_id` (written into every
    /// cursor it signs).
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn with_key_id(key_id: u8, secret: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self { keys: vec![(key_id, mac_for(secret)?)] })
    }

    /// The same signer, also accepting cursors signed with `secret` under `key_id` (a
    /// previous key, kept until the cursors it signed have expired).
    ///
    /// # Errors
    /// A secret shorter than [`MIN_SECRET_LEN`] bytes, or a key id already on the ring.
    pub fn with_previous_key(mut self, key_id: u8, secret: &[u8]) -> Result<Self, ConfigError> {
        if self.keys.iter().any(|(id, _)| *id == key_id) {
            return Err(ConfigError::new(
                "key_id",
                format!("key id {key_id} is already on the ring; give each secret its own id"),
            ));
        }
        self.keys.push((key_id, mac_for(secret)?));
        Ok(self)
    }

    fn tag(mac: &HmacSha256, version: u8, header: &[u8], scope: &str, position: &[u8]) -> HmacSha256 {
        let mut mac = mac.clone();
        mac.update(&[version]);
        mac.update(header);
        // The scope's length first, so ("ab", "c") and ("a", "bc") sign differently.
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(position);
        mac
    }

    /// A cursor that **never expires**: [`encode_at`](Self::encode_at) stamped as issued
    /// at time 0. [`decode`](Self::decode) accepts it for as long as its key is on the
    /// ring; [`decode_at`](Self::decode_at) always refuses it as expired. Prefer
    /// [`encode_at`](Self::encode_at).
    ///
    /// # Errors
    /// [`CursorError::PositionTooLarge`] for a position longer than [`MAX_POSITION`].
    pub fn encode(&self, scope: &str, position: &[u8]) -> Result<String, CursorError> {
        self.encode_at(scope, position, 0)
    }

    /// A cursor for `position` in the list named by `scope` (for example
    /// `"user:7/orders?status=open"`: everything that must match when it comes back),
    /// stamped as issued at `now_ms` (milliseconds since the UNIX epoch, from the
    /// caller's clock), so [`decode_at`](Self::decode_at) refuses it once it is too old.
    ///
    /// # Errors
    /// [`CursorError::PositionTooLarge`] for a position longer than [`MAX_POSITION`].
    pub fn encode_at(&self, scope: &str, position: &[u8], now_ms: u64) -> Result<String, CursorError> {
        if position.len() > MAX_POSITION {
            return Err(CursorError::PositionTooLarge { len: position.len(), max: MAX_POSITION });
        }
        let (key_id, mac) = &self.keys[0];
        let mut raw = Vec::with_capacity(HEADER + position.len() + TAG_LEN);
        raw.push(VERSION);
        raw.push(*key_id);
        raw.extend_from_slice(&now_ms.to_be_bytes());
        let tag = Self::tag(mac, VERSION, &raw[1..HEADER], scope, position).finalize().into_bytes();
        raw.extend_from_slice(position);
        raw.extend_from_slice(&tag[..TAG_LEN]);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// [`decode_at`](Self::decode_at) **without the age check**: accepts a cursor however
    /// old it is (as long as its key is on the ring). Prefer
    /// [`decode_at`](Self::decode_at).
    ///
    /// # Errors
    /// A [`CursorError`] saying which check failed.
    pub fn decode(&self, scope: &str, cursor: &str) -> Result<Vec<u8>, CursorError> {
        self.open(scope, cursor).map(|(_, p)| p)
    }

    /// The position inside `cursor`, if a key on this signer's ring made it for `scope`,
    /// nobody changed it (the tag is compared in constant time), and it was issued at
    /// most `max_age` before `now_ms` (the caller's clock, ms since the UNIX epoch). A
    /// cursor made by [`encode`](Self::encode) (issued at 0) is always too old.
    ///
    /// # Errors
    /// [`CursorError::Expired`], or another [`CursorError`] saying which check failed.
    pub fn decode_at(
        &self,
        scope: &str,
        cursor: &str,
        now_ms: u64,
        max_age: std::time::Duration,
    ) -> Result<Vec<u8>, CursorError> {
        let (issued_ms, position) = self.open(scope, cursor)?;
        let age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = issued_ms.saturating_add(age);
        if now_ms > expires_ms {
            return Err(CursorError::Expired { issued_ms, expires_ms });
        }
        Ok(position)
    }

    /// The issue time and position of a cursor that passes every check but expiry.
    fn open(&self, scope: &str, cursor: &str) -> Result<(u64, Vec<u8>), CursorError> {
        if cursor.len() > 4 * (HEADER + MAX_POSITION + TAG_LEN).div_ceil(3) {
            return Err(CursorError::Length { len: cursor.len() * 3 / 4 });
        }
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::NotBase64)?;
        if raw.len() < 1 + TAG_LEN {
            return Err(CursorError::Length { len: raw.len() });
        }
        let (key_id, issued_ms, header, body) = match raw.first() {
            Some(&VERSION) if raw.len() >= HEADER + TAG_LEN => {
                let mut at = [0u8; 8];
                at.copy_from_slice(&raw[2..HEADER]);
                (raw[1], u64::from_be_bytes(at), &raw[1..HEADER], &raw[HEADER..])
            }
            Some(&VERSION_1) if raw.len() > TAG_LEN => (0, 0, &raw[1..1], &raw[1..]),
            Some(&VERSION | &VERSION_1) | None => return Err(CursorError::Length { len: raw.len() }),
            Some(&v) => return Err(CursorError::Version(v)),
        };
        if body.len() < TAG_LEN || body.len() - TAG_LEN > MAX_POSITION {
            return Err(CursorError::Length { len: raw.len() });
        }
        let (position, tag) = body.split_at(body.len() - TAG_LEN);
        let (_, mac) =
            self.keys.iter().find(|(id, _)| *id == key_id).ok_or(CursorError::UnknownKey(key_id))?;
        Self::tag(mac, raw[0], header, scope, position)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError::Signature)?;
        Ok((issued_ms, position.to_vec()))
    }

    /// [`encode`](Self::encode) (a cursor that never expires) for a [`Keyset`] position.
    /// Prefer [`encode_keyset_at`](Self::encode_keyset_at).
    pub fn encode_keyset(&self, scope: &str, at: Keyset) -> String {
        self.encode_keyset_at(scope, at, 0)
    }

    /// [`encode_at`](Self::encode_at) for a [`Keyset`] position (which always fits).
    pub fn encode_keyset_at(&self, scope: &str, at: Keyset, now_ms: u64) -> String {
        self.encode_at(scope, &at.to_bytes(), now_ms).unwrap_or_default()
    }

    /// [`decode`](Self::decode) (no age check) for a [`Keyset`] position. Prefer
    /// [`decode_keyset_at`](Self::decode_keyset_at).
    ///
    /// # Errors
    /// As [`decode`](Self::decode), or [`CursorError::Position`] for a position that is
    /// not 16 bytes.
    pub fn decode_keyset(&self, scope: &str, cursor: &str) -> Result<Keyset, CursorError> {
        Keyset::from_bytes(&self.decode(scope, cursor)?)
    }

    /// [`decode_at`](Self::decode_at) for a [`Keyset`] position.
    ///
    /// # Errors
    /// As [`decode_at`](Self::decode_at), or [`CursorError::Position`] for a position
    /// that is not 16 bytes.
    pub fn decode_keyset_at(
        &self,
        scope: &str,
        cursor: &str,
        now_ms: u64,
        max_age: std::time::Duration,
    ) -> Result<Keyset, CursorError> {
        Keyset::from_bytes(&self.decode_at(scope, cursor, now_ms, max_age)?)
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
        assert_eq!(s.decode("u1", &s.encode("u1", b"").unwrap()), Ok(vec![]));
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
        let short = s.encode("user:7", b"abc").unwrap();
        assert_eq!(s.decode_keyset("user:7", &short), Err(CursorError::Position { len: 3, expected: 16 }));
        // Scope boundaries are part of what is signed.
        assert_eq!(s.decode("a", &s.encode("ab", b"c").unwrap()), Err(CursorError::Signature));
    }

    #[test]
    fn a_position_too_large_is_an_error_never_cut() {
        let s = signer();
        let big = [7u8; MAX_POSITION + 1];
        assert_eq!(s.encode("u", &big), Err(CursorError::PositionTooLarge { len: 513, max: 512 }));
        let full = [7u8; MAX_POSITION];
        assert_eq!(s.decode("u", &s.encode("u", &full).unwrap()).unwrap(), full.to_vec());
    }

    #[test]
    fn a_rotated_key_still_opens_cursors_in_flight_and_an_unknown_one_is_named() {
        let old = CursorSigner::new(SECRET).unwrap();
        let in_flight = old.encode_keyset("u", Keyset { sort: 1, id: 2 });
        let new_secret = b"the next secret, also 32 bytes long!!";
        let rotated = CursorSigner::with_key_id(1, new_secret).unwrap().with_previous_key(0, SECRET).unwrap();
        assert_eq!(rotated.decode_keyset("u", &in_flight), Ok(Keyset { sort: 1, id: 2 }));
        let fresh = rotated.encode_keyset("u", Keyset { sort: 3, id: 4 });
        assert_eq!(URL_SAFE_NO_PAD.decode(&fresh).unwrap()[1], 1, "signed with the current key");
        assert_eq!(old.decode_keyset("u", &fresh), Err(CursorError::UnknownKey(1)));
        let retired = CursorSigner::with_key_id(1, new_secret).unwrap();
        assert_eq!(retired.decode_keyset("u", &in_flight), Err(CursorError::UnknownKey(0)));
        // The key id is signed: relabelling a cursor as another key's is caught.
        let mut raw = URL_SAFE_NO_PAD.decode(&fresh).unwrap();
        raw[1] = 0;
        assert_eq!(rotated.decode("u", &URL_SAFE_NO_PAD.encode(raw)), Err(CursorError::Signature));
        assert!(rotated.clone().with_previous_key(1, SECRET).is_err(), "duplicate id");
        assert!(format!("{rotated:?}").contains("[1, 0]") && !format!("{rotated:?}").contains("0123"));
    }

    #[test]
    fn a_cursor_expires_after_its_max_age_against_the_clock_given() {
        let s = signer();
        let hour = std::time::Duration::from_secs(3600);
        let c = s.encode_keyset_at("u", Keyset { sort: 1, id: 1 }, 10_000);
        assert!(s.decode_keyset_at("u", &c, 10_000 + 3_600_000, hour).is_ok());
        assert_eq!(
            s.decode_keyset_at("u", &c, 10_001 + 3_600_000, hour),
            Err(CursorError::Expired { issued_ms: 10_000, expires_ms: 3_610_000 })
        );
        // The issue time is signed: moving it forward is caught.
        let mut raw = URL_SAFE_NO_PAD.decode(&c).unwrap();
        raw[9] ^= 0xff;
        assert_eq!(s.decode("u", &URL_SAFE_NO_PAD.encode(raw)), Err(CursorError::Signature));
        // Without a clock, no expiry; a clockless cursor is too old for decode_at.
        assert!(s.decode_keyset("u", &c).is_ok());
        let clockless = s.encode_keyset("u", Keyset { sort: 1, id: 1 });
        assert!(s.decode_keyset_at("u", &clockless, 1, hour).is_ok());
        assert!(matches!(
            s.decode_keyset_at("u", &clockless, hour.as_millis() as u64 + 1, hour),
            Err(CursorError::Expired { .. })
        ));
        assert!(s.decode_at("u", &c, u64::MAX, std::time::Duration::MAX).is_ok(), "no overflow");
    }

    #[test]
    fn a_cursor_of_the_first_format_still_decodes_as_key_0() {
        // Made by the first format: [1] ++ position ++ tag over ([1], scope, position).
        let s = signer();
        let mac = &s.keys[0].1;
        let position = Keyset { sort: 5, id: 6 }.to_bytes();
        let tag = CursorSigner::tag(mac, 1, &[], "u", &position).finalize().into_bytes();
        let mut raw = vec![1u8];
        raw.extend_from_slice(&position);
        raw.extend_from_slice(&tag[..TAG_LEN]);
        assert_eq!(s.decode_keyset("u", &URL_SAFE_NO_PAD.encode(raw)), Ok(Keyset { sort: 5, id: 6 }));
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
