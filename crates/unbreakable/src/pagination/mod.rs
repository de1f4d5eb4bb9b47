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
//! lets [`CursorSigner::decode_at`] refuse cursors older than a maximum age. A client can hand a cursor back, but cannot edit the position or
//! reuse it for another user's list: [`CursorSigner::decode`] refuses it with a
//! [`CursorError`] that says which check failed. The cursor is not encrypted: its bytes
//! are readable by whoever base64-decodes them, so put nothing secret in a position.
//!
//! # Examples
//! ```
//! use unbreakable::pagination::{CursorSigner, Keyset};
//!
//! let signer = CursorSigner::new(b"a secret of at least 32 bytes, from config").unwrap();
//! let cursor = signer.encode_keyset("user:7/products?sort=price", Keyset { sort: 1999, id: 41 });
//! assert_eq!(signer.decode_keyset("user:7/products?sort=price", &cursor).unwrap(), Keyset { sort: 1999, id: 41 });
//! // Another user's list, or an edited cursor, is refused.
//! assert!(signer.decode_keyset("user:8/products?sort=price", &cursor).is_err());
//! ```

mod cursor;

pub use cursor::{CursorError, CursorSigner, Keyset, MAX_POSITION, MIN_SECRET_LEN};
