//! Model hooks and write listeners: normalize and validate a value before it
//! is saved, refuse a delete, react once a write has committed — and a
//! listener on the `Db` that sees every model's writes, as a search index
//! would.
//!
//! ```text
//! cargo run --example 04_hooks
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use std::sync::{Arc, Mutex};
use thing::{BaseModel, BoxError, Db, Error, Executor, Hooks, Thing, WriteEvent};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "members", hooks)]
pub struct Member {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(unique)]
    pub email: String,
    pub admin: bool,
}

impl Hooks for Member {
    /// Every save: a trimmed, lower-case address, or no save at all.
    async fn before_save(&mut self, _: &dyn Executor) -> Result<(), BoxError> {
        self.email = self.email.trim().to_lowercase();
        if !self.email.contains('@') {
            return Err(format!("`{}` is not an email address", self.email).into());
        }
        Ok(())
    }

    /// Deletes read through the write's own executor: the last admin stays.
    async fn before_delete(&self, executor: &dyn Executor) -> Result<(), BoxError> {
        let admins = Member::query()
            .filter(Member::ADMIN.eq(true))
            .count(executor)
            .await?;
        if self.admin && admins <= 1 {
            return Err("the last admin cannot be deleted".into());
        }
        Ok(())
    }

    /// Runs once the row is committed (after `COMMIT`, inside a transaction).
    async fn after_create(&self, _: &Db) {
        println!("  after_create: welcome mail to {}", self.email);
    }
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let index: Arc<Mutex<Vec<String>>> = Arc::default();
    let feed = index.clone();
    let db = Db::builder(&examples::database_url())
        .on_write(move |event: &WriteEvent| feed.lock().unwrap().push(event.to_string()))
        .build()
        .await?;
    examples::fresh_table::<Member>(&db).await?;

    println!("save \"  Ann@Example.COM \":");
    let mut ann = Member {
        email: "  Ann@Example.COM ".into(),
        admin: true,
        ..Default::default()
    };
    ann.save(&db).await?;
    println!(
        "  stored as {:?}",
        Member::by_id(&db, ann.base.id).await?.email
    );

    println!("save \"nobody\":");
    let mut nobody = Member {
        email: "nobody".into(),
        ..Default::default()
    };
    match nobody.save(&db).await {
        Err(Error::Hook { hook, source, .. }) => println!("  refused by {hook}: {source}"),
        other => println!("  unexpected: {other:?}"),
    }
    println!("  members: {}", Member::query().count(&db).await?);

    println!("delete the only admin:");
    if let Err(err) = ann.delete(&db).await {
        println!("  {err}");
    }

    println!("two members in a transaction, rolled back:");
    let tx = db.begin().await?;
    for email in ["bob@example.com", "cid@example.com"] {
        let mut member = Member {
            email: email.into(),
            ..Default::default()
        };
        member.save(&tx).await?;
    }
    println!("  (no welcome mail yet: the transaction has not committed)");
    tx.rollback().await?;
    println!("  members: {}", Member::query().count(&db).await?);

    println!("the same, committed:");
    let tx = db.begin().await?;
    let mut bob = Member {
        email: "bob@example.com".into(),
        ..Default::default()
    };
    bob.save(&tx).await?;
    tx.commit().await?;

    bob.delete(&db).await?;
    println!("what the listener saw (committed writes only):");
    for event in index.lock().unwrap().iter() {
        println!("  {event}");
    }
    Ok(())
}
