//! [`Health`]: what a `Db` knows about its database connections — how long a
//! statement may take, and when a connection was last found dead, so that the
//! pool checks the idle connections that may have died with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long after a lost connection an idle connection is still pinged.
const LOSS_SLACK: Duration = Duration::from_millis(2);

/// The statement timeout, and when a connection was last lost.
#[derive(Debug)]
pub(crate) struct Health {
    statement_timeout: Duration,
    /// Idle connections older than this are pinged before use.
    idle_check: Duration,
    started: Instant,
    /// When a connection was last lost, in µs since `started` plus one; 0 for
    /// never.
    lost_at: AtomicU64,
}

impl Health {
    pub fn new(statement_timeout: Duration, idle_check: Duration) -> Self {
        Self {
            statement_timeout,
            idle_check,
            started: Instant::now(),
            lost_at: AtomicU64::new(0),
        }
    }

    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX) + 1
    }

    /// A connection died (the server restarted, the network dropped it): the
    /// connections idle since before now may be dead too.
    pub fn lost(&self) {
        self.lost_at.store(self.now(), Ordering::Release);
    }

    /// Whether an idle connection, idle for `idle_for`, should be pinged
    /// before it is used: it has been idle longer than the idle check, or since
    /// before a connection was lost (or up to [`LOSS_SLACK`] after: the two
    /// clocks read here and in the pool round apart, and a needless ping costs
    /// less than a dead connection handed out).
    pub fn should_ping(&self, idle_for: Duration) -> bool {
        if idle_for >= self.idle_check {
            return true;
        }
        let lost_at = self.lost_at.load(Ordering::Acquire);
        let idle_us = u64::try_from(idle_for.as_micros()).unwrap_or(u64::MAX);
        let slack = u64::try_from(LOSS_SLACK.as_micros()).unwrap_or(0);
        lost_at != 0 && self.now().saturating_sub(idle_us) <= lost_at + slack
    }
}

/// Whether `err` says the connection itself failed (closed, reset, cut off)
/// rather than the statement: such a read may be retried on another one.
pub(crate) fn is_connection_error(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_))
}

#[cfg(test)]
mod tests {
    use super::Health;
    use std::time::Duration;

    #[test]
    fn connections_idle_since_a_loss_are_pinged_and_newer_ones_are_not() {
        let health = Health::new(Duration::from_secs(1), Duration::from_secs(60));
        assert!(!health.should_ping(Duration::from_millis(5)));
        assert!(health.should_ping(Duration::from_secs(61)), "idle too long");
        std::thread::sleep(Duration::from_millis(20));
        health.lost();
        assert!(
            health.should_ping(Duration::from_millis(15)),
            "idle since before the loss"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !health.should_ping(Duration::from_millis(5)),
            "returned after the loss"
        );
    }

    #[test]
    fn a_connection_idle_since_just_after_a_loss_is_pinged_too() {
        let health = Health::new(Duration::from_secs(1), Duration::from_secs(60));
        health.lost();
        let lost = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(3));
        // Idle since 1 ms after the loss: within the slack.
        let idle = lost.elapsed() - Duration::from_millis(1);
        assert!(health.should_ping(idle), "idle since 1 ms after the loss");
    }
}
