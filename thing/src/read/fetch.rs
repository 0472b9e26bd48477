//! Rows by id, straight from the database: one `SELECT ... WHERE id = ?` for a
//! single id, `IN (...)` batches for more, and the decoding of a row into a
//! model (with its snapshot).

use crate::backend::dialect::Dialect;
use crate::backend::{Backend, ModelIo, Session};
use crate::db::executor::{Target, with_session};
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::observe::stats::StatementKind;
use crate::schema::codec::RowWriter;
use crate::schema::{Schema, Sealed};
use crate::sql::{self, dynamic, fixed, model_sql};
use bytes::BytesMut;
use std::collections::HashMap;

/// Ids per `IN (...)` statement: well under every backend's parameter limit.
const IN_BATCH: usize = 500;

/// Rows by id from the database, one per id in order (soft-deleted ones
/// included; `None`: no such row).
pub(crate) async fn rows_by_ids<T: Schema>(
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

/// The row `id` of `T` read in `tx` and locked until `tx` ends
/// ([`select_for_update`]); a soft-deleted row is [`Error::NotFound`], as in
/// `by_id`.
pub(crate) async fn by_id_locked<T: Schema>(tx: &Transaction, id: i64) -> Result<T> {
    let target = Target::Tx(tx);
    let row = with_session!(target, |session| {
        select_for_update::<T, _>(&mut session, id).await
    })?;
    match row {
        Some(row) if !row.is_deleted() => Ok(row),
        _ => Err(Error::not_found(T::TABLE_NAME, id)),
    }
}

/// One row by id (soft-deleted included).
pub(crate) async fn select_by_id<T, DB>(session: &mut Session<'_, DB>, id: i64) -> Result<Option<T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let statements = model_sql::<T>(DB::DIALECT);
    let mut args = DB::Arguments::default();
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let row = session
        .fetch_optional(StatementKind::Select, fixed(&statements.select_by_id), args)
        .await?;
    row.map(|row| decode::<T, DB>(&row)).transpose()
}

/// One row by id, locked until the transaction `session` is in ends, so that
/// it cannot change before this transaction's write to it commits.
pub(crate) async fn select_for_update<T, DB>(
    session: &mut Session<'_, DB>,
    id: i64,
) -> Result<Option<T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    if DB::DIALECT == Dialect::Sqlite {
        let mut args = DB::Arguments::default();
        DB::bind_id(id, &mut args).map_err(Error::encode)?;
        let touch = dynamic(sql::touch::<T>(DB::DIALECT));
        session.execute(StatementKind::Update, touch, args).await?;
    }
    let mut args = DB::Arguments::default();
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let select = dynamic(sql::select_for_update::<T>(DB::DIALECT));
    let row = session
        .fetch_optional(StatementKind::Select, select, args)
        .await?;
    row.map(|row| decode::<T, DB>(&row)).transpose()
}

async fn select_in<T, DB>(session: &mut Session<'_, DB>, ids: &[i64]) -> Result<HashMap<i64, T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let statements = model_sql::<T>(DB::DIALECT);
    let mut found = HashMap::with_capacity(ids.len());
    for batch in ids.chunks(IN_BATCH) {
        let sql = sql::id_list(DB::DIALECT, &statements.select_in_prefix, batch.len());
        let mut args = DB::Arguments::default();
        for &id in batch {
            DB::bind_id(id, &mut args).map_err(Error::encode)?;
        }
        let items = fetch_models::<T, DB>(session, dynamic(sql), args, batch.len()).await?;
        found.extend(items.into_iter().map(|item| (item.row_id(), item)));
    }
    Ok(found)
}

/// A model from a database row, its snapshot set to the row as read.
pub(crate) fn decode<T: Schema + ModelIo<DB>, DB: Backend>(row: &DB::Row) -> Result<T> {
    let mut item = <T as ModelIo<DB>>::from_row(row)?;
    take_snapshot(&mut item);
    Ok(item)
}

/// Every row of a many-row statement as a model, in order, each with its
/// snapshot, decoded as the driver reads it; `expected` rows get room at once.
/// (Growing the `Vec` by doubling copied 10 000 models twice over and touched
/// fresh pages for each copy.)
pub(crate) async fn fetch_models<T, DB>(
    session: &mut Session<'_, DB>,
    sql: sqlx::SqlStr,
    args: DB::Arguments,
    expected: usize,
) -> Result<Vec<T>>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut snapshots = Snapshots::default();
    session
        .fetch_decoded(StatementKind::Select, sql, args, expected, |row| {
            snapshots.decode::<T, DB>(row)
        })
        .await
}

/// The ids in the first column of a statement's rows, in order (`expected`
/// as in [`fetch_models`]).
pub(crate) async fn fetch_ids<DB: Backend>(
    session: &mut Session<'_, DB>,
    kind: StatementKind,
    sql: sqlx::SqlStr,
    args: DB::Arguments,
    expected: usize,
) -> Result<Vec<i64>> {
    session
        .fetch_decoded(kind, sql, args, expected, |row| Ok(DB::decode_id(row)?))
        .await
}

/// How many bytes of snapshots of one read share an allocation: a model
/// kept after the others are dropped holds at most this much.
const SNAPSHOT_CHUNK: usize = 8 * 1024;

/// The snapshots of the rows of one read (several rows): written one after
/// another into shared chunks of [`SNAPSHOT_CHUNK`] bytes, so that a row's
/// snapshot costs a copy instead of an allocation and a free (on a read of
/// 10 000 rows the allocations cost about as much as decoding the rows).
#[derive(Default)]
pub(crate) struct Snapshots {
    row: RowWriter,
    chunk: BytesMut,
}

impl Snapshots {
    /// A model from a database row, its snapshot set to the row as read.
    pub(crate) fn decode<T, DB>(&mut self, row: &DB::Row) -> Result<T>
    where
        T: Schema + ModelIo<DB>,
        DB: Backend,
    {
        let mut item = <T as ModelIo<DB>>::from_row(row)?;
        self.take(&mut item);
        Ok(item)
    }

    /// [`take_snapshot`], into this read's chunks.
    pub(crate) fn take<T: Schema>(&mut self, item: &mut T) {
        if item.snapshot().is_none() {
            return;
        }
        self.row.clear();
        item.write_row(&mut self.row);
        let bytes = self.row.as_bytes();
        if self.chunk.capacity() - self.chunk.len() < bytes.len() {
            self.chunk = BytesMut::with_capacity(SNAPSHOT_CHUNK.max(bytes.len()));
        }
        self.chunk.extend_from_slice(bytes);
        let kept = self.chunk.split().freeze();
        if let Some(snapshot) = item.snapshot_mut(Sealed::new()) {
            snapshot.set_from(kept, 0);
        }
    }
}

/// Records the row as now stored, so the next `save` sends only what changes.
/// A model without a snapshot encodes nothing.
pub(crate) fn take_snapshot<T: Schema>(item: &mut T) {
    if item.snapshot().is_none() {
        return;
    }
    let bytes = item.row_bytes();
    if let Some(snapshot) = item.snapshot_mut(Sealed::new()) {
        snapshot.set(bytes);
    }
}
