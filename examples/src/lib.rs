//! Runnable examples; see `cargo run --example quickstart`.
//!
//! Every example runs on SQLite in memory, or on the database `DATABASE_URL`
//! names (`postgres://…`, `mysql://…`, `sqlite://file.db`), where it starts
//! with fresh tables.

use thing::{Db, Thing};

/// `DATABASE_URL`, or SQLite in memory.
///
/// ```
/// assert!(!examples::database_url().is_empty());
/// ```
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into())
}

/// Drops `T`'s table if an earlier run left it, and creates it empty.
///
/// ```
/// # use thing::{Db, Thing};
/// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// examples::fresh_table::<Item>(&db).await?;
/// assert_eq!(Item::query().count(&db).await?, 0);
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
pub async fn fresh_table<T: Thing>(db: &Db) -> thing::Result<()> {
    db.drop_table::<T>().await?;
    db.create_table::<T>().await
}
