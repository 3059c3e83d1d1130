//! ordersync: keeps one SQLite database in step with the orders, shipments and refunds of many
//! shops on several platforms, and pushes status and shipment updates back through an outbox.
//!
//! Data flows one way: `scheduler` → `sync` → `platforms` → `store`, and
//! `outbox` rows → `push` → `platforms`. See docs/architecture.md for the code map.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod holder;
pub mod lease;
pub mod links;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod platforms;
pub mod push;
pub mod ratelimit;
pub mod retry;
pub mod runtime;
pub mod scheduler;
pub mod sim;
pub mod store;
pub mod sync;
pub mod telemetry;
