//! Chapter 08's measurements on real parts: a private PostgreSQL, three compression
//! codecs, and the payloads they work on. Unlike [`scenarios`](crate::scenarios), these
//! time real work on this machine, so their times differ from run to run; the chart
//! command draws only what is exact (sizes, simulations).

pub mod client;
pub mod compression;
pub mod lazy;
pub mod pagination;
pub mod payloads;
pub mod pool;
