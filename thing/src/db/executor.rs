//! [`Executor`]: what every operation runs on, a [`Db`] or a [`Transaction`].

use super::handle::Db;
use super::transaction::Transaction;

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

/// Runs `$body` with `$session` bound to a `Session<'_, DB>` of the executor's
/// backend; `$body` is generic code instantiated once per enabled backend.
macro_rules! with_session {
    ($target:expr, |$session:ident| $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::backend::{Conn, Session};
        match $target {
            $crate::db::executor::Target::Db(db) => {
                let stats = db.counters();
                let health = db.health();
                match db.pool() {
                    #[cfg(feature = "sqlite")]
                    $crate::db::pool::Pool::Sqlite(pool) => {
                        #[allow(unused_mut)]
                        let mut $session = Session::<sqlx::Sqlite> {
                            conn: Conn::Pool(pool),
                            stats,
                            health,
                        };
                        $body
                    }
                    #[cfg(feature = "postgres")]
                    $crate::db::pool::Pool::Postgres(pool) => {
                        #[allow(unused_mut)]
                        let mut $session = Session::<sqlx::Postgres> {
                            conn: Conn::Pool(pool),
                            stats,
                            health,
                        };
                        $body
                    }
                    #[cfg(feature = "mysql")]
                    $crate::db::pool::Pool::MySql(pool) => {
                        #[allow(unused_mut)]
                        let mut $session = Session::<sqlx::MySql> {
                            conn: Conn::Pool(pool),
                            stats,
                            health,
                        };
                        $body
                    }
                }
            }
            $crate::db::executor::Target::Tx(tx) => {
                let stats = tx.db().counters();
                let health = tx.db().health();
                let mut guard = tx.lock().await;
                match &mut *guard {
                    #[cfg(feature = "sqlite")]
                    $crate::db::pool::TxConn::Sqlite(conn) => {
                        #[allow(unused_mut)]
                        let mut $session = Session::<sqlx::Sqlite> {
                            conn: Conn::Direct(&mut **conn),
                            stats,
                            health,
                        };
                        $body
                    }
                    #[cfg(feature = "postgres")]
                    $crate::db::pool::TxConn::Postgres(conn) => {
                        #[allow(unused_mut)]
                        let mut $session = Session::<sqlx::Postgres> {
                            conn: Conn::Direct(&mut **conn),
                            stats,
                            health,
                        };
                        $body
                    }
                    #[cfg(feature = "mysql")]
                    $crate::db::pool::TxConn::MySql(conn) => {
                        #[allow(unused_mut)]
                        let mut $session = Session::<sqlx::MySql> {
                            conn: Conn::Direct(&mut **conn),
                            stats,
                            health,
                        };
                        $body
                    }
                }
            }
        }
    }};
}

pub(crate) use with_session;
