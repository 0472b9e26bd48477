//! The tracking connection of a near tier: one RESP3 connection per
//! incarnation of the tier, with client tracking in broadcast mode on the
//! key prefix and a subscription to the tier's answer channel.
//!
//! Its pushes are handled in the connection's reader, in the order they
//! arrive and before any reply that follows them: so when a heartbeat's reply
//! renews the lease, every invalidation Redis queued before the heartbeat
//! ran has been applied. A lost connection, a heartbeat that fails or is late,
//! and a `FLUSHALL` drop everything; the next incarnation starts empty.

use super::{Names, Shared};
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value,
    aio::MultiplexedConnection,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The heartbeat: this incarnation's lease runs out `ARGV[2]` ms after the
/// server's time now; tiers gone for a minute are removed.
const HEARTBEAT: &str = "\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
redis.call('PEXPIRE', KEYS[1], 3600000)
return now";

/// Keeps the tier's tracking connection, incarnation after incarnation,
/// until the tier is dropped (which aborts this task).
pub(super) async fn run(
    shared: Arc<Shared>,
    info: redis::ConnectionInfo,
    connect_timeout: Duration,
) {
    let info = info.clone().set_redis_settings(
        info.redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3),
    );
    loop {
        let incarnation = incarnation();
        if let Err(err) = session(&shared, &info, incarnation, connect_timeout).await {
            tracing::debug!(error = %err, "near tier: tracking connection lost; dropping its entries");
        }
        let held = shared.store().drop_lease_of(incarnation);
        shared.flushed(held);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A random incarnation, never 0 (a write with no lease announces 0).
fn incarnation() -> u64 {
    loop {
        let value =
            crate::cache::LeaseToken::new().to_bits() as u64 ^ (crate::cache::stamp_start() << 1);
        if value != 0 {
            return value;
        }
    }
}

/// One incarnation: connects, tracks, subscribes, then beats and answers
/// until something fails.
async fn session(
    shared: &Arc<Shared>,
    info: &redis::ConnectionInfo,
    incarnation: u64,
    connect_timeout: Duration,
) -> Result<(), redis::RedisError> {
    let (answers, mut to_answer) = mpsc::unbounded_channel::<(u64, u64)>();
    let handler = Arc::clone(shared);
    let lease = shared.options.lease;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(lease / 2))
        .set_push_sender(move |push: PushInfo| {
            on_push(&handler, incarnation, push, &answers);
            Ok::<(), ()>(())
        });
    let client = redis::Client::open(info.clone())?;
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let names = &shared.names;
    redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(&names.tracked)
        .query_async::<()>(&mut conn)
        .await?;
    conn.subscribe(names.ack_channel(incarnation)).await?;
    let _leave = Leave {
        shared: Arc::clone(shared),
        conn: conn.clone(),
        tiers: names.tiers.clone(),
        incarnation,
    };
    let mut beat = tokio::time::interval(lease / 4);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => heartbeat(shared, &mut conn, incarnation).await?,
            Some((writer, write)) = to_answer.recv() => answer(names, &conn, incarnation, writer, write),
        }
    }
}

/// Renews the lease: from when the heartbeat was sent (before the server's
/// time it records), less a margin for the clocks' rates.
async fn heartbeat(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    incarnation: u64,
) -> Result<(), redis::RedisError> {
    let lease = shared.options.lease;
    let sent = Instant::now();
    redis::cmd("EVAL")
        .arg(HEARTBEAT)
        .arg(1)
        .arg(&shared.names.tiers)
        .arg(incarnation)
        .arg(lease.as_millis() as u64)
        .query_async::<i64>(conn)
        .await?;
    let margin = (lease / 10).max(Duration::from_millis(5));
    shared.store().renew(incarnation, sent + lease - margin);
    Ok(())
}

/// Tells writer `writer` that this tier applied its write `write`.
fn answer(names: &Names, conn: &MultiplexedConnection, incarnation: u64, writer: u64, write: u64) {
    let mut conn = conn.clone();
    let mut publish = redis::cmd("PUBLISH");
    publish
        .arg(names.ack_channel(writer))
        .arg(format!("{write}:{incarnation}"));
    tokio::spawn(async move {
        let _ = publish.query_async::<i64>(&mut conn).await;
    });
}

/// Handles one push, in the connection's reader.
fn on_push(
    shared: &Shared,
    incarnation: u64,
    push: PushInfo,
    answers: &mpsc::UnboundedSender<(u64, u64)>,
) {
    match push.kind {
        PushKind::Invalidate => invalidated(shared, incarnation, &push.data, answers),
        PushKind::Message => answered(shared, &push.data),
        PushKind::Disconnection => {
            let held = shared.store().drop_lease_of(incarnation);
            shared.flushed(held);
        }
        _ => {}
    }
}

/// Drops the keys of an invalidation (everything for a flush's, whose keys
/// are null), then answers the markers among them.
fn invalidated(
    shared: &Shared,
    incarnation: u64,
    data: &[Value],
    answers: &mpsc::UnboundedSender<(u64, u64)>,
) {
    let Some(Value::Array(keys)) = data.first() else {
        let held = shared.store().flush();
        shared.flushed(held);
        return;
    };
    let mut markers = Vec::new();
    {
        let mut store = shared.store();
        for key in keys {
            let Value::BulkString(key) = key else {
                continue;
            };
            let Ok(key) = std::str::from_utf8(key) else {
                continue;
            };
            match key.strip_prefix(&shared.names.marker) {
                Some(marker) => markers.extend(parse_pair(marker)),
                None => store.invalidate(key),
            }
        }
    }
    for (writer, write) in markers {
        if writer != incarnation && writer != 0 {
            let _ = answers.send((writer, write));
        }
    }
}

/// An answer to one of this tier's writes: `{write}:{tier}`.
fn answered(shared: &Shared, data: &[Value]) {
    let Some(Value::BulkString(payload)) = data.get(1) else {
        return;
    };
    let Some((write, tier)) = std::str::from_utf8(payload).ok().and_then(parse_pair) else {
        return;
    };
    let waiter = shared.waiters().get(&write).cloned();
    if let Some(waiter) = waiter {
        waiter
            .answered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(tier);
        waiter.notify.notify_one();
    }
}

/// `a:b` as two numbers.
fn parse_pair(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Removes the incarnation from the live tiers when it ends, so that writers
/// stop waiting for it at once rather than when its lease runs out — after
/// dropping its lease here, so that it serves nothing once writers stop
/// waiting for it.
struct Leave {
    shared: Arc<Shared>,
    conn: MultiplexedConnection,
    tiers: String,
    incarnation: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let held = self.shared.store().drop_lease_of(self.incarnation);
        self.shared.flushed(held);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut conn = self.conn.clone();
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(&self.tiers).arg(self.incarnation);
        runtime.spawn(async move {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), zrem.query_async::<i64>(&mut conn))
                    .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read() {
        assert_eq!(parse_pair("12:34"), Some((12, 34)));
        assert_eq!(parse_pair("12"), None);
        assert_eq!(parse_pair("a:1"), None);
    }

    #[test]
    fn incarnations_are_distinct_and_never_zero() {
        let all: std::collections::HashSet<u64> = (0..1000).map(|_| incarnation()).collect();
        assert_eq!(all.len(), 1000);
        assert!(!all.contains(&0));
    }
}
