//! Schema creation: [`Db::create_table`] and [`Db::drop_table`].

use crate::backend::{Backend, Session};
use crate::db::executor::{Target, with_session};
use crate::db::handle::Db;
use crate::error::Result;
use crate::schema::Schema;
use crate::sql;
use crate::stats::StatementKind;

impl Db {
    /// Creates the model's table and indexes if they do not exist.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, #[thing(unique)] name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<Item>().await?;
    /// db.create_table::<Item>().await?; // idempotent
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn create_table<T: Schema>(&self) -> Result<()> {
        let statements = sql::create_table::<T>(self.dialect());
        with_session!(Target::Db(self), |session| run_ddl(
            &mut session,
            statements
        )
        .await)
    }

    /// Drops the model's table if it exists.
    pub async fn drop_table<T: Schema>(&self) -> Result<()> {
        let statements = vec![sql::drop_table::<T>(self.dialect())];
        with_session!(Target::Db(self), |session| run_ddl(
            &mut session,
            statements
        )
        .await)
    }
}

async fn run_ddl<DB: Backend>(
    session: &mut Session<'_, DB>,
    statements: Vec<String>,
) -> Result<()> {
    for statement in statements {
        session
            .execute(
                StatementKind::Other,
                sql::dynamic(statement),
                DB::Arguments::default(),
            )
            .await?;
    }
    Ok(())
}
