//! [`Breaker`]: a circuit breaker, so that a cache that failed is skipped for
//! a cool-down instead of making every call wait for its timeout again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a call may do, asked before it goes to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go ahead: the cache worked last time.
    Closed,
    /// Go ahead as the one probe of this cool-down: its outcome closes the
    /// breaker or opens it for another cool-down.
    Probe,
    /// Skip the cache: it failed less than a cool-down ago.
    Open,
}

/// Closed until a failure; then open for `cool_down`, after which one call
/// goes through as a probe (the others still skip) — its success closes it,
/// its failure opens it again. A probe that never reports (its future was
/// dropped) lets another through one cool-down later.
#[derive(Debug)]
pub(crate) struct Breaker {
    cool_down: Duration,
    started: Instant,
    /// 0 when closed; else the ms (since `started`, plus one) until which calls
    /// skip the cache.
    open_until: AtomicU64,
}

impl Breaker {
    pub fn new(cool_down: Duration) -> Self {
        Self {
            cool_down,
            started: Instant::now(),
            open_until: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    fn later(&self) -> u64 {
        let cool_down = u64::try_from(self.cool_down.as_millis()).unwrap_or(u64::MAX);
        self.now().saturating_add(cool_down.max(1))
    }

    /// Whether a call may use the cache now. One atomic load when closed.
    pub fn admit(&self) -> Admit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Admit::Closed;
        }
        if self.now() < until {
            return Admit::Open;
        }
        // The cool-down is over: the one call that moves it on is the probe.
        match self.open_until.compare_exchange(
            until,
            self.later(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Admit::Probe,
            Err(_) => Admit::Open,
        }
    }

    /// The cache answered: close.
    pub fn success(&self) {
        if self.open_until.load(Ordering::Relaxed) != 0 {
            self.open_until.store(0, Ordering::Release);
        }
    }

    /// The cache failed (unreachable, timed out): open for a cool-down.
    pub fn failure(&self) {
        self.open_until.store(self.later(), Ordering::Release);
    }

    /// Whether calls skip the cache now.
    pub fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now() < until
    }

    /// The cool-down.
    pub fn cool_down(&self) -> Duration {
        self.cool_down
    }
}

#[cfg(test)]
mod tests {
    use super::{Admit, Breaker};
    use std::time::Duration;

    #[test]
    fn closed_until_a_failure_then_open_then_one_probe() {
        let breaker = Breaker::new(Duration::from_millis(30));
        assert_eq!(breaker.admit(), Admit::Closed);
        breaker.failure();
        assert!(breaker.is_open());
        assert_eq!(breaker.admit(), Admit::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.admit(), Admit::Probe);
        assert_eq!(breaker.admit(), Admit::Open, "one probe at a time");
        breaker.success();
        assert_eq!(breaker.admit(), Admit::Closed);
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_a_lost_one_is_replaced() {
        let breaker = Breaker::new(Duration::from_millis(20));
        breaker.failure();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(breaker.admit(), Admit::Probe);
        breaker.failure();
        assert_eq!(breaker.admit(), Admit::Open);
        std::thread::sleep(Duration::from_millis(30));
        // This probe never reports; one cool-down later another goes.
        assert_eq!(breaker.admit(), Admit::Probe);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(breaker.admit(), Admit::Probe);
    }
}
