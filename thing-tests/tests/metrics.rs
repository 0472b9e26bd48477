//! The `metrics` feature: every counter of `Db::stats` is also a `metrics`
//! counter named `thing_<field>_total`, seen here by a recorder of our own.

use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use thing::{Db, Thing};
use thing_tests::models::User;

/// Counters by name, summed over every registration.
#[derive(Default)]
struct Counters(Mutex<BTreeMap<String, Arc<Total>>>);

#[derive(Default)]
struct Total(AtomicU64);

impl CounterFn for Total {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

struct Recording(&'static Counters);

impl Recorder for Recording {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.0.0.lock().unwrap();
        let total = counters.entry(key.name().to_owned()).or_default();
        Counter::from_arc(Arc::clone(total))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<&'static Counters> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        let counters: &'static Counters = Box::leak(Box::default());
        metrics::set_global_recorder(Recording(counters)).expect("the only recorder");
        counters
    })
}

fn value(name: &str) -> u64 {
    let counters = counters().0.lock().unwrap();
    counters
        .get(name)
        .map_or(0, |total| total.0.load(Ordering::Relaxed))
}

#[tokio::test]
async fn stats_counters_are_exported_as_metrics() {
    counters();
    let db = Db::connect("sqlite::memory:").await.unwrap();
    db.create_table::<User>().await.unwrap();
    let mut user = User::new("a@x", "Ann", 30);
    user.save(&db).await.unwrap();
    User::by_id(&db, user.base.id).await.unwrap();
    User::by_id(&db, user.base.id).await.unwrap();
    assert!(User::by_id(&db, 404).await.unwrap_err().is_not_found());
    User::by_id(&db, 404).await.unwrap_err();

    let stats = db.stats();
    assert_eq!(value("thing_inserts_total"), stats.inserts);
    assert_eq!(value("thing_selects_total"), stats.selects);
    assert_eq!(value("thing_other_total"), stats.other);
    assert_eq!(value("thing_cache_hits_total"), 1);
    assert_eq!(value("thing_negative_hits_total"), 1);
    assert_eq!(value("thing_cache_misses_total"), stats.cache_misses);
    assert_eq!(value("thing_cache_fills_total"), stats.cache_fills);
    assert_eq!((stats.inserts, stats.selects), (1, 2));
}
