//! The read side: the catalogue denormalised for search, built by a projection.
//!
//! Each row carries what the query needs and nothing has to be joined: the category
//! *name*, a prebuilt lowercase search text (`"name category"`) and whether the
//! product is available (stock above 0). [`CatalogueView`] is the projection (rows in
//! memory, updated by events); [`CatalogueView::frame`] lays its rows out as a polars
//! `DataFrame`, and [`search_frame`] answers the chapter's query on it.

use std::collections::HashMap;

use serde::Serialize;

use super::Projection;
use super::catalogue::{CatalogueEvent, Hit};

/// One product as the read model holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewRow {
    /// Product id.
    pub id: i64,
    /// Product name.
    pub name: String,
    /// Category id.
    pub category_id: i64,
    /// Category name, joined in by the projection.
    pub category: String,
    /// Price in cents.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i64,
    /// Precomputed: stock above 0.
    pub available: bool,
    /// Prebuilt: `"name category"` in lowercase.
    pub search: String,
}

impl ViewRow {
    fn refresh(&mut self) {
        self.available = self.stock > 0;
        self.search = format!("{} {}", self.name, self.category).to_lowercase();
    }
}

/// The denormalised catalogue: a [`Projection`] of [`CatalogueEvent`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueView {
    categories: HashMap<i64, String>,
    rows: Vec<ViewRow>,
    index: HashMap<i64, usize>,
}

impl Projection for CatalogueView {
    type Event = CatalogueEvent;

    fn apply(&mut self, e: &CatalogueEvent) {
        match e {
            CatalogueEvent::CategoryAdded { id, name } => {
                self.categories.insert(*id, name.clone());
            }
            CatalogueEvent::CategoryRenamed { id, name } => {
                self.categories.insert(*id, name.clone());
                for r in self.rows.iter_mut().filter(|r| r.category_id == *id) {
                    r.category = name.clone();
                    r.refresh();
                }
            }
            CatalogueEvent::ProductAdded { id, name, category_id, price_cents, stock } => {
                let mut row = ViewRow {
                    id: *id,
                    name: name.clone(),
                    category_id: *category_id,
                    category: self.categories.get(category_id).cloned().unwrap_or_default(),
                    price_cents: *price_cents,
                    stock: *stock,
                    available: false,
                    search: String::new(),
                };
                row.refresh();
                match self.index.get(id) {
                    Some(&i) => self.rows[i] = row,
                    None => {
                        self.index.insert(*id, self.rows.len());
                        self.rows.push(row);
                    }
                }
            }
            CatalogueEvent::PriceChanged { id, price_cents } => {
                if let Some(&i) = self.index.get(id) {
                    self.rows[i].price_cents = *price_cents;
                }
            }
            CatalogueEvent::StockChanged { id, stock } => {
                if let Some(&i) = self.index.get(id) {
                    self.rows[i].stock = *stock;
                    self.rows[i].refresh();
                }
            }
        }
    }
}

impl CatalogueView {
    /// The rows, in the order products were added.
    pub fn rows(&self) -> &[ViewRow] {
        &self.rows
    }

    /// One product's row.
    pub fn get(&self, id: i64) -> Option<&ViewRow> {
        self.index.get(&id).map(|&i| &self.rows[i])
    }

    /// Every product as a [`Hit`], by id: comparable with
    /// [`Catalogue::all`](super::catalogue::Catalogue::all).
    pub fn all(&self) -> Vec<Hit> {
        let mut out: Vec<Hit> = self.rows.iter().map(hit).collect();
        out.sort_by_key(|h| h.id);
        out
    }

    /// The rows as a polars `DataFrame`: `id, name, category_id, category, price_cents,
    /// stock, available, search`.
    ///
    /// # Errors
    /// A polars error (columns of different lengths cannot happen here).
    #[cfg(feature = "frames")]
    pub fn frame(&self) -> Result<polars::prelude::DataFrame, crate::Error> {
        use polars::prelude::*;
        let r = &self.rows;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), r.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("name".into(), r.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("category_id".into(), r.iter().map(|x| x.category_id).collect::<Vec<_>>()),
            Column::new("category".into(), r.iter().map(|x| x.category.as_str()).collect::<Vec<_>>()),
            Column::new("price_cents".into(), r.iter().map(|x| x.price_cents).collect::<Vec<_>>()),
            Column::new("stock".into(), r.iter().map(|x| x.stock).collect::<Vec<_>>()),
            Column::new("available".into(), r.iter().map(|x| x.available).collect::<Vec<_>>()),
            Column::new("search".into(), r.iter().map(|x| x.search.as_str()).collect::<Vec<_>>()),
        ])?)
    }
}

fn hit(r: &ViewRow) -> Hit {
    Hit {
        id: r.id,
        name: r.name.clone(),
        category: r.category.clone(),
        price_cents: r.price_cents,
        stock: r.stock,
    }
}

/// The chapter's query on the read model's frame: rows whose `search` text contains the
/// lowercased term, in the category if one is given, sorted by price then id, the first
/// `limit`. One pass over two columns; no join.
///
/// # Errors
/// A polars error (a frame without the read model's columns).
#[cfg(feature = "frames")]
pub fn search_frame(
    df: &polars::prelude::DataFrame,
    q: &super::catalogue::Query,
) -> Result<polars::prelude::DataFrame, crate::Error> {
    use polars::prelude::*;
    let term = q.term.to_lowercase();
    let search = df.column("search")?.str()?;
    let category = df.column("category_id")?.i64()?;
    let mask: BooleanChunked = search
        .iter()
        .zip(category.iter())
        .map(|(s, c)| {
            Some(q.category.is_none_or(|k| c == Some(k)) && s.is_some_and(|s| s.contains(term.as_str())))
        })
        .collect();
    let found = df.filter(&mask)?;
    let sorted = found.sort(["price_cents", "id"], SortMultipleOptions::default())?;
    Ok(sorted.head(Some(q.limit)))
}

/// A result frame of [`search_frame`] as [`Hit`]s.
///
/// # Errors
/// A polars error (a frame without the read model's columns).
#[cfg(feature = "frames")]
pub fn hits(df: &polars::prelude::DataFrame) -> Result<Vec<Hit>, crate::Error> {
    let (id, name, category) =
        (df.column("id")?.i64()?, df.column("name")?.str()?, df.column("category")?.str()?);
    let (price, stock) = (df.column("price_cents")?.i64()?, df.column("stock")?.i64()?);
    Ok((0..df.height())
        .map(|i| Hit {
            id: id.get(i).unwrap_or_default(),
            name: name.get(i).unwrap_or_default().to_string(),
            category: category.get(i).unwrap_or_default().to_string(),
            price_cents: price.get(i).unwrap_or_default(),
            stock: stock.get(i).unwrap_or_default(),
        })
        .collect())
}
