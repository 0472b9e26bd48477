//! The RealWorld ("Conduit") backend API on axum and Thing: users, profiles
//! and follows, articles with tags and favorites, comments, the global list
//! and the feed. Every read goes through Thing's cached reads, so that two
//! instances on one Redis serve each other's writes at once.
//!
//! ```text
//! cargo run -p realworld            # SQLite in memory, the in-process cache
//! DATABASE_URL=postgres://… REDIS_URL=redis://… cargo run -p realworld
//! ```
//!
//! See the crate's README for the API, its costs and how to run two
//! instances.

pub mod app;
pub mod auth;
pub mod error;
pub mod json;
pub mod model;
pub mod routes;

pub use app::{AppState, Config, router};
