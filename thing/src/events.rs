//! [`WriteEvent`]: what a committed write did, as the listeners of a `Db` see
//! it (to feed a search index, an audit log, a message bus, ...).

use std::fmt;
use std::sync::Arc;

/// What kind of write a [`WriteEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteKind {
    /// A new row (`save` of a value with id 0).
    Insert,
    /// Changed columns of an existing row (`save`).
    Update,
    /// `deleted = true` (`delete` on a model with a `deleted` column).
    SoftDelete,
    /// `deleted = false` (`restore`).
    Restore,
    /// A `DELETE` (`delete_hard`, or `delete` without a `deleted` column).
    Delete,
    /// `incr` of one column.
    Increment,
}

/// One committed write of one row, handed to every listener registered with
/// [`DbBuilder::on_write`](crate::DbBuilder::on_write) once the write has
/// committed — after the transaction's `COMMIT` for writes inside one, and
/// never for work that was rolled back.
///
/// ```
/// use thing::{WriteEvent, WriteKind};
/// let event = WriteEvent::new("users", 7, WriteKind::Update, vec!["name"]);
/// assert_eq!(event.to_string(), "Update users 7 [name]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteEvent {
    /// The table written.
    pub table: &'static str,
    /// The row's id.
    pub id: i64,
    /// What was done.
    pub kind: WriteKind,
    /// The columns written (every column for an insert, none for a `DELETE`).
    pub changed: Vec<&'static str>,
}

impl WriteEvent {
    /// An event (for tests of listeners).
    pub fn new(table: &'static str, id: i64, kind: WriteKind, changed: Vec<&'static str>) -> Self {
        Self {
            table,
            id,
            kind,
            changed,
        }
    }
}

impl fmt::Display for WriteEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} {} [{}]",
            self.kind,
            self.table,
            self.id,
            self.changed.join(", ")
        )
    }
}

/// A listener of committed writes.
pub(crate) type Listener = Arc<dyn Fn(&WriteEvent) + Send + Sync>;

/// The listeners of one `Db`.
#[derive(Clone, Default)]
pub(crate) struct Listeners(Vec<Listener>);

impl Listeners {
    pub fn push(&mut self, listener: Listener) {
        self.0.push(listener);
    }

    /// Whether anyone listens (events are built only then).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hands `event` to every listener, in the order they were added.
    pub fn emit(&self, event: &WriteEvent) {
        for listener in &self.0 {
            listener(event);
        }
    }
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} listener(s)", self.0.len())
    }
}
