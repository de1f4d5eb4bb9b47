//! The page model: sections, what they depend on, and what the user gets when a
//! dependency is down.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::error::ConfigError;

/// Something a page needs from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Dependency {
    /// The API gateway every request passes through.
    Gateway,
    /// The database: the source of truth.
    Database,
    /// The Redis cache in front of the database.
    Cache,
    /// The search service.
    Search,
    /// The recommendation engine.
    Recommendations,
    /// The image CDN.
    ImageCdn,
    /// The payment processor.
    Payments,
}

impl Dependency {
    /// All dependencies.
    pub const ALL: [Dependency; 7] = [
        Dependency::Gateway,
        Dependency::Database,
        Dependency::Cache,
        Dependency::Search,
        Dependency::Recommendations,
        Dependency::ImageCdn,
        Dependency::Payments,
    ];

    /// The name the article uses.
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Gateway => "API gateway",
            Dependency::Database => "Database",
            Dependency::Cache => "Redis cache",
            Dependency::Search => "Search service",
            Dependency::Recommendations => "Recommendations",
            Dependency::ImageCdn => "Image CDN",
            Dependency::Payments => "Payment processor",
        }
    }

    /// How long a call to it takes when it is up.
    ///
    /// # Default
    /// Gateway 20 ms, database 95 ms, cache 5 ms, search 40 ms, recommendations 60 ms,
    /// image CDN 0 ms (the browser fetches images after the page), payments 250 ms.
    /// With these, the product page takes the 120 ms of the article's widget.
    pub fn latency(self) -> Duration {
        Duration::from_millis(match self {
            Dependency::Gateway => 20,
            Dependency::Database => 95,
            Dependency::Cache => 5,
            Dependency::Search => 40,
            Dependency::Recommendations => 60,
            Dependency::ImageCdn => 0,
            Dependency::Payments => 250,
        })
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a call to a dependency that is down takes to fail: connection refused, or a
/// circuit breaker that is already open (2 ms).
pub const FAIL_FAST: Duration = Duration::from_millis(2);

/// What the database costs when the cache is down: the reads the cache used to absorb
/// (150 ms more per page).
pub const CACHE_MISS_PENALTY: Duration = Duration::from_millis(150);

/// Which dependencies are up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    down: BTreeSet<Dependency>,
}

impl Health {
    /// Everything up.
    pub fn all_up() -> Self {
        Self::default()
    }

    /// Everything up except `down`.
    pub fn with_down(down: &[Dependency]) -> Self {
        Self { down: down.iter().copied().collect() }
    }

    /// The same health with `dep` up (`true`) or down.
    pub fn set(mut self, dep: Dependency, up: bool) -> Self {
        if up {
            self.down.remove(&dep);
        } else {
            self.down.insert(dep);
        }
        self
    }

    /// Whether `dep` is up.
    pub fn is_up(&self, dep: Dependency) -> bool {
        !self.down.contains(&dep)
    }

    /// The dependencies that are down.
    pub fn down(&self) -> impl Iterator<Item = Dependency> + '_ {
        self.down.iter().copied()
    }
}

/// Whether the page can do without a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Importance {
    /// The page is pointless without it: with no usable fallback, the page fails.
    Essential,
    /// The page works without it.
    NiceToHave,
}

/// What a section shows when its dependency is down and the page degrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Fallback {
    /// The last cached copy, with a "data may be stale" banner. Needs the cache up.
    StaleCache,
    /// Something else in its place, described for the user ("popular items").
    Replace(&'static str),
    /// A message in its place ("payment temporarily unavailable, try again"): the page
    /// works, this feature does not.
    Message(&'static str),
    /// Nothing: the section is hidden.
    Hide,
}

impl Fallback {
    /// What the user sees, in words.
    pub fn describe(self) -> String {
        match self {
            Fallback::StaleCache => "show cached data with a \"data may be stale\" banner".into(),
            Fallback::Replace(what) => format!("show {what} instead"),
            Fallback::Message(msg) => format!("show \"{msg}\""),
            Fallback::Hide => "hide it".into(),
        }
    }
}

/// One part of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Its name ("recommendations").
    pub name: &'static str,
    /// What it calls.
    pub dependency: Dependency,
    /// Whether it reads through the cache (only for the database).
    pub cached: bool,
    /// Essential or nice-to-have.
    pub importance: Importance,
    /// What it shows when its dependency is down and the page degrades.
    pub fallback: Fallback,
    /// What its failure looks like to the user when nobody handles it.
    pub symptom: &'static str,
}

/// How a page handles a dependency that is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Mode {
    /// Any failed call takes the whole page down (an unhandled error anywhere): the
    /// article's e-commerce story, "every product page shows a 500 error".
    FailWhole,
    /// Errors are caught per section but nothing takes their place: the article's "without
    /// degradation" column. An essential section still takes the page down.
    NoFallback,
    /// Each section falls back; only an essential section with no usable fallback takes
    /// the page down.
    Degrade,
}

impl Mode {
    /// All modes, from worst to best.
    pub const ALL: [Mode; 3] = [Mode::FailWhole, Mode::NoFallback, Mode::Degrade];

    /// A name for tables and legends (and the play widget's choices).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::FailWhole => "no degradation (any error fails the page)",
            Mode::NoFallback => "errors caught, no fallback",
            Mode::Degrade => "graceful degradation",
        }
    }
}

/// What one section shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Shown {
    /// The real thing.
    Live,
    /// Its fallback.
    Fallback(Fallback),
    /// Hidden (the page degrades and it has nothing to put in its place).
    Hidden,
    /// Its failure, unhandled: the symptom.
    Broken(&'static str),
}

/// The page as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Everything live.
    Full,
    /// Served, with some sections falling back, hidden or broken.
    Degraded,
    /// Not served: an HTTP error page (502 from a dead gateway, 500 otherwise).
    Error(u16),
}

/// What a user gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// The page as a whole.
    pub status: Status,
    /// Each section (empty when the page failed).
    pub sections: Vec<(&'static str, Shown)>,
    /// The section whose failure took the page down, if one did.
    pub failed_by: Option<&'static str>,
    /// How long the user waited for it.
    pub latency: Duration,
}

impl Rendered {
    /// What the section `name` shows (`None` if the page failed or has no such section).
    pub fn section(&self, name: &str) -> Option<&Shown> {
        self.sections.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }
}

/// A page: a name and its sections. Every page goes through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Its name ("product page").
    pub name: &'static str,
    /// Its sections; the page calls them in parallel.
    pub sections: Vec<Section>,
}

impl Page {
    /// A page of `sections`.
    ///
    /// # Errors
    /// No sections; two with the same name; a section on the gateway (every page already
    /// depends on it); a cached section that is not on the database; or a stale-cache
    /// fallback on a section that does not read through the cache.
    pub fn new(name: &'static str, sections: Vec<Section>) -> Result<Self, ConfigError> {
        if sections.is_empty() {
            return Err(ConfigError::new(
                "sections",
                format!("page \"{name}\" has no sections; give it at least one"),
            ));
        }
        for (i, s) in sections.iter().enumerate() {
            if sections[..i].iter().any(|o| o.name == s.name) {
                return Err(ConfigError::new(
                    "sections",
                    format!("two sections are named \"{}\"; names must differ", s.name),
                ));
            }
            if s.dependency == Dependency::Gateway {
                return Err(ConfigError::new(
                    "sections",
                    format!(
                        "section \"{}\" depends on the gateway, which every page already does; pick what it calls behind it",
                        s.name
                    ),
                ));
            }
            if s.cached && s.dependency != Dependency::Database {
                return Err(ConfigError::new(
                    "cached",
                    format!(
                        "section \"{}\" reads through the cache but calls {}; only database reads are cached",
                        s.name, s.dependency
                    ),
                ));
            }
            if s.fallback == Fallback::StaleCache && !s.cached {
                return Err(ConfigError::new(
                    "fallback",
                    format!(
                        "section \"{}\" falls back to the cache but does not read through it; set `cached` or pick another fallback",
                        s.name
                    ),
                ));
            }
        }
        Ok(Self { name, sections })
    }

    /// What a user gets with `health`, handled as `mode`. Pure: the same inputs always
    /// give the same page.
    pub fn render(&self, health: &Health, mode: Mode) -> Rendered {
        let gateway = Dependency::Gateway;
        if !health.is_up(gateway) {
            return Rendered {
                status: Status::Error(502),
                sections: Vec::new(),
                failed_by: Some("API gateway"),
                latency: FAIL_FAST,
            };
        }
        let mut slowest = Duration::ZERO;
        let mut sections = Vec::with_capacity(self.sections.len());
        for s in &self.sections {
            let (shown, took) = self.section(s, health, mode);
            slowest = slowest.max(took);
            if let Shown::Broken(_) = shown {
                if mode == Mode::FailWhole || s.importance == Importance::Essential {
                    return Rendered {
                        status: Status::Error(500),
                        sections: Vec::new(),
                        failed_by: Some(s.name),
                        latency: gateway.latency() + took,
                    };
                }
            }
            sections.push((s.name, shown));
        }
        let full = sections.iter().all(|(_, s)| *s == Shown::Live);
        Rendered {
            status: if full { Status::Full } else { Status::Degraded },
            sections,
            failed_by: None,
            latency: gateway.latency() + slowest,
        }
    }

    /// One section: what it shows and how long it takes.
    fn section(&self, s: &Section, health: &Health, mode: Mode) -> (Shown, Duration) {
        let dep = s.dependency;
        let cache_up = health.is_up(Dependency::Cache);
        if health.is_up(dep) {
            let took = match (s.cached, cache_up) {
                (false, _) => dep.latency(),
                (true, true) => Dependency::Cache.latency() + dep.latency(),
                // The cache call fails fast and the database does the cache's work too.
                (true, false) => FAIL_FAST + dep.latency() + CACHE_MISS_PENALTY,
            };
            return (Shown::Live, took);
        }
        // The dependency is down: the call fails fast.
        let failed = if s.cached && cache_up { Dependency::Cache.latency() } else { FAIL_FAST };
        if mode != Mode::Degrade {
            return (Shown::Broken(s.symptom), failed);
        }
        match s.fallback {
            Fallback::StaleCache if !cache_up => (Shown::Broken(s.symptom), failed),
            Fallback::Hide => (Shown::Hidden, failed),
            f => (Shown::Fallback(f), failed),
        }
    }
}

/// The article's shop: a product page (product details from the database through
/// the cache, a search bar, recommendations, images) and a checkout (the cart, and
/// payment).
pub fn storefront() -> [Page; 2] {
    let details = Section {
        name: "product details",
        dependency: Dependency::Database,
        cached: true,
        importance: Importance::Essential,
        fallback: Fallback::StaleCache,
        symptom: "500 error page",
    };
    let product = vec![
        details,
        Section {
            name: "search bar",
            dependency: Dependency::Search,
            cached: false,
            importance: Importance::NiceToHave,
            fallback: Fallback::Replace("category browsing"),
            symptom: "search bar returns errors",
        },
        Section {
            name: "recommendations",
            dependency: Dependency::Recommendations,
            cached: false,
            importance: Importance::NiceToHave,
            fallback: Fallback::Replace("popular items"),
            symptom: "empty recommendation section",
        },
        Section {
            name: "images",
            dependency: Dependency::ImageCdn,
            cached: false,
            importance: Importance::NiceToHave,
            fallback: Fallback::Replace("lower-quality fallback images"),
            symptom: "broken images everywhere",
        },
    ];
    let checkout = vec![
        Section { name: "cart", ..details },
        Section {
            name: "payment",
            dependency: Dependency::Payments,
            cached: false,
            importance: Importance::Essential,
            fallback: Fallback::Message("payment temporarily unavailable, try again"),
            symptom: "checkout crashes",
        },
    ];
    // Both lists are valid by construction; `new` checks them anyway.
    [Page { name: "product page", sections: product }, Page { name: "checkout", sections: checkout }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storefront_is_valid() {
        for p in storefront() {
            assert!(Page::new(p.name, p.sections.clone()).is_ok(), "{}", p.name);
        }
    }

    #[test]
    fn failing_whole_turns_any_outage_into_an_error_page() {
        let [product, _] = storefront();
        let down = Health::with_down(&[Dependency::Recommendations]);
        assert_eq!(product.render(&down, Mode::FailWhole).status, Status::Error(500));
        assert_eq!(product.render(&down, Mode::NoFallback).status, Status::Degraded);
        assert_eq!(product.render(&down, Mode::Degrade).status, Status::Degraded);
        // Database and cache both down: nothing to fall back on.
        let both = Health::with_down(&[Dependency::Database, Dependency::Cache]);
        assert_eq!(product.render(&both, Mode::Degrade).status, Status::Error(500));
        // Gateway down: nothing can degrade in front of the front door.
        assert_eq!(
            product.render(&Health::with_down(&[Dependency::Gateway]), Mode::Degrade).status,
            Status::Error(502)
        );
    }

    #[test]
    fn invalid_pages_are_refused() {
        let [product, _] = storefront();
        let s = product.sections[1];
        assert_eq!(Page::new("p", vec![]).unwrap_err().field, "sections");
        assert_eq!(Page::new("p", vec![s, s]).unwrap_err().field, "sections");
        let bad = Section { fallback: Fallback::StaleCache, ..s };
        assert_eq!(Page::new("p", vec![bad]).unwrap_err().field, "fallback");
    }
}
