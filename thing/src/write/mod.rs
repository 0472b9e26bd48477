//! Writes: `save`, `delete`, `restore`, `incr`, `Update::execute`,
//! `update_or_create` and the batch forms, each in its own module, and the one
//! write protocol they all follow ([`protocol`]):
//!
//! 1. before the commit, lock the rows and stamps the write touches and bump
//!    the stamps;
//! 2. the statement (autocommit), or the transaction's `COMMIT`;
//! 3. after it, invalidate the rows, bump the stamps again and unlock; after a
//!    failure, only unlock. When the lock cannot reach the cache, the write
//!    policy decides (refuse, go on, or record the keys in the outbox).
//!
//! Inside a transaction, steps 1 and 3 run around its `COMMIT`
//! ([`Transaction::commit`](crate::Transaction::commit), in
//! [`transaction`]). The stamps need the old values of the indexed columns: a
//! write takes them from the row's snapshot and guards its statement with them
//! ([`guard`]); when the guard matches nothing (the row changed since it was
//! read) or there is no snapshot, it reads them with the row locked, in a
//! transaction, and writes there. What a committed write tells (hooks,
//! listeners, hints) is [`after`]'s.

mod after;
mod batch;
mod by_id;
pub(crate) mod change;
mod delete;
mod guard;
pub(crate) mod lifecycle;
mod protocol;
mod save;
mod transaction;
mod upsert;

pub(crate) use batch::{delete_many, save_many};
pub(crate) use by_id::incr;
pub(crate) use delete::{delete, restore};
pub(crate) use save::save;
pub(crate) use upsert::update_or_create;
