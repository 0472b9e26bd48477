//! `update_or_create`: the first match updated, or a default row created,
//! in one transaction, run again when it lost to a concurrent caller.

use super::lifecycle::Hooks;
use super::protocol::atomically;
use super::save::save;
use crate::db::executor::{Executor, Target};
use crate::db::transaction::Transaction;
use crate::error::{Error, Result};
use crate::query::Query;
use crate::query::filter::Filter;
use crate::read::select;
use crate::schema::Schema;

/// How many times `update_or_create` runs when it keeps losing to concurrent
/// callers.
const UPSERT_ATTEMPTS: u32 = 12;

/// How long `update_or_create` waits before its attempt `attempt` (from 2):
/// a random time below 1 ms doubled per attempt, up to 64 ms, so that callers
/// who lost together (a deadlock on MySQL's gap locks picks one victim of
/// each pair) do not meet again on their next attempt.
fn upsert_backoff(attempt: u32) -> std::time::Duration {
    let ceiling = 1_000u64 << attempt.saturating_sub(2).min(6);
    let random = getrandom::u64().unwrap_or(u64::from(attempt) * 7_919);
    std::time::Duration::from_micros(random % ceiling)
}

/// `update_or_create`: the first match updated (read locked), or a default
/// row created, in one transaction. When the transaction is its own and it
/// lost to a concurrent caller — its insert beaten (a unique violation), or
/// the database chose it as a deadlock's victim (MySQL's gap locks on the
/// missing row) — it waits a little ([`upsert_backoff`]) and runs again, and
/// then finds the row.
pub(crate) async fn update_or_create<T, E, F>(
    executor: &E,
    filter: Filter<T>,
    mut apply: F,
) -> Result<(T, bool)>
where
    T: Schema + Hooks + Default,
    E: Executor + ?Sized,
    F: FnMut(&mut T) + Send,
{
    let query = Query::<T>::new().filter(filter);
    let target = executor.__target();
    let mut attempt = 1;
    loop {
        let result = atomically(target, async |tx: &Transaction| {
            let found = select::locked_rows(&query, Target::Tx(tx), Some((0, 1)))
                .await?
                .pop();
            let created = found.is_none();
            let mut row = found.unwrap_or_default();
            apply(&mut row);
            save(tx, &mut row).await?;
            Ok((row, created))
        })
        .await;
        match result {
            Err(err)
                if matches!(target, Target::Db(_))
                    && attempt < UPSERT_ATTEMPTS
                    && lost_to_a_concurrent_caller(&err) =>
            {
                attempt += 1;
                tokio::time::sleep(upsert_backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Whether `err` says the transaction lost to another and was rolled back: a
/// unique violation, a serialization failure or a deadlock (SQLSTATE 40001,
/// 40P01).
fn lost_to_a_concurrent_caller(err: &Error) -> bool {
    err.as_database_error().is_some_and(|db| {
        db.is_unique_violation() || matches!(db.code().as_deref(), Some("40001" | "40P01"))
    })
}
