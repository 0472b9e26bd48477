//! A [`Db`]'s side of the [outbox](crate::cache::outbox): creating its table,
//! and the background task that drains it into the cache.

use super::handle::Db;
use super::pool::Pool;
use crate::cache::{WriteKeys, outbox};
use crate::error::Result;
use std::time::Duration;

/// Runs `$call` (a generic outbox function taking the backend's sqlx pool as
/// `$pool`) on the pool of `$db`.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $call:expr) => {
        match $db.pool() {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($pool) => $call,
            #[cfg(feature = "postgres")]
            Pool::Postgres($pool) => $call,
            #[cfg(feature = "mysql")]
            Pool::MySql($pool) => $call,
        }
    };
}

impl Db {
    /// Creates the outbox table if this handle's writes may need it, and
    /// starts draining it. A table that cannot be created is logged: writes
    /// that then need the outbox fail, with nothing written.
    pub(crate) async fn start_outbox(&self) {
        let Some(cache) = self.cache() else { return };
        if !cache.uses_outbox() {
            return;
        }
        if let Err(err) = on_pool!(self, |pool| outbox::create(pool).await) {
            tracing::warn!(error = %err, table = outbox::TABLE, "cannot create the outbox table");
        }
        let interval = cache.config.outbox_interval;
        tokio::spawn(drain_forever(self.downgrade(), interval));
    }

    /// Records `keys` in the outbox, outside any transaction (for statements
    /// that cannot run in one, such as `DROP TABLE`).
    pub(crate) async fn record_in_outbox(&self, keys: &WriteKeys) -> Result<()> {
        on_pool!(self, |pool| outbox::record_on(pool, keys).await)
    }

    /// Applies the oldest outbox entries to the cache; how many it applied.
    pub(crate) async fn drain_outbox(&self) -> Result<usize> {
        let Some(cache) = self.cache() else {
            return Ok(0);
        };
        on_pool!(self, |pool| outbox::drain(pool, cache.cache.as_ref()).await)
    }
}

/// Drains the outbox of the `Db` every `interval`, until the `Db` is dropped.
/// Failures (the cache or the database unreachable) wait for the next round.
async fn drain_forever(db: super::handle::WeakDb, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(db) = db.upgrade() else { return };
        // A full batch means more may wait: go on at once.
        while let Ok(100..) = db.drain_outbox().await {}
    }
}
