//! The five-minute tour: define a model, create its table, write, read, update,
//! delete, and do two writes in one transaction. Runs on SQLite in memory, or
//! on the database `DATABASE_URL` names.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use thing::{BaseModel, Db, Thing};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "users")]
pub struct User {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(unique)]
    pub email: String,
    pub name: String,
    pub age: i32,
    pub bio: Option<String>,
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    // SQLite in memory, or the database DATABASE_URL names.
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = Db::connect(&url).await?;
    db.drop_table::<User>().await?; // a fresh table on every run
    db.create_table::<User>().await?;

    let mut ann = User {
        email: "ann@example.com".into(),
        name: "Ann".into(),
        age: 30,
        ..Default::default()
    };
    ann.save(&db).await?;
    println!("inserted {} with id {}", ann.name, ann.base.id);

    ann.age = 31;
    db.reset_stats();
    ann.save(&db).await?;
    println!("changed one column: {} UPDATE", db.stats().updates);
    ann.save(&db).await?;
    println!("saved again unchanged: still {} UPDATE", db.stats().updates);

    let read = User::by_id(&db, ann.base.id).await?;
    println!("read back: {} is {}", read.name, read.age);

    let (bob_id, cid) = db
        .transaction(async |tx| {
            let mut bob = User {
                email: "bob@example.com".into(),
                name: "Bob".into(),
                ..Default::default()
            };
            let mut cid = User {
                email: "cid@example.com".into(),
                name: "Cid".into(),
                ..Default::default()
            };
            bob.save(tx).await?;
            cid.save(tx).await?;
            Ok((bob.base.id, cid.base.id))
        })
        .await?;
    let users = User::by_ids(&db, &[cid, bob_id, ann.base.id]).await?;
    let names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
    println!("by_ids in the order asked: {names:?}");

    let mut dup = User {
        email: "ann@example.com".into(),
        ..Default::default()
    };
    match dup.save(&db).await {
        Err(err)
            if err
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()) =>
        {
            println!(
                "duplicate email refused, nothing written (id still {})",
                dup.base.id
            )
        }
        other => println!("unexpected: {other:?}"),
    }

    read.delete(&db).await?;
    match User::by_id(&db, ann.base.id).await {
        Err(err) if err.is_not_found() => println!("after delete: {err}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
