//! Writes of one row by id with no model in hand: [`Update::execute`]
//! (`SET c = ?`) and `incr` (`SET c = c + ?`).
//!
//! Their cache steps are those of every write (see [`super`]). The value
//! stamps they bump need the old values of the row's indexed columns, which a
//! write by id does not have. So it is one statement when nothing needs them
//! (no cache, or no indexed column besides the id). Otherwise the write
//! takes them from a hint — as this handle's last save or write by id left them (the cache's
//! [`ValueHints`](crate::cache::hints::ValueHints)), else from the cached
//! row, else from a plain `SELECT` — and guards its statement with the hint;
//! when the guard matches nothing (the row changed meanwhile, or, for `incr`,
//! the sum would leave the column's range), and inside a transaction, they
//! are read with the row locked, in a transaction, and the write runs there.

use super::after::announce;
use super::guard::locked_row;
use super::protocol::{Unwritten, atomically, cache_of, keys_of, record, write_through};
use super::save::now;
use crate::backend::{Backend, ModelIo, Session};
use crate::cache::stamps::{RowWrite, guarded_columns, indexed_values};
use crate::db::executor::{Executor, Target, slow_threshold, with_session};
use crate::db::handle::Db;
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::events::WriteKind;
use crate::observe;
use crate::observe::stats::StatementKind;
use crate::query::update::Update;
use crate::read::fetch::select_by_id;
use crate::read::store;
use crate::schema::Schema;
use crate::sql::{self, Guard, dynamic};
use crate::value::Value;
use std::future::Future;

impl<M: Schema> Update<M> {
    /// Runs the update: one `UPDATE` when no cache needs the row's old
    /// indexed values (see [`Update`]); the row and the cached lists it can
    /// change are dropped after the commit.
    ///
    /// Fails with [`Error::NotFound`] when no row has the id (a soft-deleted
    /// row is updated, as by [`Thing::incr`](crate::Thing::incr)), and with
    /// [`Error::InvalidInput`] before any SQL when nothing is set, or the id
    /// or the version column is.
    ///
    /// ```
    /// # use thing::{BaseModel, Db, Thing};
    /// #[derive(Thing, Default)]
    /// struct User { #[thing(base)] base: BaseModel, #[thing(index)] team: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let db = Db::connect("sqlite::memory:").await?;
    /// # db.create_table::<User>().await?;
    /// let mut ann = User { team: 1, name: "Ann".into(), ..Default::default() };
    /// ann.save(&db).await?;
    /// let team_2 = User::query().filter(User::TEAM.eq(2));
    /// assert_eq!(team_2.count(&db).await?, 0);     // cached
    /// User::update(ann.base.id).set(User::TEAM, 2).execute(&db).await?;
    /// assert_eq!(team_2.count(&db).await?, 1);     // the cached count was dropped
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn execute<'a, E: Executor + ?Sized>(
        &'a self,
        executor: &'a E,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        observe::op!(
            "update",
            Reads::Write,
            slow_threshold(executor),
            (table = M::TABLE_NAME, id = self.row_id()),
            set_by_id(executor.__target(), self)
        )
    }
}

/// What one update by id writes.
struct Assignments {
    /// The columns set, in order, and their values.
    columns: Vec<usize>,
    values: Vec<Value>,
    /// The version column, bumped by the statement (`v = v + 1`).
    bumped: Option<usize>,
}

impl Assignments {
    fn of<T: Schema>(update: &Update<T>) -> Result<Self> {
        let (columns, values) = update
            .assignments(Value::TimestampTz(now()))?
            .into_iter()
            .unzip();
        Ok(Self {
            columns,
            values,
            bumped: T::MODEL_META.version,
        })
    }

    /// Every column the statement changes.
    fn changed(&self) -> Vec<usize> {
        self.columns.iter().copied().chain(self.bumped).collect()
    }

    /// The row's indexed values after the statement, from those `before` it.
    fn after(&self, before: &[(usize, Value)]) -> Vec<(usize, Value)> {
        before
            .iter()
            .map(|(column, old)| {
                let new = match self.columns.iter().position(|at| at == column) {
                    Some(at) => self.values[at].clone(),
                    None if Some(*column) == self.bumped => match old {
                        Value::Int(version) => Value::Int(version.wrapping_add(1)),
                        other => other.clone(),
                    },
                    None => old.clone(),
                };
                (*column, new)
            })
            .collect()
    }
}

async fn set_by_id<T: Schema>(target: Target<'_>, update: &Update<T>) -> Result<()> {
    let set = Assignments::of(update)?;
    let changed = set.changed();
    let write = RowWrite {
        id: update.row_id(),
        membership: T::MODEL_META
            .deleted
            .is_some_and(|deleted| changed.contains(&deleted)),
        changed,
        ..Default::default()
    };
    execute::<T>(target, Change::Set(&set), write, WriteKind::Update).await
}

/// What a write by id does to the row's columns.
#[derive(Clone, Copy)]
enum Change<'a> {
    /// `SET c = ?, …` (an [`Update`]).
    Set(&'a Assignments),
    /// `SET c = c + delta` (`incr`).
    Add { column: usize, delta: &'a Value },
}

impl Change<'_> {
    /// The row's indexed values after the change, from those `before` it.
    fn after<T: Schema>(self, before: &[(usize, Value)]) -> Vec<(usize, Value)> {
        match self {
            Self::Set(set) => set.after(before),
            Self::Add { column, delta } => before
                .iter()
                .map(|(at, value)| match (value, delta) {
                    (Value::Int(old), Value::Int(delta)) if *at == column => {
                        (*at, Value::Int(old.wrapping_add(*delta)))
                    }
                    (Value::Int(version), _) if Some(*at) == T::MODEL_META.version => {
                        (*at, Value::Int(version.wrapping_add(1)))
                    }
                    _ => (*at, value.clone()),
                })
                .collect(),
        }
    }

    /// The statement, guarded by the indexed values `before` (none:
    /// unguarded); [`Error::NotFound`] when it matches no row.
    async fn run<T, DB>(
        self,
        session: &mut Session<'_, DB>,
        id: i64,
        before: &[(usize, Value)],
    ) -> Result<(), Unwritten>
    where
        T: Schema + ModelIo<DB>,
        DB: Backend,
    {
        match self {
            Self::Set(set) => assign::<T, DB>(session, id, set, before).await,
            Self::Add { column, delta } => {
                increment::<T, DB>(session, id, column, delta, before).await
            }
        }
    }
}

/// Runs `change` on the row of `write` (which holds what it does to the row,
/// without the indexed values), then tells the listeners it was `kind`.
async fn execute<T: Schema>(
    target: Target<'_>,
    change: Change<'_>,
    write: RowWrite,
    kind: WriteKind,
) -> Result<()> {
    let (id, announced) = (write.id, write.changed.clone());
    let done = unannounced::<T>(target, change, write).await;
    if done.is_ok() {
        announce::<T>(target, id, kind, &announced);
    }
    done
}

/// [`execute`] without telling the listeners.
async fn unannounced<T: Schema>(
    target: Target<'_>,
    change: Change<'_>,
    write: RowWrite,
) -> Result<()> {
    let id = write.id;
    let cache = match cache_of(target) {
        Some(cache) if guarded_columns::<T>().next().is_some() => cache,
        // No value stamps to bump: the old values are not needed, and the
        // statement has nothing to guard.
        _ => {
            return guarded::<T>(target, change, &[], write)
                .await
                .map(drop)
                .map_err(Error::from);
        }
    };
    let done = hinted_or_locked::<T>(target, change, write).await;
    match &done {
        Ok(after) => cache.value_hints.set::<T>(id, after),
        Err(_) => cache.value_hints.forget::<T>(id),
    }
    done.map(drop)
}

/// `change` guarded by a hint of the row's indexed values (through a `Db`),
/// else, or when the guard matched nothing, with them read locked; returns
/// them as the change left them.
async fn hinted_or_locked<T: Schema>(
    target: Target<'_>,
    change: Change<'_>,
    write: RowWrite,
) -> Result<Vec<(usize, Value)>> {
    if let Target::Db(db) = target {
        let before = hinted_values::<T>(db, write.id).await?;
        match guarded::<T>(target, change, &before, write.clone()).await {
            Err(Unwritten::Missed { .. }) => {}
            done => return done.map_err(Error::from),
        }
    }
    locked::<T>(target, change, write).await
}

/// A hint of the indexed values of row `id`: as this handle's last save or
/// write by id left them, else as the cache holds the row, else as a `SELECT`
/// reads it now. The write checks each value; a hint must name every indexed
/// column of `T`, since the stamps of a column it leaves out would not move.
async fn hinted_values<T: Schema>(db: &Db, id: i64) -> Result<Vec<(usize, Value)>> {
    let hint = db.cache().and_then(|cache| cache.value_hints.get::<T>(id));
    if let Some(hint) = hint.filter(|hint| {
        hint.iter()
            .map(|(column, _)| *column)
            .eq(guarded_columns::<T>())
    }) {
        return Ok(hint.to_vec());
    }
    if let Some(row) = store::cached_row::<T>(db, id).await {
        return Ok(indexed_values(&row));
    }
    let row = with_session!(Target::Db(db), |session| {
        select_by_id::<T, _>(&mut session, id).await
    })?;
    row.map(|row| indexed_values(&row))
        .ok_or_else(|| Error::not_found(T::TABLE_NAME, id))
}

/// `change` guarded by the indexed values `before` (none: unguarded);
/// [`Unwritten::Missed`] when the row no longer has them. Returns the values
/// the change left.
async fn guarded<T: Schema>(
    target: Target<'_>,
    change: Change<'_>,
    before: &[(usize, Value)],
    mut write: RowWrite,
) -> Result<Vec<(usize, Value)>, Unwritten> {
    let id = write.id;
    write.before = before.to_vec();
    write.after = change.after::<T>(before);
    let keys = keys_of::<T>(target, &write);
    write_through(
        target,
        &keys,
        |_| keys.clone(),
        async |target| {
            with_session!(target, |session| {
                change.run::<T, _>(&mut session, id, before).await
            })
        },
    )
    .await?;
    Ok(write.after)
}

/// `change` with the row's indexed values read locked, in a transaction.
async fn locked<T: Schema>(
    target: Target<'_>,
    change: Change<'_>,
    mut write: RowWrite,
) -> Result<Vec<(usize, Value)>> {
    let id = write.id;
    atomically(target, async |tx: &Transaction| {
        let target = Target::Tx(tx);
        let current = locked_row::<T>(target, id).await?;
        write.before = indexed_values(&current);
        write.after = change.after::<T>(&write.before);
        with_session!(target, |session| {
            change.run::<T, _>(&mut session, id, &[]).await
        })?;
        record::<T>(tx, &write);
        Ok(write.after)
    })
    .await
}

/// The `UPDATE`, guarded by the indexed values `before` (none: unguarded);
/// [`Unwritten::Missed`] when it matches no row.
async fn assign<T, DB>(
    session: &mut Session<'_, DB>,
    id: i64,
    set: &Assignments,
    before: &[(usize, Value)],
) -> Result<(), Unwritten>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    for (&column, value) in set.columns.iter().zip(&set.values) {
        DB::bind_column_value(value, T::COLUMN_DEFS[column].sql_type, &mut args)
            .map_err(Error::encode)?;
    }
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let guards = bind_guards::<T, DB>(before, &mut args)?;
    let sql = dynamic(sql::set::<T>(
        DB::DIALECT,
        &set.columns,
        set.bumped,
        &guards,
    ));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected == 0 {
        return Err(Unwritten::Missed {
            table: T::TABLE_NAME,
            id,
        });
    }
    Ok(())
}

/// The guards of the indexed values `before` (`= ?`, or `IS NULL`), their
/// values bound to `args`.
fn bind_guards<T: Schema, DB: Backend>(
    before: &[(usize, Value)],
    args: &mut DB::Arguments,
) -> Result<Vec<Guard>> {
    let mut guards = Vec::with_capacity(before.len());
    for (column, value) in before {
        if let Value::Null = value {
            guards.push(Guard::IsNull(*column));
        } else {
            guards.push(Guard::Equals(*column));
            DB::bind_column_value(value, T::COLUMN_DEFS[*column].sql_type, args)
                .map_err(Error::encode)?;
        }
    }
    Ok(guards)
}

/// `SET column = column + delta`, guarded by the indexed values `before`
/// (none: unguarded). [`Unwritten::Missed`] when it matches no row; unguarded,
/// [`Error::InvalidInput`] when the row is there but the sum would leave the
/// column's range. (Guarded, a miss may be either, or a wrong hint: the
/// caller runs it again unguarded, locked.)
async fn increment<T, DB>(
    session: &mut Session<'_, DB>,
    id: i64,
    column: usize,
    delta: &Value,
    before: &[(usize, Value)],
) -> Result<(), Unwritten>
where
    T: Schema + ModelIo<DB>,
    DB: Backend,
{
    let mut args = DB::Arguments::default();
    DB::bind_value(delta, &mut args).map_err(Error::encode)?;
    if T::MODEL_META.updated_at.is_some() {
        DB::bind_timestamp(now(), &mut args).map_err(Error::encode)?;
    }
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let guards = bind_guards::<T, DB>(before, &mut args)?;
    let range = T::COLUMN_DEFS[column].sql_type.integer_range();
    if let Some(range) = range {
        let (low, high) = values_before(range, delta);
        DB::bind_id(low, &mut args).map_err(Error::encode)?;
        DB::bind_id(high, &mut args).map_err(Error::encode)?;
    }
    let sql = dynamic(sql::increment::<T>(DB::DIALECT, column, &guards));
    let (affected, _) = session.execute(StatementKind::Update, sql, args).await?;
    if affected > 0 {
        return Ok(());
    }
    let missed = Unwritten::Missed {
        table: T::TABLE_NAME,
        id,
    };
    if !guards.is_empty() {
        return Err(missed);
    }
    // No row, or the sum would leave the column's range.
    match (range, select_by_id::<T, DB>(session, id).await?) {
        (Some((min, max)), Some(_)) => Err(Error::invalid_input(format_args!(
            "incr: {}.{} + {delta:?} would leave its range {min}..={max}; nothing was written",
            T::TABLE_NAME,
            T::COLUMN_DEFS[column].name
        ))
        .into()),
        _ => Err(missed),
    }
}

/// The values an integer column may hold before `delta` is added so that the
/// sum stays in `range`: `min - delta ..= max - delta`, computed here so that
/// the statement does no arithmetic that could overflow (SQLite turns an
/// overflowing sum into a REAL, which compares equal to `i64::MIN`).
/// Clamped to `i64`, which cannot widen it: the column holds only `range`.
fn values_before((min, max): (i64, i64), delta: &Value) -> (i64, i64) {
    let Value::Int(delta) = *delta else {
        return (min, max);
    };
    let clamp = |value: i128| value.clamp(i64::MIN.into(), i64::MAX.into()) as i64;
    let delta = i128::from(delta);
    (
        clamp(i128::from(min) - delta),
        clamp(i128::from(max) - delta),
    )
}

/// `incr`: `SET column = column + delta`, in one statement when there is no
/// cache or the model has no indexed columns besides the id, else guarded by
/// a hint of their values or with the row read locked first (see [`by_id`]).
pub(crate) async fn incr<T: Schema, E: Executor + ?Sized>(
    executor: &E,
    id: i64,
    column: usize,
    delta: Value,
) -> Result<()> {
    if Some(column) == T::MODEL_META.version {
        return Err(Error::invalid_input(format_args!(
            "incr: {}.{} is the version column, which every write bumps by itself",
            T::TABLE_NAME,
            T::COLUMN_DEFS[column].name
        )));
    }
    let mut changed = vec![column];
    changed.extend(T::MODEL_META.updated_at);
    changed.extend(T::MODEL_META.version);
    let write = RowWrite {
        id,
        changed,
        ..Default::default()
    };
    let change = Change::Add {
        column,
        delta: &delta,
    };
    execute::<T>(executor.__target(), change, write, WriteKind::Increment).await
}

#[cfg(test)]
mod tests {
    use super::values_before;
    use crate::value::Value;

    #[test]
    fn the_range_before_an_increment_never_overflows() {
        let full = (i64::MIN, i64::MAX);
        assert_eq!(
            values_before(full, &Value::Int(-1)),
            (i64::MIN + 1, i64::MAX)
        );
        assert_eq!(
            values_before(full, &Value::Int(1)),
            (i64::MIN, i64::MAX - 1)
        );
        assert_eq!(values_before(full, &Value::Int(i64::MIN)), (0, i64::MAX));
        let unsigned = (0, i64::from(u32::MAX));
        assert_eq!(
            values_before(unsigned, &Value::Int(i64::MIN)),
            (i64::MAX, i64::MAX)
        );
        assert_eq!(values_before((-128, 127), &Value::Int(100)), (-228, 27));
    }
}
