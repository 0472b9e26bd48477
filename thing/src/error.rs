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
    #[error("conflict: {0}")]
    Conflict(String),
}

impl Error {
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

    /// The database error behind this error, if there is one.
    ///
    /// Use it to tell a unique-constraint violation from other failures:
    ///
    /// ```
    /// fn is_duplicate(err: &thing::Error) -> bool {
    ///     err.as_database_error().is_some_and(|e| e.is_unique_violation())
    /// }
    /// assert!(!is_duplicate(&thing::Error::NotFound { table: "users", id: 1 }));
    /// ```
    pub fn as_database_error(&self) -> Option<&dyn sqlx::error::DatabaseError> {
        match self {
            Self::Database(sqlx::Error::Database(db)) => Some(db.as_ref()),
            _ => None,
        }
    }
}

/// A failure of the cache itself (unreachable, timed out, refused a command).
/// Reads never fail because of it: they read the database instead. Writes fail
/// with it ([`Error::Cache`]) only under
/// [`WritePolicy::FailClosed`](crate::WritePolicy::FailClosed).
///
/// ```
/// let err = thing::cache::CacheError("redis 10.0.0.1:6379: timed out".into());
/// assert_eq!(err.to_string(), "redis 10.0.0.1:6379: timed out");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheError(pub String);

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CacheError {}

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
