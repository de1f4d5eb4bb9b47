//! Keyset pagination with opaque, tamper-evident cursors.
//!
//! Offset pagination (`LIMIT 20 OFFSET 40000`) makes the database walk past every skipped
//! row, so a deep page costs more than the first, and rows inserted or deleted while a user
//! pages shift every later page (duplicates and skipped rows). Keyset pagination asks for
//! "the 20 rows after the last one I saw" (`WHERE (price, id) > ($1, $2) ORDER BY price, id
//! LIMIT 20`), which an index answers in the same time at any depth, and which neither
//! repeats nor skips a row that was there all along.
//!
//! The position of "the last one I saw" goes back to the client as a cursor. A
//! [`CursorSigner`] makes it opaque and tamper-evident: URL-safe base64 of a version byte,
//! a key id, the time it was issued, the position and an HMAC-SHA256 tag over all of them
//! *and a scope* (the user and the query it belongs to). The key id lets a secret be
//! rotated while cursors signed with the previous one are still accepted; the issue time
//! lets [`CursorSigner::decode_at`] refuse cursors older than a maximum age. A client can
//! hand a cursor back, but cannot edit the position or reuse it for another user's list:
//! [`CursorSigner::decode_at`] refuses it with a [`CursorError`] that says which check
//! failed.
//!
//! Use the `_at` forms ([`encode_at`](CursorSigner::encode_at) /
//! [`decode_at`](CursorSigner::decode_at), [`encode_keyset_at`](CursorSigner::encode_keyset_at)
//! / [`decode_keyset_at`](CursorSigner::decode_keyset_at)), passing your clock and a
//! maximum age. The short forms ([`encode`](CursorSigner::encode),
//! [`decode`](CursorSigner::decode) and their keyset twins) make cursors that **never
//! expire**: `encode` stamps them as issued at time 0 and `decode` checks no age, so such
//! a cursor stays valid for as long as its key is on the ring (and `decode_at` refuses
//! it as too old). The cursor is not encrypted: its bytes
//! are readable by whoever base64-decodes them, so put nothing secret in a position.
//!
//! # Examples
//! ```
//! use std::time::Duration;
//! use unbreakable::pagination::{CursorError, CursorSigner, Keyset};
//!
//! let signer = CursorSigner::new(b"a secret of at least 32 bytes, from config").unwrap();
//! let (scope, max_age) = ("user:7/products?sort=price", Duration::from_secs(3600));
//! let now_ms = 1_700_000_000_000; // your clock, ms since the UNIX epoch
//! let cursor = signer.encode_keyset_at(scope, Keyset { sort: 1999, id: 41 }, now_ms);
//! let page = signer.decode_keyset_at(scope, &cursor, now_ms + 1_000, max_age).unwrap();
//! assert_eq!(page, Keyset { sort: 1999, id: 41 });
//! // Another user's list, or an edited cursor, is refused; so is one an hour old.
//! assert!(signer.decode_keyset_at("user:8/products?sort=price", &cursor, now_ms, max_age).is_err());
//! let later = now_ms + 3_600_001;
//! assert!(matches!(signer.decode_keyset_at(scope, &cursor, later, max_age), Err(CursorError::Expired { .. })));
//! ```

mod cursor;

pub use cursor::{CursorError, CursorSigner, Keyset, MAX_POSITION, MIN_SECRET_LEN};
