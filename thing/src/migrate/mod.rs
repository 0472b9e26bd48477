//! Migrations: [`Db::migrate`] brings an existing table to what its model
//! declares by adding what is missing (the table, columns, indexes), and
//! reports every other difference without touching it; [`Db::plan_migration`]
//! returns the same steps without running them; a [`Migrator`] does either
//! for many models.

pub(crate) mod ddl;

mod introspect;
mod plan;

use crate::backend::dialect::Dialect;
use crate::db::executor::{Target, with_session};
use crate::db::handle::Db;
use crate::error::Result;
use crate::migrate::ddl::run_ddl;
use crate::schema::Schema;
use futures_util::future::BoxFuture;
use std::fmt;

/// What a migration of one model's table found, and did.
///
/// ```
/// # use thing::{Db, Thing};
/// #[derive(Thing, Default)]
/// struct Item { id: i64, name: String }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// let done = db.migrate::<Item>().await?; // no table yet: it is created
/// assert!(done.applied);
/// assert!(done.statements()[0].starts_with("CREATE TABLE"));
/// assert!(db.migrate::<Item>().await?.is_up_to_date());
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migration {
    /// The model's table.
    pub table: &'static str,
    /// Every difference found: the additions first (in the order they run),
    /// then what is only reported.
    pub steps: Vec<MigrationStep>,
    /// Whether the additions were run (`false` for a plan, and when there was
    /// nothing to run).
    pub applied: bool,
}

/// One difference between a table and its model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationStep {
    /// The table does not exist: `CREATE TABLE` and its indexes.
    CreateTable {
        /// The statements, in order.
        statements: Vec<String>,
    },
    /// A column the model declares and the table lacks: `ALTER TABLE ... ADD
    /// COLUMN`. A `NOT NULL` column without a `#[thing(default = "...")]`
    /// gets the zero of its type (`0`, `FALSE`, empty) for the rows already
    /// there.
    AddColumn {
        /// The column.
        column: &'static str,
        /// The statement.
        sql: String,
    },
    /// An index the model declares (`index`, `unique`) that the table lacks.
    AddIndex {
        /// The column.
        column: &'static str,
        /// Whether it is unique.
        unique: bool,
        /// The statement.
        sql: String,
    },
    /// Reported, not changed: the column exists with another type or
    /// nullability. Changing it may rewrite or lose data; do it by hand (and
    /// its index, if the model asks for one, is not added until then).
    ColumnDiffers {
        /// The column.
        column: &'static str,
        /// What the model declares, as this database spells it.
        expected: String,
        /// What the table has, as its catalog spells it.
        found: String,
    },
    /// Reported, not added: a `NOT NULL` column whose type has no obvious
    /// value for the rows already there (a time, a UUID, JSON). Give the
    /// field `#[thing(default = "...")]`, or make it an `Option`.
    NeedsDefault {
        /// The column.
        column: &'static str,
    },
    /// Reported, left alone: a column of the table that the model does not
    /// declare. Migrations never drop columns.
    ExtraColumn {
        /// The column.
        column: String,
    },
}

impl MigrationStep {
    /// The statements this step runs (none for a step that is only reported).
    pub fn statements(&self) -> &[String] {
        match self {
            Self::CreateTable { statements } => statements,
            Self::AddColumn { sql, .. } | Self::AddIndex { sql, .. } => std::slice::from_ref(sql),
            Self::ColumnDiffers { .. } | Self::NeedsDefault { .. } | Self::ExtraColumn { .. } => {
                &[]
            }
        }
    }

    /// Whether the step is only reported: a difference for a person to
    /// resolve.
    pub fn is_reported(&self) -> bool {
        self.statements().is_empty()
    }
}

impl fmt::Display for MigrationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateTable { statements } => write!(f, "{}", statements.join("; ")),
            Self::AddColumn { sql, .. } | Self::AddIndex { sql, .. } => f.write_str(sql),
            Self::ColumnDiffers {
                column,
                expected,
                found,
            } => write!(
                f,
                "not changed: column `{column}` is {found} in the table, the model declares {expected}"
            ),
            Self::NeedsDefault { column } => write!(
                f,
                "not added: column `{column}` is NOT NULL and needs #[thing(default = \"...\")] \
                 for the rows already there"
            ),
            Self::ExtraColumn { column } => {
                write!(f, "left alone: column `{column}` is not in the model")
            }
        }
    }
}

impl Migration {
    /// The SQL of every addition, in order: what [`Db::migrate`] runs, or ran.
    pub fn statements(&self) -> Vec<&str> {
        self.steps
            .iter()
            .flat_map(MigrationStep::statements)
            .map(String::as_str)
            .collect()
    }

    /// Whether the table already matches the model: no step at all.
    pub fn is_up_to_date(&self) -> bool {
        self.steps.is_empty()
    }

    /// The differences only reported (types, defaults, extra columns).
    pub fn reported(&self) -> impl Iterator<Item = &MigrationStep> {
        self.steps.iter().filter(|step| step.is_reported())
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return write!(f, "{}: up to date", self.table);
        }
        let verb = if self.applied { "ran" } else { "would run" };
        write!(f, "{}:", self.table)?;
        for step in &self.steps {
            let lead = if step.is_reported() { "" } else { verb };
            write!(
                f,
                "\n  {lead}{}{step}",
                if lead.is_empty() { "" } else { " " }
            )?;
        }
        Ok(())
    }
}

impl Db {
    /// Brings `T`'s table to what the model declares: creates it when it is
    /// missing, adds missing columns and indexes, and reports every other
    /// difference (a column's type or nullability, a column the model does
    /// not have) without changing it. Nothing is dropped or rewritten.
    ///
    /// On SQLite and PostgreSQL the additions run in one transaction: all or
    /// none. MySQL commits each DDL statement on its own: after a failure,
    /// the statements before it stay applied (run it again once the cause is
    /// fixed).
    ///
    /// Run migrations from one process at a time.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # use thing::migrate::MigrationStep;
    /// mod v1 {
    ///     #[derive(thing::Thing, Default)]
    ///     #[thing(table = "items")]
    ///     pub struct Item { pub id: i64, pub name: String }
    /// }
    /// #[derive(Thing, Default)]
    /// #[thing(table = "items")]
    /// struct Item { id: i64, name: String, #[thing(index)] stock: i32 }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.create_table::<v1::Item>().await?;
    /// let mut pen = v1::Item { name: "pen".into(), ..Default::default() };
    /// pen.save(&db).await?;
    ///
    /// let done = db.migrate::<Item>().await?;
    /// assert_eq!(done.statements(), [
    ///     r#"ALTER TABLE "items" ADD COLUMN "stock" INTEGER NOT NULL DEFAULT 0"#,
    ///     r#"CREATE INDEX IF NOT EXISTS "ix_items_stock" ON "items" ("stock")"#,
    /// ]);
    /// assert_eq!(Item::by_id(&db, pen.id).await?.stock, 0); // the row is kept
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn migrate<T: Schema>(&self) -> Result<Migration> {
        self.migration::<T>(true).await
    }

    /// The steps [`Db::migrate`] would take, without running them (a dry
    /// run): it only reads the database's catalog.
    ///
    /// ```
    /// # use thing::{Db, Thing};
    /// # #[derive(Thing, Default)] struct Item { id: i64, name: String }
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let db = Db::connect("sqlite::memory:").await?;
    /// let plan = db.plan_migration::<Item>().await?;
    /// assert!(!plan.applied);
    /// println!("{plan}"); // items: would run CREATE TABLE IF NOT EXISTS "items" (...)
    /// assert!(db.plan_migration::<Item>().await?.statements()[0].starts_with("CREATE TABLE"));
    /// # Ok::<(), thing::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn plan_migration<T: Schema>(&self) -> Result<Migration> {
        self.migration::<T>(false).await
    }

    /// The migration of `T`, run when `apply`.
    async fn migration<T: Schema>(&self, apply: bool) -> Result<Migration> {
        let found = with_session!(Target::Db(self), |session| {
            introspect::read_table(&mut session, T::TABLE_NAME).await
        })?;
        let steps = plan::plan::<T>(self.dialect(), found.as_ref());
        let statements: Vec<String> = steps
            .iter()
            .flat_map(MigrationStep::statements)
            .cloned()
            .collect();
        let applied = apply && !statements.is_empty();
        if applied {
            self.run_additions(statements).await?;
        }
        Ok(Migration {
            table: T::TABLE_NAME,
            steps,
            applied,
        })
    }

    /// Runs a migration's statements: in one transaction where DDL is
    /// transactional, one by one on MySQL.
    async fn run_additions(&self, statements: Vec<String>) -> Result<()> {
        if self.dialect() == Dialect::MySql {
            return with_session!(Target::Db(self), |session| {
                run_ddl(&mut session, statements).await
            });
        }
        self.run_transaction(async |tx| {
            with_session!(Target::Tx(tx), |session| {
                run_ddl(&mut session, statements).await
            })
        })
        .await
    }
}

/// Migrations of many models, in the order they were added.
///
/// ```
/// # use thing::{Db, Thing};
/// # use thing::migrate::Migrator;
/// # #[derive(Thing, Default)] struct User { id: i64, name: String }
/// # #[derive(Thing, Default)] struct Post { id: i64, user_id: i64 }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// let migrator = Migrator::new().model::<User>().model::<Post>();
/// assert_eq!(migrator.plan(&db).await?.len(), 2);
/// for done in migrator.migrate(&db).await? {
///     println!("{done}");
/// }
/// assert!(migrator.plan(&db).await?.iter().all(|m| m.is_up_to_date()));
/// # Ok::<(), thing::Error>(())
/// # }).unwrap();
/// ```
#[derive(Default)]
pub struct Migrator {
    models: Vec<ModelMigration>,
}

/// The migration of one model, run (`true`) or planned.
type ModelMigration = for<'a> fn(&'a Db, bool) -> BoxFuture<'a, Result<Migration>>;

fn model_migration<T: Schema>(db: &Db, apply: bool) -> BoxFuture<'_, Result<Migration>> {
    Box::pin(db.migration::<T>(apply))
}

impl Migrator {
    /// No models yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `T`.
    pub fn model<T: Schema>(mut self) -> Self {
        self.models.push(model_migration::<T>);
        self
    }

    /// [`Db::migrate`] of each model, in order; stops at the first error.
    pub async fn migrate(&self, db: &Db) -> Result<Vec<Migration>> {
        self.each(db, true).await
    }

    /// [`Db::plan_migration`] of each model, in order.
    pub async fn plan(&self, db: &Db) -> Result<Vec<Migration>> {
        self.each(db, false).await
    }

    async fn each(&self, db: &Db, apply: bool) -> Result<Vec<Migration>> {
        let mut done = Vec::with_capacity(self.models.len());
        for migration in &self.models {
            done.push(migration(db, apply).await?);
        }
        Ok(done)
    }
}

impl fmt::Debug for Migrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Migrator({} models)", self.models.len())
    }
}
