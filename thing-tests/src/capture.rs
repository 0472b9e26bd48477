//! A `tracing` subscriber that keeps every span (with its fields, when it
//! closes) and every event, for tests to assert on.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as it was when it closed, or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub name: String,
    pub target: String,
    pub level: tracing::Level,
    pub fields: BTreeMap<String, String>,
    /// The name of the enclosing span, if any.
    pub parent: Option<String>,
}

impl Captured {
    /// The value of `field`, as it was formatted.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

/// What a [`capture`] subscriber saw.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    spans: Arc<Mutex<Vec<Captured>>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

impl Capture {
    /// Every closed span named `name`, in order.
    pub fn spans(&self, name: &str) -> Vec<Captured> {
        let spans = self.spans.lock().unwrap();
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }

    /// The names of every closed span, in order.
    pub fn names(&self) -> Vec<String> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Every event under `target`, in order.
    pub fn events(&self, target: &str) -> Vec<Captured> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter(|e| e.target == target)
            .cloned()
            .collect()
    }

    /// Forgets what was seen so far.
    pub fn clear(&self) {
        self.spans.lock().unwrap().clear();
        self.events.lock().unwrap().clear();
    }
}

/// The process's capturing subscriber (installed as the global default on
/// first use), emptied, and a lock that keeps other tests from using it until
/// dropped. A global default sees every thread, and callsites never cache an
/// interest computed without it, as they can with thread-local subscribers
/// set and dropped by tests running in parallel.
pub async fn capture() -> (tokio::sync::MutexGuard<'static, ()>, Capture) {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    static GLOBAL: OnceLock<Capture> = OnceLock::new();
    let lock = LOCK.lock().await;
    let capture = GLOBAL.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(CaptureLayer(capture.clone()));
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test process");
        capture
    });
    capture.clear();
    (lock, capture.clone())
}

struct CaptureLayer(Capture);

/// The fields of a span, kept in its extensions until it closes.
struct Fields(BTreeMap<String, String>);

struct Collect<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CaptureLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Collect(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Fields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(&mut Collect(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Collect(&mut fields));
        let parent = ctx.event_span(event).map(|span| span.name().to_owned());
        self.0.events.lock().unwrap().push(Captured {
            name: event.metadata().name().to_owned(),
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
            parent,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let fields = span
            .extensions()
            .get::<Fields>()
            .map(|fields| fields.0.clone())
            .unwrap_or_default();
        self.0.spans.lock().unwrap().push(Captured {
            name: span.name().to_owned(),
            target: span.metadata().target().to_owned(),
            level: *span.metadata().level(),
            fields,
            parent: span.parent().map(|parent| parent.name().to_owned()),
        });
    }
}
