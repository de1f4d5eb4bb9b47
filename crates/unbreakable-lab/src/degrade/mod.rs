//! Graceful degradation: the fallback edge of [`unbreakable::degrade`], and the
//! workbook's page model.
//!
//! The page model is pure. A [`Page`] is made of [`Section`]s; each depends on one
//! [`Dependency`], is [`Importance::Essential`] or [`Importance::NiceToHave`], and has a
//! [`Fallback`] and a *symptom* (what the user sees when its failure is not handled).
//! [`Page::render`] takes which dependencies are up ([`Health`]) and a [`Mode`] and says
//! what the user gets, section by section, and how long the page takes. Nothing in it
//! reads a clock or does I/O, so a table, a widget and a day of simulated traffic all
//! come from the same function.
//!
//! The experiments built on it live in [`scenarios`](crate::scenarios): a day of shop
//! traffic with an outage ([`shop_day`](crate::scenarios::shop_day)) and fail fast
//! against degrade at checkout ([`checkout`](crate::scenarios::checkout)).

pub use unbreakable::degrade::*;

pub mod article;
pub mod page;

pub use article::{ARTICLE_COMPONENTS, Row, WidgetView, describe, table, widget};
pub use page::{
    Dependency, Fallback, Health, Importance, Mode, Page, Rendered, Section, Shown, Status, storefront,
};
