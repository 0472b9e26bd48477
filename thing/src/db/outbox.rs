//! A [`Db`]'s side of the [outbox](crate::cache::outbox): creating its table,
//! the background task that drains it into the cache, a write's wait for its
//! entry to be applied, and the drain a read makes first when this handle
//! could not reach the cache.

use super::handle::Db;
use super::pool::Pool;
use crate::cache::context::CacheContext;
use crate::cache::{WriteKeys, outbox};
use crate::error::{Error, Result};
use crate::observe::untold;
use futures_util::future::BoxFuture;
use std::time::{Duration, Instant};

/// How often a write whose entry waits in the outbox looks whether a process
/// applied it.
const POLL: Duration = Duration::from_millis(20);

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
    /// that then need the outbox fail, with nothing written, and reads do not
    /// drain it first.
    pub(crate) async fn start_outbox(&self) {
        let Some(cache) = self.cache() else { return };
        if !cache.uses_outbox() {
            return;
        }
        match on_pool!(self, |pool| outbox::create(pool).await) {
            Ok(()) => cache.outbox_ready(),
            Err(err) => {
                tracing::warn!(error = %err, table = outbox::TABLE, "cannot create the outbox table");
            }
        }
        let interval = cache.config.outbox_interval;
        tokio::spawn(drain_forever(self.downgrade(), interval));
    }

    /// Records `keys` in the outbox, outside any transaction (for statements
    /// that cannot run in one, such as `DROP TABLE`); the entry's id.
    pub(crate) async fn record_in_outbox(&self, keys: &WriteKeys) -> Result<i64> {
        on_pool!(self, |pool| outbox::record_on(pool, keys).await)
    }

    /// Waits, after a commit, until a process applied outbox entry `entry` to
    /// the cache — this one, whenever its cache answers again, or any other
    /// in its background drain — for at most the outbox timeout; past it, the
    /// write is [reported](untold::report) committed but untold. A database
    /// that fails meanwhile only makes it wait: the write did commit.
    ///
    /// Boxed, as [`catch_up_outbox`](Self::catch_up_outbox) is: both are rare,
    /// and every write (or read) future would otherwise hold their state
    /// inline, one more level deep.
    pub(crate) fn await_outbox(&self, entry: i64) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.wait_for_outbox(entry))
    }

    async fn wait_for_outbox(&self, entry: i64) -> Result<()> {
        let Some(cache) = self.cache() else {
            return Ok(());
        };
        let timeout = cache.config.outbox_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            if cache.store.is_available() {
                let _ = self.drain_all(cache).await;
            }
            if let Ok(false) = on_pool!(self, |pool| outbox::holds(pool, entry).await) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return untold::report(timeout);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Before a read uses the cache: when this handle could not reach it
    /// since its last complete drain (or has not drained since `build`),
    /// applies every pending outbox entry first, so that no write whose
    /// invalidation waits there is read stale. Concurrent reads wait for one
    /// drain. `false` when the drain failed: read the database instead.
    pub(crate) fn catch_up_outbox<'a>(&'a self, cache: &'a CacheContext) -> BoxFuture<'a, bool> {
        Box::pin(self.drain_for_reads(cache))
    }

    async fn drain_for_reads(&self, cache: &CacheContext) -> bool {
        let _turn = cache.drain_turn.lock().await;
        if !cache.owes_drain() {
            return true;
        }
        self.drain_all(cache).await.is_ok()
    }

    /// Applies every pending outbox entry, 100 at a time; once all are, the
    /// cache failures seen before it began are caught up with. A failing
    /// cache is warned about (and so counted as a failure).
    async fn drain_all(&self, cache: &CacheContext) -> Result<()> {
        let seen = cache.failures_seen();
        loop {
            match on_pool!(self, |pool| outbox::drain(pool, cache.store.as_ref()).await) {
                Ok(100..) => continue,
                Ok(_) => break,
                Err(Error::Cache(err)) => {
                    cache.warn(self.counters(), "drain_outbox", &err);
                    return Err(Error::Cache(err));
                }
                Err(err) => return Err(err),
            }
        }
        cache.caught_up(seen);
        Ok(())
    }
}

/// Drains the outbox of the `Db` every `interval`, until the `Db` is dropped.
/// Failures (the cache or the database unreachable) wait for the next round.
async fn drain_forever(db: super::handle::WeakDb, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(db) = db.upgrade() else { return };
        if let Some(cache) = db.cache() {
            let _ = db.drain_all(cache).await;
        }
    }
}
