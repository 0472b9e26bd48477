//! [`Executor`]: what every operation runs on, a [`Db`] or a [`Transaction`].

use super::handle::Db;
use super::pool::{Pool, TxConn};
use super::transaction::Transaction;
use crate::backend::Conn;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Db {}
    impl Sealed for super::Transaction {}
}

/// Something Thing operations run on: a [`Db`] (each statement on a pooled
/// connection, reads through the cache) or a [`Transaction`] (every statement on
/// the transaction's connection, reads from the database).
///
/// Both are passed by shared reference, so one transaction can serve many
/// operations in a row:
///
/// ```
/// # use thing::{Db, Thing};
/// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.create_table::<Item>().await?;
/// let tx = db.begin().await?;
/// let mut a = Item { name: "a".into(), ..Default::default() };
/// let mut b = Item { name: "b".into(), ..Default::default() };
/// a.save(&tx).await?;
/// b.save(&tx).await?;
/// tx.commit().await?;
/// assert_eq!(Item::by_ids(&db, &[a.id, b.id]).await?.len(), 2);
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub trait Executor: Send + Sync + sealed::Sealed {
    #[doc(hidden)]
    fn __target(&self) -> Target<'_>;
}

/// What an [`Executor`] is, for the code that runs statements.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Db(&'a Db),
    Tx(&'a Transaction),
}

impl<'a> Target<'a> {
    /// The database the target runs on.
    pub fn db(self) -> &'a Db {
        match self {
            Target::Db(db) => db,
            Target::Tx(tx) => tx.db(),
        }
    }

    /// The target as the executor it came from.
    pub fn executor(self) -> &'a dyn Executor {
        match self {
            Target::Db(db) => db,
            Target::Tx(tx) => tx,
        }
    }
}

/// The slow-operation threshold of the executor's `Db`.
pub(crate) fn slow_threshold<E: Executor + ?Sized>(executor: &E) -> Option<std::time::Duration> {
    executor.__target().db().slow_threshold()
}

impl Executor for Db {
    fn __target(&self) -> Target<'_> {
        Target::Db(self)
    }
}

impl Executor for Transaction {
    fn __target(&self) -> Target<'_> {
        Target::Tx(self)
    }
}

/// A connection of one of the enabled backends: a pool's, or the one an open
/// transaction holds.
pub(crate) enum AnyConn<'a> {
    #[cfg(feature = "sqlite")]
    Sqlite(Conn<'a, sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(Conn<'a, sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    MySql(Conn<'a, sqlx::MySql>),
}

impl<'a> AnyConn<'a> {
    /// The transaction's connection `tx` (locked by the caller), else the
    /// pool of `db`.
    pub(crate) fn of(db: &'a Db, tx: Option<&'a mut TxConn>) -> Self {
        match tx {
            Some(tx) => match tx {
                #[cfg(feature = "sqlite")]
                TxConn::Sqlite(conn) => AnyConn::Sqlite(Conn::Direct(&mut **conn)),
                #[cfg(feature = "postgres")]
                TxConn::Postgres(conn) => AnyConn::Postgres(Conn::Direct(&mut **conn)),
                #[cfg(feature = "mysql")]
                TxConn::MySql(conn) => AnyConn::MySql(Conn::Direct(&mut **conn)),
            },
            None => match db.pool() {
                #[cfg(feature = "sqlite")]
                Pool::Sqlite(pool) => AnyConn::Sqlite(Conn::Pool(pool)),
                #[cfg(feature = "postgres")]
                Pool::Postgres(pool) => AnyConn::Postgres(Conn::Pool(pool)),
                #[cfg(feature = "mysql")]
                Pool::MySql(pool) => AnyConn::MySql(Conn::Pool(pool)),
            },
        }
    }
}

/// Runs `$body` with `$session` bound to a `Session<'_, DB>` of the executor's
/// backend; `$body` is generic code, written once per enabled backend (the
/// pool and the transaction share each arm: [`AnyConn`]).
macro_rules! with_session {
    ($target:expr, |$session:ident| $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::backend::Session;
        use $crate::db::executor::AnyConn;
        let target: $crate::db::executor::Target<'_> = $target;
        let db = target.db();
        let mut locked = match target {
            $crate::db::executor::Target::Tx(tx) => Some(tx.lock().await),
            $crate::db::executor::Target::Db(_) => None,
        };
        let (stats, health) = (db.counters(), db.health());
        match AnyConn::of(db, locked.as_deref_mut()) {
            #[cfg(feature = "sqlite")]
            AnyConn::Sqlite(conn) => {
                #[allow(unused_mut)]
                let mut $session = Session::<sqlx::Sqlite> {
                    conn,
                    stats,
                    health,
                };
                $body
            }
            #[cfg(feature = "postgres")]
            AnyConn::Postgres(conn) => {
                #[allow(unused_mut)]
                let mut $session = Session::<sqlx::Postgres> {
                    conn,
                    stats,
                    health,
                };
                $body
            }
            #[cfg(feature = "mysql")]
            AnyConn::MySql(conn) => {
                #[allow(unused_mut)]
                let mut $session = Session::<sqlx::MySql> {
                    conn,
                    stats,
                    health,
                };
                $body
            }
        }
    }};
}

pub(crate) use with_session;
