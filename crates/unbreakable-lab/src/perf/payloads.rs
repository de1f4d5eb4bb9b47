//! JSON responses of the article's shop, built from a seed: a product page, a list of 20,
//! a list of 1,000, and an event log (the attempts of chapter 02's retry widget, as a
//! service would log them).
//!
//! The products are made up but shaped like a real catalogue API's: ids, SKUs, names
//! from a small vocabulary, prices, ratings, tags, image URLs and a short description.
//! That vocabulary makes them about as repetitive as real product JSON, which is what
//! decides how well it compresses; a learner can check the claim on their own payloads
//! with [`measure`](super::compression::measure).

use rand::Rng;
use rand::seq::IndexedRandom as _;
use serde::Serialize;

use crate::error::ConfigError;
use crate::scenarios::widget::Widget;
use crate::sim::{SimRng, rng};

/// One product as a list endpoint returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// Row id.
    pub id: u64,
    /// Stock-keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Brand.
    pub brand: &'static str,
    /// Category path.
    pub category: &'static str,
    /// Price in cents.
    pub price_cents: u32,
    /// ISO currency.
    pub currency: &'static str,
    /// Average rating, 1.0 to 5.0.
    pub rating: f32,
    /// Number of reviews.
    pub review_count: u32,
    /// Units in stock.
    pub stock: u32,
    /// Search tags.
    pub tags: Vec<&'static str>,
    /// Thumbnail URL.
    pub image: String,
    /// Short description.
    pub description: String,
}

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Lightweight",
    "Waterproof",
    "Organic",
    "Wireless",
    "Compact",
    "Premium",
    "Vintage",
    "Ergonomic",
    "Stainless",
    "Recycled",
    "Insulated",
    "Foldable",
    "Rechargeable",
    "Handmade",
    "Adjustable",
];
const NOUNS: &[&str] = &[
    "Backpack",
    "Water Bottle",
    "Desk Lamp",
    "Running Shoe",
    "Coffee Grinder",
    "Headphones",
    "Yoga Mat",
    "Rain Jacket",
    "Chef Knife",
    "Notebook",
    "Phone Case",
    "Travel Mug",
    "Keyboard",
    "Sunglasses",
    "Blanket",
    "Tent",
];
const BRANDS: &[&str] =
    &["Northwind", "Acme", "Fabrikam", "Contoso", "Tailspin", "Woodgrove", "Litware", "Proseware"];
const CATEGORIES: &[&str] = &[
    "outdoor/camping",
    "outdoor/hiking",
    "home/kitchen",
    "home/office",
    "electronics/audio",
    "electronics/accessories",
    "sports/fitness",
    "fashion/accessories",
];
const TAGS: &[&str] = &[
    "new",
    "sale",
    "bestseller",
    "eco",
    "gift",
    "limited",
    "bundle",
    "clearance",
    "exclusive",
    "staff-pick",
];
const WORDS: &[&str] = &[
    "durable",
    "everyday",
    "comfortable",
    "designed",
    "for",
    "with",
    "and",
    "the",
    "a",
    "made",
    "from",
    "materials",
    "that",
    "last",
    "easy",
    "to",
    "clean",
    "perfect",
    "travel",
    "home",
    "office",
    "quality",
    "fits",
    "most",
    "keeps",
    "your",
    "gear",
    "dry",
    "warm",
    "light",
    "strong",
    "simple",
];

fn sentence(r: &mut SimRng, words: usize) -> String {
    let mut s: Vec<&str> = (0..words).map(|_| *WORDS.choose(r).expect("non-empty")).collect();
    s[0] = "Built";
    format!("{}.", s.join(" "))
}

/// Product `id`, drawn from `r`.
pub fn product(id: u64, r: &mut SimRng) -> Product {
    let name =
        format!("{} {}", ADJECTIVES.choose(r).expect("non-empty"), NOUNS.choose(r).expect("non-empty"));
    let k = r.random_range(1..=4);
    let mut tags: Vec<&'static str> = TAGS.choose_multiple(r, k).copied().collect();
    tags.sort_unstable();
    let words = r.random_range(12..=24);
    Product {
        id,
        sku: format!("SKU-{:06}-{}", id, r.random_range(10..99)),
        name,
        brand: BRANDS.choose(r).expect("non-empty"),
        category: CATEGORIES.choose(r).expect("non-empty"),
        price_cents: r.random_range(199..=49_999),
        currency: "EUR",
        rating: (r.random_range(10..=50) as f32) / 10.0,
        review_count: r.random_range(0..5_000),
        stock: r.random_range(0..500),
        tags,
        image: format!("https://cdn.example.com/products/{id}/thumb-400x400.webp"),
        description: sentence(r, words),
    }
}

/// `n` products with ids from 1, from `seed`.
pub fn products(n: usize, seed: u64) -> Vec<Product> {
    let mut r = rng(seed);
    (1..=n as u64).map(|id| product(id, &mut r)).collect()
}

/// `n` products as one JSON response (`{"items": [...]}`), compact: what an unpaginated
/// list endpoint sends.
pub fn list_json(n: usize, seed: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "items": products(n, seed) })).expect("products serialise")
}

/// A review on a product page.
#[derive(Debug, Clone, Serialize)]
struct Review {
    author: String,
    rating: u8,
    title: String,
    body: String,
    verified_purchase: bool,
}

/// The four payloads of the chapter, each as JSON bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Payload {
    /// One product with a long description, 10 reviews and 8 related products.
    ProductPage,
    /// A page of 20 products (`?page=1&limit=20`).
    List20,
    /// 1,000 products in one response.
    List1000,
    /// The attempts of chapter 02's widget run, as a JSON array of log records.
    EventLog,
}

impl Payload {
    /// All four, smallest first.
    pub const ALL: [Payload; 4] =
        [Payload::ProductPage, Payload::List20, Payload::List1000, Payload::EventLog];

    /// Its name in tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Payload::ProductPage => "product page",
            Payload::List20 => "list of 20",
            Payload::List1000 => "list of 1,000",
            Payload::EventLog => "event log",
        }
    }

    /// The JSON bytes, the same for the same seed.
    ///
    /// # Errors
    /// Only if the widget scenario rejected its own defaults.
    pub fn json(self, seed: u64) -> Result<Vec<u8>, ConfigError> {
        let to = |v: serde_json::Value| serde_json::to_vec(&v).expect("a Value always serialises");
        Ok(match self {
            Payload::ProductPage => {
                let mut r = rng(seed);
                let main = product(1, &mut r);
                let long = (0..6).map(|_| sentence(&mut r, 18)).collect::<Vec<_>>().join(" ");
                let reviews: Vec<Review> = (0..10)
                    .map(|i| {
                        let (author, rating) =
                            (format!("customer{}", r.random_range(1000..9999)), r.random_range(1..=5));
                        let title = sentence(&mut r, 4);
                        let words = r.random_range(15..40);
                        Review {
                            author,
                            rating,
                            title,
                            body: sentence(&mut r, words),
                            verified_purchase: i % 3 != 0,
                        }
                    })
                    .collect();
                let related: Vec<Product> = (2..10).map(|id| product(id, &mut r)).collect();
                to(serde_json::json!({
                    "product": main, "long_description": long, "reviews": reviews, "related": related,
                }))
            }
            Payload::List20 => {
                to(serde_json::json!({ "items": products(20, seed), "next_cursor": "AbC123", "limit": 20 }))
            }
            Payload::List1000 => to(serde_json::json!({ "items": products(1000, seed), "limit": 1000 })),
            Payload::EventLog => {
                let run = Widget::default().run(false, seed)?;
                to(serde_json::to_value(run.recorder.attempts()).expect("attempts serialise"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_deterministic_json_of_plausible_sizes() {
        for p in Payload::ALL {
            let a = p.json(3).unwrap();
            assert_eq!(a, p.json(3).unwrap(), "{}", p.name());
            let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
            assert!(v.is_object() || v.is_array());
        }
        let per_product = Payload::List1000.json(3).unwrap().len() / 1000;
        assert!((300..700).contains(&per_product), "{per_product} bytes per product");
    }
}
