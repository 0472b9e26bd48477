//! Writes: `save`, `delete`, `incr`, `update_or_create` and their batch forms,
//! and the one place that orders what a write does to the cache: lock the rows
//! before the commit, invalidate rows and lists after it (or, in a
//! transaction, when it commits).

use crate::backend::{Backend, ModelIo, Session};
use crate::change::{Write, unsaved_columns};
use crate::db::executor::{Executor, Target, with_session};
use crate::db::handle::Db;
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::fetch::remember;
use crate::filter::Filter;
use crate::list_cache;
use crate::query::Query;
use crate::schema::{BaseModel, Schema, Snapshot};
use crate::sql::{self, dynamic, fixed, insertable, model_sql};
use crate::stats::StatementKind;
use crate::store;
use crate::value::Value;
use chrono::{DateTime, SubsecRound, Utc};

/// After writes succeeded: drop what they make stale in the cache, now
/// (autocommit) or when the transaction commits.
async fn written<T: Schema>(target: Target<'_>, writes: Vec<Write>) {
    match target {
        Target::Db(db) => after_commit::<T>(db, writes).await,
        Target::Tx(tx) => {
            if let Some(cache) = tx.db().cache() {
                let ids: Vec<i64> = writes.iter().map(Write::id).collect();
                tx.lock_before_commit(cache.row_keys::<T>(&ids).into_iter());
                tx.on_commit(Box::new(move |db: Db| {
                    Box::pin(async move { after_commit::<T>(&db, writes).await })
                }));
            }
        }
    }
}

/// After `writes` to `T` committed: invalidates their rows, then the cached
/// lists they could change.
async fn after_commit<T: Schema>(db: &Db, writes: Vec<Write>) {
    let Some(cache) = db.cache() else {
        return;
    };
    if cache.dies_after_commit() {
        return; // test hook: the writer "died" right after its commit
    }
    let ids: Vec<i64> = writes.iter().map(Write::id).collect();
    store::invalidate_rows::<T>(db, &ids).await;
    list_cache::after_write::<T>(db, cache, &writes).await;
}

pub(crate) async fn save<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    item: &mut T,
) -> Result<()> {
    let undo = Undo::capture(item);
    let target = executor.__target();
    // What an update would write, worked out once: it also decides the lock.
    let columns = (item.id() != 0).then(|| unsaved_columns(item));
    if let (Target::Db(db), Some(columns)) = (target, &columns)
        && !columns.is_empty()
    {
        store::lock_rows::<T>(db, &[item.id()]).await;
    }
    let result = with_session!(target, |session| {
        write::<T, _>(&mut session, item, columns).await
    });
    match result {
        Ok(Some(write)) => {
            written::<T>(target, vec![write]).await;
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(err) => {
            undo.restore(item);
            Err(err)
        }
    }
}

pub(crate) async fn delete<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    id: i64,
    hard: bool,
) -> Result<()> {
    let target = executor.__target();
    let write = with_session!(target, |session| remove::<T, _>(&mut session, id, hard)
        .await)?;
    written::<T>(target, vec![write]).await;
    Ok(())
}

pub(crate) async fn incr<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    id: i64,
    column: usize,
    delta: Value,
) -> Result<()> {
    let target = executor.__target();
    if let Target::Db(db) = target {
        store::lock_rows::<T>(db, &[id]).await;
    }
    let write = with_session!(target, |session| {
        increment::<T, _>(&mut session, id, column, &delta).await
    })?;
    written::<T>(target, vec![write]).await;
    Ok(())
}

pub(crate) async fn update_or_create<T, E, F>(
    executor: &E,
    filter: Filter<T>,
    apply: F,
) -> Result<(T, bool)>
where
    T: Schema + Default,
    E: Executor + ?Sized,
    F: FnOnce(&mut T) + Send,
{
    let query = Query::<T>::new().filter(filter);
    atomically(executor.__target(), async |tx: &Transaction| {
        let found = query.first(tx).await?;
        let created = found.is_none();
        let mut row = found.unwrap_or_default();
        apply(&mut row);
        save(tx, &mut row).await?;
        Ok((row, created))
    })
    .await
}

pub(crate) async fn save_many<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    items: &mut [T],
) -> Result<()> {
    let undo: Vec<Undo> = items.iter().map(Undo::capture).collect();
    let result = atomically(executor.__target(), async |tx: &Transaction| {
        let tx = Target::Tx(tx);
        for item in items.iter_mut() {
            let columns = (item.id() != 0).then(|| unsaved_columns(item));
            if let Some(write) = with_session!(tx, |session| {
                write::<T, _>(&mut session, item, columns).await
            })? {
                written::<T>(tx, vec![write]).await;
            }
        }
        Ok(())
    })
    .await;
    if result.is_err() {
        for (item, undo) in items.iter_mut().zip(undo) {
            undo.restore(item);
        }
    }
    result
}

pub(crate) async fn delete_many<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    items: &[T],
) -> Result<()> {
    atomically(executor.__target(), async |tx: &Transaction| {
        let tx = Target::Tx(tx);
        for item in items {
            let id = item.id();
            let write = with_session!(tx, |session| remove::<T, _>(&mut session, id, false).await)?;
            written::<T>(tx, vec![write]).await;
        }
        Ok(())
    })
    .await
}

/// Runs `work` inside the caller's transaction, or inside a new one that is
/// committed when `work` succeeds and rolled back when it fails.
async fn atomically<R>(
    target: Target<'_>,
    work: impl AsyncFnOnce(&Transaction) -> Result<R>,
) -> Result<R> {
    match target {
        Target::Tx(tx) => work(tx).await,
        Target::Db(db) => db.transaction(work).await,
    }
}

/// What `save` wrote, or `None` when nothing changed (and no SQL was sent).
/// `columns`: `None` to insert, else the columns to update (see
/// [`changed_columns`]).
async fn write<T, DB>(
    session: &mut Session<'_, DB>,
    item: &mut T,
    columns: Option<Vec<usize>>,
) -> Result<Option<Write>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    match columns {
        None => insert::<T, DB>(session, item).await.map(Some),
        Some(columns) => update::<T, DB>(session, item, columns).await,
    }
}

async fn insert<T, DB>(session: &mut Session<'_, DB>, item: &mut T) -> Result<Write>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    if let Some(base) = item.base_mut() {
        let now = now();
        if base.created_at == DateTime::<Utc>::default() {
            base.created_at = now;
        }
        base.updated_at = now;
    }
    let statements = model_sql::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    for column in insertable::<T>() {
        <T as ModelIo<DB>>::bind_column(item, column, &mut args).map_err(Error::encode)?;
    }
    let sql = fixed(&statements.insert);
    let id = if DB::DIALECT.insert_returns_id() {
        let row = session
            .fetch_optional(StatementKind::Insert, sql, args)
            .await?;
        let row = row.ok_or_else(|| Error::invalid_input("INSERT ... RETURNING gave no row"))?;
        DB::decode_id(&row)?
    } else {
        let (_, id) = session.execute(StatementKind::Insert, sql, args).await?;
        id.ok_or_else(|| Error::invalid_input("the driver returned no insert id"))?
    };
    item.set_id(id);
    remember(item);
    Ok(Write::Inserted {
        id,
        after: (0..T::COLUMNS.len())
            .map(|column| item.value(column))
            .collect(),
    })
}

async fn update<T, DB>(
    session: &mut Session<'_, DB>,
    item: &mut T,
    mut columns: Vec<usize>,
) -> Result<Option<Write>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    if columns.is_empty() {
        return Ok(None);
    }
    // The changed columns' values as last read, to tell which cached lists held
    // the row; without a snapshot they are unknown.
    let before_row = item
        .snapshot()
        .and_then(Snapshot::row)
        .and_then(T::decode_row);
    if let (Some(updated_at), Some(base)) = (T::META.updated_at, item.base_mut()) {
        base.updated_at = now();
        if !columns.contains(&updated_at) {
            columns.push(updated_at);
        }
    }
    let mut args = DB::Arguments::default();
    for &column in &columns {
        <T as ModelIo<DB>>::bind_column(item, column, &mut args).map_err(Error::encode)?;
    }
    DB::bind_id(item.id(), &mut args).map_err(Error::encode)?;
    let sql = dynamic(sql::update::<T>(DB::DIALECT, &columns));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected == 0 {
        return Err(Error::not_found(T::TABLE, item.id()));
    }
    remember(item);
    let before = before_row.map(|before| {
        columns
            .iter()
            .map(|&column| (column, before.value(column)))
            .collect()
    });
    Ok(Some(Write::Updated {
        id: item.id(),
        before,
    }))
}

async fn increment<T, DB>(
    session: &mut Session<'_, DB>,
    id: i64,
    column: usize,
    delta: &Value,
) -> Result<Write>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    DB::bind_value(delta, &mut args).map_err(Error::encode)?;
    if T::META.updated_at.is_some() {
        DB::bind_timestamp(now(), &mut args).map_err(Error::encode)?;
    }
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let sql = dynamic(sql::increment::<T>(DB::DIALECT, column));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected == 0 {
        return Err(Error::not_found(T::TABLE, id));
    }
    // The old values are not known here: any list reading them is dropped.
    let mut before = vec![(column, Value::Opaque)];
    before.extend(T::META.updated_at.map(|at| (at, Value::Opaque)));
    Ok(Write::Updated {
        id,
        before: Some(before),
    })
}

async fn remove<T, DB>(session: &mut Session<'_, DB>, id: i64, hard: bool) -> Result<Write>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let statements = model_sql::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    let (kind, sql, write) = match (&statements.soft_delete, T::META.deleted) {
        (Some(soft_delete), Some(deleted)) if !hard => {
            DB::bind_bool(true, &mut args).map_err(Error::encode)?;
            if T::META.updated_at.is_some() {
                DB::bind_timestamp(now(), &mut args).map_err(Error::encode)?;
            }
            // Whatever the row was, it was not deleted (or the write changes
            // nothing a list could see); updated_at is unknown.
            let mut before = vec![(deleted, Value::Bool(false))];
            before.extend(T::META.updated_at.map(|at| (at, Value::Opaque)));
            let write = Write::Updated {
                id,
                before: Some(before),
            };
            (StatementKind::Update, soft_delete, write)
        }
        _ => (
            StatementKind::Delete,
            &statements.delete,
            Write::Deleted { id },
        ),
    };
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let (affected, _) = session.execute(kind, fixed(sql), args).await?;
    if affected == 0 {
        return Err(Error::not_found(T::TABLE, id));
    }
    Ok(write)
}

/// What `save` changes in the value, put back when the write fails so that the
/// value still describes what is in the database.
struct Undo {
    id: i64,
    base: Option<BaseModel>,
    snapshot: Option<Snapshot>,
}

impl Undo {
    fn capture<T: Schema>(item: &T) -> Self {
        Self {
            id: item.id(),
            base: item.base().cloned(),
            snapshot: item.snapshot().cloned(),
        }
    }

    fn restore<T: Schema>(self, item: &mut T) {
        item.set_id(self.id);
        if let (Some(before), Some(base)) = (self.base, item.base_mut()) {
            *base = before;
        }
        if let (Some(before), Some(snapshot)) = (self.snapshot, item.snapshot_mut()) {
            *snapshot = before;
        }
    }
}

/// The current time at the precision every backend stores (microseconds), so
/// that a value read back equals the value written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
