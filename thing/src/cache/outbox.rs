//! The outbox: invalidations kept in the database, for writes whose lock could
//! not reach a shared cache.
//!
//! Such a write records its row keys and stamps in the table `thing_outbox`
//! inside its own transaction, so they are committed exactly when the write
//! is. Every `Db` on a shared cache [drains](drain) the table in the
//! background: it applies what it finds to the cache (rows invalidated, stamps
//! bumped), then deletes those entries. Whichever process reaches the cache
//! first applies them, even when the writer died right after its commit. The
//! writer returns only once its entry is gone ([`holds`]), and a process
//! drains before it reads from a cache it could not reach.

use super::{Cache, WriteKeys};
use crate::backend::dialect::Dialect;
use crate::backend::{Backend, Collect, Op, Outcome};
use crate::error::{Error, Result};
pub(crate) use crate::sql::outbox::TABLE;
use crate::sql::outbox::{SELECT_SQL, create_sql, delete_sql, holds_sql, insert_sql};
use crate::sql::{dynamic, fixed};
use crate::value::Value;

/// The stored form of `keys`: a JSON array of the row keys and one of the
/// stamps.
fn encode(keys: &WriteKeys) -> String {
    serde_json::to_string(&(&keys.rows, &keys.stamps)).expect("strings serialize")
}

/// `keys` from their stored form; `None` for anything else.
fn decode(stored: &str) -> Option<WriteKeys> {
    let (rows, stamps) = serde_json::from_str(stored).ok()?;
    Some(WriteKeys { rows, stamps })
}

/// Creates the outbox table if it is missing.
pub(crate) async fn create<DB: Backend>(pool: &sqlx::Pool<DB>) -> Result<()> {
    let mut conn = pool.acquire().await?;
    DB::run(
        &mut conn,
        &mut Op::Execute,
        fixed(create_sql(DB::DIALECT)),
        DB::Arguments::default(),
    )
    .await?;
    Ok(())
}

/// Records `keys` in the outbox, on `conn` (inside the write's transaction);
/// returns the entry's id.
pub(crate) async fn record<DB: Backend>(
    conn: &mut DB::Connection,
    keys: &WriteKeys,
) -> Result<i64> {
    let mut args = DB::Arguments::default();
    DB::bind_value(&Value::Text(encode(keys)), &mut args).map_err(Error::encode)?;
    let sql = fixed(insert_sql(DB::DIALECT));
    let no_id = || Error::protocol("the outbox INSERT returned no id");
    if DB::DIALECT == Dialect::Postgres {
        let Outcome::Row(Some(row)) = DB::run(conn, &mut Op::Optional, sql, args).await? else {
            return Err(no_id());
        };
        return Ok(DB::decode_id(&row)?);
    }
    match DB::run(conn, &mut Op::Execute, sql, args).await? {
        Outcome::Done(_, Some(id)) => Ok(id),
        _ => Err(no_id()),
    }
}

/// Records `keys` in the outbox on a connection of `pool` (autocommit);
/// returns the entry's id.
pub(crate) async fn record_on<DB: Backend>(pool: &sqlx::Pool<DB>, keys: &WriteKeys) -> Result<i64> {
    let mut conn = pool.acquire().await?;
    record::<DB>(&mut conn, keys).await
}

/// Whether the outbox still holds entry `id`: no process applied it yet.
pub(crate) async fn holds<DB: Backend>(pool: &sqlx::Pool<DB>, id: i64) -> Result<bool> {
    let mut conn = pool.acquire().await?;
    let mut args = DB::Arguments::default();
    DB::bind_id(id, &mut args).map_err(Error::encode)?;
    let sql = fixed(holds_sql(DB::DIALECT));
    let found = DB::run(&mut conn, &mut Op::Optional, sql, args).await?;
    Ok(matches!(found, Outcome::Row(Some(_))))
}

/// Applies the oldest outbox entries (up to 100) to `cache` and deletes them;
/// returns how many. An entry is deleted only once the cache took it. An
/// entry that is not in Thing's format is deleted with a warning.
pub(crate) async fn drain<DB: Backend>(pool: &sqlx::Pool<DB>, cache: &dyn Cache) -> Result<usize> {
    let mut conn = pool.acquire().await?;
    let mut collect = Collect::new(0, |row: &DB::Row| {
        Ok((DB::decode_id(row)?, DB::decode_text(row, 1)?))
    });
    let select = fixed(SELECT_SQL);
    let args = DB::Arguments::default();
    DB::run(&mut conn, &mut Op::Each(&mut collect), select, args).await?;
    let entries = collect.into_items();
    if entries.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(entries.len());
    let mut keys = WriteKeys::default();
    for (id, stored) in entries {
        ids.push(id);
        match decode(&stored) {
            Some(entry) => keys.extend(entry),
            None => tracing::warn!(
                table = TABLE,
                "dropping an outbox entry not in Thing's format"
            ),
        }
    }
    keys.dedup();
    cache.invalidate(&keys.rows).await?;
    cache.bump(&keys.stamps).await?;
    let mut args = DB::Arguments::default();
    for id in &ids {
        DB::bind_id(*id, &mut args).map_err(Error::encode)?;
    }
    let delete = dynamic(delete_sql(DB::DIALECT, ids.len()));
    DB::run(&mut conn, &mut Op::Execute, delete, args).await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::{decode, delete_sql, encode};
    use crate::backend::dialect::Dialect;
    use crate::cache::WriteKeys;

    #[test]
    fn entries_round_trip_and_anything_else_is_refused() {
        let keys = WriteKeys {
            rows: vec!["thing:users:v2:7".into()],
            stamps: vec![
                "thing:users:s:v:name:a\"b\n".into(),
                "thing:users:s:m".into(),
            ],
        };
        assert_eq!(decode(&encode(&keys)), Some(keys));
        assert_eq!(decode("not json"), None);
        assert_eq!(decode("[1, 2]"), None);
    }

    #[test]
    fn deletes_name_each_id() {
        assert_eq!(
            delete_sql(Dialect::Postgres, 3),
            "DELETE FROM thing_outbox WHERE id IN ($1, $2, $3)"
        );
        assert_eq!(
            delete_sql(Dialect::MySql, 1),
            "DELETE FROM thing_outbox WHERE id IN (?)"
        );
    }
}
