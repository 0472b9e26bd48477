//! Test hooks that force interleavings the cache must survive: a pause between
//! a read's SQL and its fill, a pause between a `by_id` lease and its joining
//! a load, and a writer that "dies" right after its commit.
//! Built only with the `test-hooks` feature, which Thing's own tests turn on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The hooks of one `Db`'s cache.
#[derive(Debug, Default)]
pub(crate) struct TestHooks {
    fill_gate: Mutex<Option<FillGate>>,
    lease_gate: Mutex<Option<FillGate>>,
    die_after_commit: AtomicBool,
}

/// A pause between a read's database query and its cache fill.
#[derive(Debug, Clone)]
pub(crate) struct FillGate {
    /// Notified when a read reaches the gate.
    pub reached: Arc<Notify>,
    /// Awaited before the read goes on.
    pub release: Arc<Notify>,
}

/// Stops at the gate in `slot`, if one is set, and clears it.
async fn pass(slot: &Mutex<Option<FillGate>>) {
    let gate = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(gate) = gate {
        gate.reached.notify_one();
        gate.release.notified().await;
    }
}

impl TestHooks {
    /// Makes the next read that misses stop at the gate.
    pub fn set_fill_gate(&self, gate: FillGate) {
        *self.fill_gate.lock().unwrap_or_else(|e| e.into_inner()) = Some(gate);
    }

    /// Stops at the gate, if one is set (once).
    pub async fn pass_fill_gate(&self) {
        pass(&self.fill_gate).await;
    }

    /// Makes the next `by_id` that is granted a lease stop before it leads or
    /// joins a load of its key.
    pub fn set_lease_gate(&self, gate: FillGate) {
        *self.lease_gate.lock().unwrap_or_else(|e| e.into_inner()) = Some(gate);
    }

    /// Stops at the lease gate, if one is set (once).
    pub async fn pass_lease_gate(&self) {
        pass(&self.lease_gate).await;
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
