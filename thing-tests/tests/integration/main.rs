//! Thing's integration tests in one binary, so that the test command builds
//! and links them once. `metrics` and `observability` stay binaries of their
//! own: each installs a process-wide recorder or subscriber that every other
//! test's operations would reach.

mod bad_input;
mod coherence;
mod coherence_cases;
mod crud;
mod cursors;
mod faults;
mod hooks;
mod incr_upsert;
mod list_cache;
mod migrate;
mod near_cache;
mod object_cache;
mod query;
mod redis_cache;
mod relations;
mod sqlite_settings;
mod ui;
mod update_by_id;
mod write_side;
