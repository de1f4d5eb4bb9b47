// Exercise 08.3: page by keyset, with a signed cursor.
//
// What to do: `page` serves the products sorted by price (cheapest first), `limit` at a
// time; the id breaks ties between equal prices. It is shipped with offset pagination:
// the cursor carries "rows already sent". Make it keyset pagination instead: the cursor
// carries the (price, id) of the last row sent, signed for `scope` with the crate's
// `CursorSigner`, and the next page is the rows after that position. The last page has
// no `next` cursor.
// Why it matters: an offset counts rows, so a product added or removed before the
// position shifts every later page: a user sees a row twice or never. A keyset position
// names a row, so rows that were there all along are neither repeated nor skipped, and a
// database answers "after (price, id)" from an index at any depth.
// Chapter: 08-performance, "Pagination" ("When the list changes while someone pages" and
//   "A cursor a client cannot forge").
// Hint: `Keyset` derives `Ord`, comparing `sort` first and `id` second: which rows come
//   after the last one sent, and which two methods of `CursorSigner` carry a `Keyset`?

use unbreakable::pagination::{CursorError, CursorSigner, Keyset};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub rows: Vec<Product>,
    pub next: Option<String>,
}

fn key(p: &Product) -> Keyset {
    Keyset { sort: p.price_cents, id: p.id }
}

/// The page after `cursor` (the first page if `None`) of `table`, in (price, id) order.
pub fn page(
    table: &[Product],
    signer: &CursorSigner,
    scope: &str,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page, CursorError> {
    // TODO: offset pagination. Make the cursor a signed `Keyset` of the last row sent.
    let offset = match cursor {
        Some(c) => {
            let bytes = signer.decode(scope, c)?;
            let n: [u8; 8] =
                bytes.try_into().map_err(|b: Vec<u8>| CursorError::Position { len: b.len(), expected: 8 })?;
            u64::from_be_bytes(n) as usize
        }
        None => 0,
    };
    let mut sorted = table.to_vec();
    sorted.sort_by_key(key);
    let rows: Vec<Product> = sorted.iter().skip(offset).take(limit).copied().collect();
    let sent = offset + rows.len();
    let next =
        (sent < sorted.len()).then(|| signer.encode(scope, &(sent as u64).to_be_bytes())).transpose()?;
    Ok(Page { rows, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: &str = "user:7/products?sort=price";

    fn signer() -> CursorSigner {
        CursorSigner::new(b"an exercise secret, 32 bytes or more").unwrap()
    }

    fn catalogue() -> Vec<Product> {
        // 23 products, several sharing a price, in no particular order.
        (1..=23).map(|id| Product { id, price_cents: 500 + (id * 37) % 7 * 100 }).collect()
    }

    fn walk(table: &[Product], limit: usize) -> Vec<Product> {
        let s = signer();
        let (mut seen, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let p = page(table, &s, SCOPE, cursor.as_deref(), limit).unwrap();
            assert!(p.rows.len() <= limit);
            seen.extend(p.rows);
            match p.next {
                Some(c) => cursor = Some(c),
                None => return seen,
            }
        }
    }

    #[test]
    fn every_row_once_in_price_order() {
        let mut expected = catalogue();
        expected.sort_by_key(|p| (p.price_cents, p.id));
        for limit in [1, 5, 10, 23, 50] {
            assert_eq!(walk(&catalogue(), limit), expected, "limit {limit}");
        }
    }

    #[test]
    fn a_cheaper_product_added_between_pages_shifts_nothing() {
        let s = signer();
        let mut table = catalogue();
        let first = page(&table, &s, SCOPE, None, 5).unwrap();
        // While the user reads page 1, a product is added at a price they have passed...
        table.push(Product { id: 99, price_cents: 100 });
        // ...and one they have already seen is removed.
        let gone = first.rows[0];
        table.retain(|p| p.id != gone.id);
        let second = page(&table, &s, SCOPE, first.next.as_deref(), 5).unwrap();
        let mut expected = catalogue();
        expected.sort_by_key(|p| (p.price_cents, p.id));
        assert_eq!(second.rows, expected[5..10], "page 2 must start right after the last row of page 1");
    }

    #[test]
    fn the_cursor_is_a_keyset_bound_to_its_scope() {
        let s = signer();
        let first = page(&catalogue(), &s, SCOPE, None, 5).unwrap();
        let cursor = first.next.unwrap();
        let last = first.rows[4];
        assert_eq!(s.decode_keyset(SCOPE, &cursor), Ok(Keyset { sort: last.price_cents, id: last.id }));
        assert_eq!(
            page(&catalogue(), &s, "user:8/products?sort=price", Some(&cursor), 5),
            Err(CursorError::Signature)
        );
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let s = signer();
        assert_eq!(page(&catalogue(), &s, SCOPE, None, 23).unwrap().next, None);
        assert_eq!(page(&[], &s, SCOPE, None, 5).unwrap(), Page { rows: vec![], next: None });
    }
}
