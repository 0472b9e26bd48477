//! Runnable examples; see `cargo run --example quickstart`.
