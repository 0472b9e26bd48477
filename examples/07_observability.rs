//! What one request did: Thing's `tracing` spans for a cached and an uncached
//! read, a list and a write, printed by `tracing-subscriber` as each span
//! closes, with the cache outcome, statements and cache round trips.
//!
//! ```text
//! cargo run --example 07_observability
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use thing::{BaseModel, Db, Thing};
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "users")]
pub struct User {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(unique)]
    pub email: String,
    pub name: String,
    pub age: i32,
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    // Thing's spans are at DEBUG under the target `thing`; print each one as it
    // closes, with its fields and time.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(true)
        .without_time()
        .with_ansi(false)
        .init();

    let url = examples::database_url();
    let db = Db::connect(&url).await?;
    examples::fresh_table::<User>(&db).await?;
    let mut ann = User {
        email: "ann@example.com".into(),
        name: "Ann".into(),
        age: 30,
        ..Default::default()
    };
    ann.save(&db).await?;

    println!("-- the first read misses the cache and reads the database:");
    User::by_id(&db, ann.base.id).await?;
    println!("-- the second is served from the cache, with no SQL:");
    User::by_id(&db, ann.base.id).await?;
    println!("-- a list query, twice:");
    let adults = User::query().filter(User::AGE.ge(18));
    adults.all(&db).await?;
    adults.all(&db).await?;
    println!("-- a write:");
    ann.age = 31;
    ann.save(&db).await?;
    Ok(())
}
