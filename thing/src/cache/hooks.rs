//! Test hooks that force interleavings the cache must survive: a pause between
//! a read's SQL and its fill, a pause between a `by_id` lease and its joining
//! a load, pauses on either side of a write's SQL (after its lock, after its
//! commit), a pause between a cached list's ids and the load of their rows,
//! and a writer that "dies" right after its commit.
//! Built only with the `test-hooks` feature, which Thing's own tests turn on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Where a [`Gate`] stops the next operation that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PausePoint {
    /// A cached `by_id` granted a lease, before it leads or joins a load.
    Lease,
    /// A read that missed, between its database query and its cache fill.
    Fill,
    /// A write outside a transaction, after its cache lock and before its SQL.
    WriteLocked,
    /// A write outside a transaction, after its commit and before its cache
    /// invalidation.
    WriteCommitted,
    /// A cached list read (a list or a seek list) that found its ids, before
    /// it loads their rows in a cache call of its own.
    ListRows,
}

impl PausePoint {
    const COUNT: usize = 5;

    fn slot(self) -> usize {
        self as usize
    }
}

/// The hooks of one `Db`'s cache.
#[derive(Debug, Default)]
pub(crate) struct TestHooks {
    gates: Mutex<[Option<Gate>; PausePoint::COUNT]>,
    die_after_commit: AtomicBool,
}

/// A pause at one [`PausePoint`].
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    /// Notified when an operation reaches the gate.
    pub reached: Arc<Notify>,
    /// Awaited before the operation goes on.
    pub release: Arc<Notify>,
}

impl TestHooks {
    /// Makes the next operation that reaches `point` stop at `gate`.
    pub fn set_gate(&self, point: PausePoint, gate: Gate) {
        self.gates.lock().unwrap_or_else(|e| e.into_inner())[point.slot()] = Some(gate);
    }

    /// Stops at the gate of `point`, if one is set, and clears it.
    pub async fn pass(&self, point: PausePoint) {
        let gate = self.gates.lock().unwrap_or_else(|e| e.into_inner())[point.slot()].take();
        if let Some(gate) = gate {
            gate.reached.notify_one();
            gate.release.notified().await;
        }
    }

    /// Makes writes skip everything after their commit (`on`), or not.
    pub fn set_die_after_commit(&self, on: bool) {
        self.die_after_commit.store(on, Ordering::Relaxed);
    }

    /// Whether writes skip everything after their commit.
    pub fn dies_after_commit(&self) -> bool {
        self.die_after_commit.load(Ordering::Relaxed)
    }
}
