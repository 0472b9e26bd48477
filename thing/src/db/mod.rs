//! The database side: [`Db`] (a pool, its counters and its cache), its
//! [builder](DbBuilder), [transactions](Transaction), and the [`Executor`] trait
//! every operation takes, so that it runs on either.

pub(crate) mod builder;
pub(crate) mod executor;
pub(crate) mod handle;
pub(crate) mod outbox;
pub(crate) mod pool;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite_settings;
pub(crate) mod transaction;

pub use builder::{DbBuilder, SqlxPool, StatementLogging};
pub use executor::Executor;
pub use handle::Db;
pub use transaction::Transaction;
