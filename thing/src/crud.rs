//! The read and write paths behind `by_id`, `by_ids`, `save` and `delete`.

use crate::backend::{Backend, ModelIo, Session};
use crate::executor::{Executor, Target, with_session};
use crate::lists::Write;
use crate::model::{BaseModel, Snapshot};
use crate::sql::{self, dynamic, fixed, insertable};
use crate::stats::StatementKind;
use crate::{Error, Result, Thing, codec, store};
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashMap;

/// Ids per `IN (...)` statement: well under every backend's parameter limit.
const IN_BATCH: usize = 500;

pub(crate) async fn by_id<T: Thing, E: Executor + ?Sized>(executor: &E, id: i64) -> Result<T> {
    let row = match executor.__target() {
        Target::Db(db) if let Some(objects) = db.object_cache() => {
            store::by_id::<T>(db, objects, id).await?
        }
        target => with_session!(target, |session| {
            select_by_id::<T, _>(&mut session, id).await
        })?,
    };
    match row {
        Some(item) if !item.__is_deleted() => Ok(item),
        _ => Err(not_found::<T>(id)),
    }
}

pub(crate) async fn by_ids<T: Thing, E: Executor + ?Sized>(
    executor: &E,
    ids: &[i64],
) -> Result<Vec<T>> {
    let mut wanted: Vec<i64> = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    wanted.extend(ids.iter().copied().filter(|id| seen.insert(*id)));
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let rows = match executor.__target() {
        Target::Db(db) if let Some(objects) = db.object_cache() => {
            store::load::<T>(db, objects, &wanted).await?
        }
        target => select_ids::<T>(target, &wanted).await?,
    };
    Ok(rows
        .into_iter()
        .flatten()
        .filter(|item| !item.__is_deleted())
        .collect())
}

/// Rows by id from the database, one per id in order (soft-deleted ones
/// included; `None`: no such row).
pub(crate) async fn select_ids<T: Thing>(
    target: Target<'_>,
    ids: &[i64],
) -> Result<Vec<Option<T>>> {
    if let [id] = ids {
        let row = with_session!(target, |session| {
            select_by_id::<T, _>(&mut session, *id).await
        })?;
        return Ok(vec![row]);
    }
    let mut found = with_session!(target, |session| select_in::<T, _>(&mut session, ids).await)?;
    Ok(ids.iter().map(|id| found.remove(id)).collect())
}

/// After writes succeeded: drop what they make stale in the cache, now
/// (autocommit) or when the transaction commits.
async fn written<T: Thing>(target: Target<'_>, writes: Vec<Write>) {
    match target {
        Target::Db(db) => store::after_write::<T>(db, writes).await,
        Target::Tx(tx) => {
            if let Some(objects) = tx.db().object_cache() {
                tx.lock_before_commit(
                    writes
                        .iter()
                        .map(|write| store::key::<T>(&objects.config.prefix, write.id())),
                );
                tx.on_commit(Box::new(move |db: crate::Db| {
                    Box::pin(async move { store::after_write::<T>(&db, writes).await })
                }));
            }
        }
    }
}

pub(crate) async fn save<T: Thing, E: Executor + ?Sized>(executor: &E, item: &mut T) -> Result<()> {
    let undo = Undo::capture(item);
    let target = executor.__target();
    // What an update would write, worked out once: it also decides the lock.
    let columns = (item.id() != 0).then(|| changed_columns(item));
    if let (Target::Db(db), Some(columns)) = (target, &columns)
        && !columns.is_empty()
    {
        store::lock::<T>(db, &[item.id()]).await;
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

pub(crate) async fn delete<T: Thing, E: Executor + ?Sized>(
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

pub(crate) async fn incr<T: Thing, E: Executor + ?Sized>(
    executor: &E,
    id: i64,
    column: usize,
    delta: crate::value::Value,
) -> Result<()> {
    let target = executor.__target();
    if let Target::Db(db) = target {
        store::lock::<T>(db, &[id]).await;
    }
    let write = with_session!(target, |session| {
        increment::<T, _>(&mut session, id, column, &delta).await
    })?;
    written::<T>(target, vec![write]).await;
    Ok(())
}

pub(crate) async fn update_or_create<T, E, F>(
    executor: &E,
    filter: crate::Filter<T>,
    apply: F,
) -> Result<(T, bool)>
where
    T: Thing + Default,
    E: Executor + ?Sized,
    F: FnOnce(&mut T) + Send,
{
    let query = T::query().filter(filter);
    let run = async |tx: &crate::Transaction| {
        let found = query.first(tx).await?;
        let created = found.is_none();
        let mut row = found.unwrap_or_default();
        apply(&mut row);
        row.save(tx).await?;
        Ok((row, created))
    };
    match executor.__target() {
        Target::Tx(tx) => run(tx).await,
        Target::Db(db) => {
            let tx = db.begin().await?;
            match run(&tx).await {
                Ok(done) => {
                    tx.commit().await?;
                    Ok(done)
                }
                Err(err) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::warn!(error = %rollback, "rollback failed after an error");
                    }
                    Err(err)
                }
            }
        }
    }
}

pub(crate) async fn save_many<T: Thing, E: Executor + ?Sized>(
    executor: &E,
    items: &mut [T],
) -> Result<()> {
    let undo: Vec<Undo> = items.iter().map(Undo::capture).collect();
    let result = atomically(executor.__target(), async |tx| {
        for item in items.iter_mut() {
            let columns = (item.id() != 0).then(|| changed_columns(item));
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

pub(crate) async fn delete_many<T: Thing, E: Executor + ?Sized>(
    executor: &E,
    items: &[T],
) -> Result<()> {
    atomically(executor.__target(), async |tx| {
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
/// committed when `work` succeeds.
async fn atomically<'t>(
    target: Target<'t>,
    work: impl AsyncFnOnce(Target<'_>) -> Result<()>,
) -> Result<()> {
    match target {
        Target::Tx(_) => work(target).await,
        Target::Db(db) => {
            let tx = db.begin().await?;
            match work(Target::Tx(&tx)).await {
                Ok(()) => tx.commit().await,
                Err(err) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::warn!(error = %rollback, "rollback failed after an error");
                    }
                    Err(err)
                }
            }
        }
    }
}

async fn select_by_id<T, DB>(session: &mut Session<'_, DB>, id: i64) -> Result<Option<T>>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    let statements = T::__statements().get::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    DB::bind_id(id, &mut args).map_err(encode_error)?;
    let row = session
        .fetch_optional(StatementKind::Select, fixed(&statements.select_by_id), args)
        .await?;
    row.map(|row| decode::<T, DB>(&row)).transpose()
}

async fn select_in<T, DB>(session: &mut Session<'_, DB>, ids: &[i64]) -> Result<HashMap<i64, T>>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    let statements = T::__statements().get::<T>(DB::DIALECT);
    let mut found = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(IN_BATCH) {
        let sql = sql::select_in(DB::DIALECT, &statements.select_in_prefix, batch.len());
        let mut args = DB::Arguments::default();
        for &id in batch {
            DB::bind_id(id, &mut args).map_err(encode_error)?;
        }
        for row in session
            .fetch_all(StatementKind::Select, dynamic(sql), args)
            .await?
        {
            let item = decode::<T, DB>(&row)?;
            found.insert(item.id(), item);
        }
    }
    Ok(found)
}

pub(crate) fn decode<T: Thing + ModelIo<DB>, DB: Backend>(row: &DB::Row) -> Result<T> {
    let mut item = <T as ModelIo<DB>>::from_row(row)?;
    let bytes = item.encode_row();
    if let Some(snapshot) = item.__snapshot_mut() {
        snapshot.set(bytes);
    }
    Ok(item)
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
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    match columns {
        None => insert::<T, DB>(session, item).await.map(Some),
        Some(columns) => update::<T, DB>(session, item, columns).await,
    }
}

async fn insert<T, DB>(session: &mut Session<'_, DB>, item: &mut T) -> Result<Write>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    if let Some(base) = item.__base_mut() {
        let now = now();
        if base.created_at == DateTime::<Utc>::default() {
            base.created_at = now;
        }
        base.updated_at = now;
    }
    let statements = T::__statements().get::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    for column in insertable::<T>() {
        <T as ModelIo<DB>>::bind_column(item, column, &mut args).map_err(encode_error)?;
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
    item.__set_id(id);
    remember(item);
    Ok(Write::Inserted {
        id,
        after: (0..T::COLUMNS.len())
            .map(|column| item.__value(column))
            .collect(),
    })
}

/// The columns `save` would write for a saved row: those that changed since
/// it was read or saved, or all of them without a snapshot.
fn changed_columns<T: Thing>(item: &T) -> Vec<usize> {
    let every_column = || insertable::<T>().collect::<Vec<_>>();
    match item.__snapshot().and_then(Snapshot::row) {
        Some(before) => codec::changed_columns(before, &item.encode_row())
            .map(|changed| changed.into_iter().filter(|&c| c != T::META.id).collect())
            .unwrap_or_else(every_column),
        None => every_column(),
    }
}

async fn update<T, DB>(
    session: &mut Session<'_, DB>,
    item: &mut T,
    mut columns: Vec<usize>,
) -> Result<Option<Write>>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    if columns.is_empty() {
        return Ok(None);
    }
    // The changed columns' values as last read, to tell which cached lists held
    // the row; without a snapshot they are unknown.
    let before_row = item
        .__snapshot()
        .and_then(Snapshot::row)
        .and_then(T::decode_row);
    if let (Some(updated_at), Some(base)) = (T::META.updated_at, item.__base_mut()) {
        base.updated_at = now();
        if !columns.contains(&updated_at) {
            columns.push(updated_at);
        }
    }
    let mut args = DB::Arguments::default();
    for &column in &columns {
        <T as ModelIo<DB>>::bind_column(item, column, &mut args).map_err(encode_error)?;
    }
    DB::bind_id(item.id(), &mut args).map_err(encode_error)?;
    let sql = dynamic(sql::update::<T>(DB::DIALECT, &columns));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected == 0 {
        return Err(not_found::<T>(item.id()));
    }
    remember(item);
    let before = before_row.map(|before| {
        columns
            .iter()
            .map(|&column| (column, before.__value(column)))
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
    delta: &crate::value::Value,
) -> Result<Write>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    DB::bind_value(delta, &mut args).map_err(encode_error)?;
    if T::META.updated_at.is_some() {
        DB::bind_timestamp(now(), &mut args).map_err(encode_error)?;
    }
    DB::bind_id(id, &mut args).map_err(encode_error)?;
    let sql = dynamic(sql::increment::<T>(DB::DIALECT, column));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected == 0 {
        return Err(not_found::<T>(id));
    }
    // The old values are not known here: any list reading them is dropped.
    let mut before = vec![(column, crate::value::Value::Opaque)];
    before.extend(
        T::META
            .updated_at
            .map(|at| (at, crate::value::Value::Opaque)),
    );
    Ok(Write::Updated {
        id,
        before: Some(before),
    })
}

async fn remove<T, DB>(session: &mut Session<'_, DB>, id: i64, hard: bool) -> Result<Write>
where
    T: Thing + ModelIo<DB>,
    DB: Backend,
{
    let statements = T::__statements().get::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    let (kind, sql, write) = match (&statements.soft_delete, T::META.deleted) {
        (Some(soft_delete), Some(deleted)) if !hard => {
            DB::bind_bool(true, &mut args).map_err(encode_error)?;
            if T::META.updated_at.is_some() {
                DB::bind_timestamp(now(), &mut args).map_err(encode_error)?;
            }
            // Whatever the row was, it was not deleted (or the write changes
            // nothing a list could see); updated_at is unknown.
            let mut before = vec![(deleted, crate::value::Value::Bool(false))];
            before.extend(
                T::META
                    .updated_at
                    .map(|at| (at, crate::value::Value::Opaque)),
            );
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
    DB::bind_id(id, &mut args).map_err(encode_error)?;
    let (affected, _) = session.execute(kind, fixed(sql), args).await?;
    if affected == 0 {
        return Err(not_found::<T>(id));
    }
    Ok(write)
}

/// Records the row as now stored, so the next `save` sends only what changes.
fn remember<T: Thing>(item: &mut T) {
    let bytes = item.encode_row();
    if let Some(snapshot) = item.__snapshot_mut() {
        snapshot.set(bytes);
    }
}

/// What `save` changes in the value, put back when the write fails so that the
/// value still describes what is in the database.
struct Undo {
    id: i64,
    base: Option<BaseModel>,
    snapshot: Option<Snapshot>,
}

impl Undo {
    fn capture<T: Thing>(item: &T) -> Self {
        Self {
            id: item.id(),
            base: item.__base().cloned(),
            snapshot: item.__snapshot().cloned(),
        }
    }

    fn restore<T: Thing>(self, item: &mut T) {
        item.__set_id(self.id);
        if let (Some(before), Some(base)) = (self.base, item.__base_mut()) {
            *base = before;
        }
        if let (Some(before), Some(snapshot)) = (self.snapshot, item.__snapshot_mut()) {
            *snapshot = before;
        }
    }
}

/// The current time at the precision every backend stores (microseconds), so
/// that a value read back equals the value written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn not_found<T: Thing>(id: i64) -> Error {
    Error::NotFound {
        table: T::TABLE,
        id,
    }
}

pub(crate) fn encode_error(err: sqlx::error::BoxDynError) -> Error {
    Error::Database(sqlx::Error::Encode(err))
}
