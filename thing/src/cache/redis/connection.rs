//! [`Server`]: the Redis server as one [`RedisCache`](super::RedisCache)
//! reaches it — one multiplexed connection shared by every call, opened on
//! demand and replaced after a failure, the timeouts around each call, the
//! circuit breaker, and the count of round trips. Every command and pipeline
//! goes through [`Server::send`].

use crate::cache::breaker::{Admit, Breaker};
use crate::cache::{CacheError, CacheErrorKind};
use crate::observe::stats;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError,
    aio::MultiplexedConnection,
};
use deadpool_redis::{Connection, Manager, Pool};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The server, its connection and what bounds each call.
pub(super) struct Server {
    /// `host:port` (or socket path), for `Debug`; never the password.
    pub(super) addr: String,
    pool: Pool,
    held: Mutex<Option<Held>>,
    /// Held by the one call opening a connection.
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    round_trips: AtomicU64,
    pub(super) command_timeout: Duration,
    pub(super) connect_timeout: Duration,
    breaker: Breaker,
}

/// The connection in use.
struct Held {
    generation: u64,
    conn: Connection,
    loaded: Arc<AtomicU8>,
}

/// What one call uses: a handle on the held connection.
pub(super) struct Link {
    generation: u64,
    conn: MultiplexedConnection,
    /// Scripts already sent with `EVAL` on this connection (bits of
    /// [`Script::bit`](super::scripts::Script::bit)).
    pub(super) loaded: Arc<AtomicU8>,
}

/// Why a command failed.
pub(super) enum SendError {
    Redis(RedisError),
    Timeout,
}

/// What [`Server::send`] sends: one command, or a pipeline of them.
pub(super) enum Request<'a> {
    Command(&'a redis::Cmd),
    Pipeline(&'a redis::Pipeline),
}

impl<'a> From<&'a redis::Cmd> for Request<'a> {
    fn from(cmd: &'a redis::Cmd) -> Self {
        Request::Command(cmd)
    }
}

impl<'a> From<&'a redis::Pipeline> for Request<'a> {
    fn from(pipe: &'a redis::Pipeline) -> Self {
        Request::Pipeline(pipe)
    }
}

impl Server {
    /// The server at `url`, with no connection open yet. Fails only when the
    /// URL is malformed or unsupported.
    pub(super) fn new(
        url: &str,
        command_timeout: Duration,
        connect_timeout: Duration,
        cool_down: Duration,
    ) -> Result<Self, CacheError> {
        let invalid = |err: RedisError| {
            CacheError::new(CacheErrorKind::InvalidInput, "redis: invalid URL").with_source(err)
        };
        let info = url.into_connection_info().map_err(invalid)?;
        let addr = info.addr().to_string();
        // Timeouts are enforced here, around each call, not by redis-rs.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(None);
        let manager = Manager::new_with_config(info, config).map_err(invalid)?;
        // One connection at a time: the one held.
        let pool = Pool::builder(manager).max_size(1).build().map_err(|err| {
            CacheError::new(CacheErrorKind::InvalidInput, "redis: cannot build the pool")
                .with_source(err)
        })?;
        Ok(Self {
            addr,
            pool,
            held: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
            command_timeout,
            connect_timeout,
            breaker: Breaker::new(cool_down),
        })
    }

    /// Whether a connection is held now.
    pub(super) fn is_connected(&self) -> bool {
        self.lock_held().is_some()
    }

    /// Whether calls skip the server now, in the breaker's cool-down.
    pub(super) fn is_cooling_down(&self) -> bool {
        self.breaker.is_open()
    }

    /// The commands and pipelines sent so far.
    pub(super) fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Opens the connection now, if none is held.
    pub(super) async fn connect(&self) -> Result<(), CacheError> {
        self.link().await.map(drop)
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current(&self) -> Option<Link> {
        self.lock_held().as_ref().map(|held| Link {
            generation: held.generation,
            conn: MultiplexedConnection::clone(&held.conn),
            loaded: Arc::clone(&held.loaded),
        })
    }

    /// The held connection, opening one if there is none.
    async fn link(&self) -> Result<Link, CacheError> {
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let Ok(_connecting) = self.connecting.try_lock() else {
            return Err(CacheError::new(
                CacheErrorKind::Unreachable,
                format!(
                    "redis {}: not connected (another call is connecting)",
                    self.addr
                ),
            ));
        };
        if let Some(link) = self.current() {
            return Ok(link);
        }
        let conn = match tokio::time::timeout(self.connect_timeout, self.pool.get()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => {
                self.breaker.failure();
                return Err(CacheError::new(
                    CacheErrorKind::Unreachable,
                    format!("redis {}: cannot connect", self.addr),
                )
                .with_source(err));
            }
            Err(_) => {
                self.breaker.failure();
                return Err(CacheError::new(
                    CacheErrorKind::Timeout,
                    format!(
                        "redis {}: cannot connect within {:?}",
                        self.addr, self.connect_timeout
                    ),
                ));
            }
        };
        let held = Held {
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            conn,
            loaded: Arc::new(AtomicU8::new(0)),
        };
        let link = Link {
            generation: held.generation,
            conn: MultiplexedConnection::clone(&held.conn),
            loaded: Arc::clone(&held.loaded),
        };
        *self.lock_held() = Some(held);
        Ok(link)
    }

    /// Forgets the connection of `link` (if still held): the next call opens a
    /// new one. It leaves the pool for good rather than being recycled.
    fn drop_link(&self, link: &Link) {
        let mut slot = self.lock_held();
        if let Some(held) = slot.take_if(|held| held.generation == link.generation) {
            drop(Connection::take(held.conn));
        }
    }

    /// Sends one command or pipeline, as one round trip, and counts it. Drops
    /// the connection on any failure other than an error reply from the
    /// server.
    pub(super) async fn send<'r, T: FromRedisValue>(
        &self,
        link: &mut Link,
        request: impl Into<Request<'r>>,
    ) -> Result<T, SendError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        stats::cache_round_trip();
        let reply = match request.into() {
            Request::Command(cmd) => cmd.query_async::<T>(&mut link.conn).await,
            Request::Pipeline(pipe) => pipe.query_async::<T>(&mut link.conn).await,
        };
        reply.map_err(|err| {
            if !is_server_reply(&err) {
                self.drop_link(link);
            }
            SendError::Redis(err)
        })
    }

    /// Runs `work` on the connection within the command timeout, unless the
    /// breaker says to skip Redis for now.
    pub(super) async fn call<T>(
        &self,
        what: &str,
        work: impl AsyncFnOnce(&Self, &mut Link) -> Result<T, SendError>,
    ) -> Result<T, CacheError> {
        if self.breaker.admit() == Admit::Open {
            return Err(CacheError::new(
                CacheErrorKind::CoolingDown,
                format!(
                    "redis {}: {what}: skipped in the {:?} cool-down after a failure",
                    self.addr,
                    self.breaker.cool_down()
                ),
            ));
        }
        let mut link = self.link().await?;
        let outcome = match tokio::time::timeout(self.command_timeout, work(self, &mut link)).await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Timeout),
        };
        match &outcome {
            Err(SendError::Redis(err)) if !is_server_reply(err) => self.breaker.failure(),
            Err(SendError::Timeout) => self.breaker.failure(),
            _ => self.breaker.success(),
        }
        outcome.map_err(|err| match err {
            SendError::Redis(err) => {
                CacheError::new(kind_of(&err), format!("redis {}: {what}", self.addr))
                    .with_source(err)
            }
            SendError::Timeout => {
                self.drop_link(&link);
                CacheError::new(
                    CacheErrorKind::Timeout,
                    format!(
                        "redis {}: {what}: no reply within {:?}",
                        self.addr, self.command_timeout
                    ),
                )
            }
        })
    }
}

/// What kind of failure `err` is: a reply (an error the server sent, or one
/// Thing cannot read), or a failure to reach the server.
fn kind_of(err: &RedisError) -> CacheErrorKind {
    if is_server_reply(err)
        || matches!(
            err.kind(),
            ErrorKind::UnexpectedReturnType | ErrorKind::Parse
        )
    {
        CacheErrorKind::BadReply
    } else {
        CacheErrorKind::Unreachable
    }
}

/// Whether `err` is a reply of the server (it is up and answering), not a
/// failure to reach it.
fn is_server_reply(err: &RedisError) -> bool {
    matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_a_bad_reply_and_anything_else_unreachable() {
        let reply = RedisError::from((
            ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "ERR",
        ));
        assert_eq!(kind_of(&reply), CacheErrorKind::BadReply);
        let unreadable = RedisError::from((ErrorKind::UnexpectedReturnType, "unexpected reply"));
        assert_eq!(kind_of(&unreadable), CacheErrorKind::BadReply);
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(kind_of(&io), CacheErrorKind::Unreachable);
    }
}
