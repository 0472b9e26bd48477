//! The one error type of Thing and its `Result` alias.

use std::fmt;

/// Everything that can go wrong in Thing.
///
/// Match on the variants you care about and keep a catch-all arm: the enum is
/// `#[non_exhaustive]` so that later versions can add kinds of failure.
///
/// ```
/// use thing::Error;
///
/// fn describe(err: &Error) -> &'static str {
///     match err {
///         Error::NotFound { .. } => "no such row",
///         Error::Database(_) => "the database refused",
///         _ => "something else",
///     }
/// }
/// let err = Error::NotFound { table: "users", id: 7 };
/// assert_eq!(describe(&err), "no such row");
/// assert_eq!(err.to_string(), "users with id 7 not found");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The row does not exist, or it is soft-deleted.
    #[error("{table} with id {id} not found")]
    NotFound {
        /// The table that was read.
        table: &'static str,
        /// The id that was asked for.
        id: i64,
    },
    /// The database (or the driver talking to it) returned an error: a constraint
    /// violation, a lost connection, a syntax error in a raw fragment, ...
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A value read from the database could not be turned into the model's field.
    #[error("cannot decode column `{column}` of `{table}`: {source}")]
    Decode {
        /// The table that was read.
        table: &'static str,
        /// The column whose value did not fit the field.
        column: &'static str,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The caller asked for something that cannot be done: an unknown URL scheme, a
    /// disabled backend, a transaction used after it ended, ...
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A model's before-hook ([`Hooks`](crate::Hooks)) returned an error: the
    /// operation stopped there, and nothing was written to the database or the
    /// cache.
    #[error("{hook} hook of `{table}` refused the operation: {source}")]
    Hook {
        /// The model's table.
        table: &'static str,
        /// The hook that refused: `before_save`, `before_create` or
        /// `before_delete`.
        hook: &'static str,
        /// The error the hook returned.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A statement did not finish within the
    /// [statement timeout](crate::DbBuilder::statement_timeout) (the database
    /// stopped answering, or the statement is that slow). Its connection was
    /// closed. A write that timed out may or may not have been applied.
    #[error("the database did not answer within {after:?}")]
    Timeout {
        /// The statement timeout.
        after: std::time::Duration,
    },
    /// A write could not reach the cache to lock its keys before its commit,
    /// and the `Db`'s [write policy](crate::WritePolicy::FailClosed) says to
    /// fail rather than commit; nothing was written.
    #[error("cache unreachable, nothing written: {0}")]
    Cache(#[from] CacheError),
    /// A relation holder (`BelongsTo`, `HasMany`, `ManyToMany`) was read
    /// before its rows were loaded: load them with the model's `load_<field>`
    /// accessor, or preload them.
    #[error("the related `{table}` rows are not loaded: call the `load_` accessor or preload them")]
    NotLoaded {
        /// The related model's table.
        table: &'static str,
    },
    /// A [`Cursor`](crate::Cursor) that is not one of the query it was given
    /// to: made for another query (filter, order, table or model), truncated,
    /// altered, or holding a value its column cannot hold.
    #[error("invalid cursor: {reason}")]
    InvalidCursor {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The write **committed**, but it could not reach the shared cache to
    /// lock its keys, and no process applied the invalidations it left in the
    /// outbox within the [outbox timeout](crate::DbBuilder::outbox_timeout):
    /// other processes may read the old value until one does. Do not retry
    /// the write; the value you saved holds what the database holds
    /// ([`Error::is_committed`]).
    #[error(
        "committed, but no process could tell the cache within {after:?}: other processes may \
         read the old value until the outbox is applied"
    )]
    CacheNotTold {
        /// The outbox timeout.
        after: std::time::Duration,
    },
    /// The write lost a race with another writer: `save` of a model with a
    /// `#[thing(version)]` column found the row at another version than the
    /// one it read. Nothing was written; read the row again and retry.
    #[error(
        "conflict: {table} with id {id} was saved from version {read}, but the row is at {found:?}"
    )]
    Conflict {
        /// The model's table.
        table: &'static str,
        /// The row's id.
        id: i64,
        /// The version the writer read.
        read: i64,
        /// The version the row has now (`None` when its version column is
        /// NULL).
        found: Option<i64>,
    },
    /// The database or its driver answered something Thing cannot use: an
    /// `INSERT ... RETURNING` with no row, an insert with no id, a reply of
    /// the wrong shape. Nothing Thing did caused it; it points at the
    /// database or the driver.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An error of the application's own, raised inside a
    /// [transaction](crate::Db::transaction) closure or a hook to stop it
    /// (the transaction rolls back): build it with [`Error::custom`], and
    /// read it back with [`std::error::Error::source`] or by matching.
    #[error("{0}")]
    Custom(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// [`Error::Custom`]: an error of the application's own, from a message or
    /// any error type.
    ///
    /// ```
    /// let err = thing::Error::custom("not enough money");
    /// assert_eq!(err.to_string(), "not enough money");
    /// assert!(matches!(err, thing::Error::Custom(_)));
    /// ```
    pub fn custom(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self::Custom(error.into())
    }

    /// [`Error::Protocol`]: the database or driver answered something Thing
    /// cannot use.
    pub(crate) fn protocol(message: impl fmt::Display) -> Self {
        Self::Protocol(message.to_string())
    }

    pub(crate) fn invalid_input(message: impl fmt::Display) -> Self {
        Self::InvalidInput(message.to_string())
    }

    /// [`Error::Hook`] for `hook` of the model of `table`, which returned
    /// `source`.
    pub(crate) fn hook(
        table: &'static str,
        hook: &'static str,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    ) -> Self {
        Self::Hook {
            table,
            hook,
            source,
        }
    }

    /// [`Error::NotFound`] for row `id` of `table`.
    pub(crate) fn not_found(table: &'static str, id: i64) -> Self {
        Self::NotFound { table, id }
    }

    /// A value that could not be bound as a statement parameter: one Thing
    /// refused ([`RefusedValue`]) is [`Error::InvalidInput`].
    pub(crate) fn encode(source: sqlx::error::BoxDynError) -> Self {
        match source.downcast::<RefusedValue>() {
            Ok(refused) => Self::InvalidInput(refused.0),
            Err(source) => Self::Database(sqlx::Error::Encode(source)),
        }
    }

    /// A value read from `column` of `table` that did not fit its field.
    pub(crate) fn decode(table: &'static str, column: &'static str, source: sqlx::Error) -> Self {
        Self::Decode {
            table,
            column,
            source,
        }
    }

    /// Whether this is [`Error::NotFound`].
    ///
    /// ```
    /// assert!(thing::Error::NotFound { table: "users", id: 1 }.is_not_found());
    /// ```
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the write this error ended did commit: [`Error::CacheNotTold`].
    /// Every other error of a write means nothing was written, but for
    /// [`Error::Timeout`], after which it may or may not have been.
    ///
    /// ```
    /// let err = thing::Error::CacheNotTold { after: std::time::Duration::from_secs(2) };
    /// assert!(err.is_committed());
    /// ```
    pub fn is_committed(&self) -> bool {
        matches!(self, Self::CacheNotTold { .. })
    }

    /// Whether a write lost a race on a `#[thing(version)]` column:
    /// [`Error::Conflict`].
    ///
    /// ```
    /// let err = thing::Error::Conflict { table: "users", id: 1, read: 3, found: Some(4) };
    /// assert!(err.is_conflict());
    /// ```
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// Whether the database refused a write because it would break a unique
    /// constraint or index (a `#[thing(unique)]` column, say): a duplicate.
    ///
    /// ```
    /// assert!(!thing::Error::NotFound { table: "users", id: 1 }.is_unique_violation());
    /// ```
    pub fn is_unique_violation(&self) -> bool {
        self.as_database_error()
            .is_some_and(|err| err.is_unique_violation())
    }

    /// The database error behind this error, if there is one.
    ///
    /// Use it for what the driver knows about the failure:
    ///
    /// ```
    /// fn constraint(err: &thing::Error) -> Option<&str> {
    ///     err.as_database_error().and_then(|e| e.constraint())
    /// }
    /// assert_eq!(constraint(&thing::Error::NotFound { table: "users", id: 1 }), None);
    /// ```
    pub fn as_database_error(&self) -> Option<&dyn sqlx::error::DatabaseError> {
        match self {
            Self::Database(sqlx::Error::Database(db)) => Some(db.as_ref()),
            _ => None,
        }
    }
}

/// A failure of the cache itself (unreachable, timed out, refused a command),
/// with its [kind](CacheError::kind) and, where there is one, the error behind
/// it ([`source`](std::error::Error::source)). Reads never fail because of it:
/// they read the database instead. Writes fail with it ([`Error::Cache`]) only
/// under [`WritePolicy::FailClosed`](crate::WritePolicy::FailClosed).
///
/// A custom [`Cache`](crate::cache::Cache) builds its errors with
/// [`CacheError::new`]:
///
/// ```
/// use thing::cache::{CacheError, CacheErrorKind};
/// let err = CacheError::new(CacheErrorKind::Timeout, "redis 10.0.0.1:6379: timed out");
/// assert_eq!(err.kind(), CacheErrorKind::Timeout);
/// assert_eq!(err.to_string(), "redis 10.0.0.1:6379: timed out");
/// ```
#[derive(Debug, Clone)]
pub struct CacheError {
    kind: CacheErrorKind,
    message: String,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

/// What kind of failure a [`CacheError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheErrorKind {
    /// The cache could not be reached: no connection could be opened, or the
    /// one in use broke.
    Unreachable,
    /// The cache did not answer in time (the command or connect timeout).
    Timeout,
    /// The call was not sent: the cache failed a moment ago and is skipped for
    /// its cool-down (see `RedisCacheBuilder::cool_down`).
    CoolingDown,
    /// The cache answered with an error, or with a reply Thing cannot read.
    BadReply,
    /// The call was refused before anything was sent: a malformed URL, a value
    /// the cache cannot store.
    InvalidInput,
}

impl CacheError {
    /// An error of `kind`, described by `message`.
    pub fn new(kind: CacheErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// This error, caused by `source`.
    ///
    /// ```
    /// use std::error::Error as _;
    /// use thing::cache::{CacheError, CacheErrorKind};
    /// let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let err = CacheError::new(CacheErrorKind::Unreachable, "cannot connect").with_source(io);
    /// assert!(err.source().is_some());
    /// ```
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(std::sync::Arc::from(source.into()));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> CacheErrorKind {
        self.kind
    }

    /// Whether the cache did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.kind == CacheErrorKind::Timeout
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// A value Thing refuses to bind, with why (it could not be read back).
#[derive(Debug)]
pub(crate) struct RefusedValue(pub String);

impl fmt::Display for RefusedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedValue {}

/// `Result` with Thing's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
