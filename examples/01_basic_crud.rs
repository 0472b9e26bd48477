//! Create, read, update, delete — and what each costs, from `db.stats()`.
//!
//! ```text
//! cargo run --example 01_basic_crud
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use thing::{BaseModel, Db, Thing};

#[derive(Thing, Debug, Clone, Default)]
pub struct Note {
    #[thing(base)]
    pub base: BaseModel,
    pub title: String,
    pub body: Option<String>,
    pub stars: i32,
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let db = Db::connect(&examples::database_url()).await?;
    examples::fresh_table::<Note>(&db).await?;

    let mut note = Note {
        title: "hello".into(),
        ..Default::default()
    };
    note.save(&db).await?;
    println!("created #{} at {}", note.base.id, note.base.created_at);

    db.reset_stats();
    let read = Note::by_id(&db, note.base.id).await?;
    let again = Note::by_id(&db, note.base.id).await?;
    let stats = db.stats();
    println!(
        "read twice: {} SELECT, {} cache hit ({:?} = {:?})",
        stats.selects, stats.cache_hits, read.title, again.title
    );

    note.stars += 1;
    db.reset_stats();
    note.save(&db).await?;
    println!("one column changed: {} UPDATE", db.stats().updates);
    note.save(&db).await?;
    println!("saved again unchanged: still {} UPDATE", db.stats().updates);
    println!(
        "the next read sees it: {} star(s)",
        Note::by_id(&db, note.base.id).await?.stars
    );

    // Without reading it first: one UPDATE (this model has no indexed column
    // whose old value the cache would need).
    db.reset_stats();
    Note::update(note.base.id)
        .set(Note::TITLE, "hello, again")
        .set(Note::BODY, None)
        .execute(&db)
        .await?;
    println!(
        "updated by id: {} statement; now {:?}",
        db.stats().statements(),
        Note::by_id(&db, note.base.id).await?.title
    );

    let mut more = vec![
        Note {
            title: "a".into(),
            ..Default::default()
        },
        Note {
            title: "b".into(),
            ..Default::default()
        },
    ];
    Note::save_many(&db, &mut more).await?;
    let ids = [more[1].base.id, 999, more[0].base.id];
    let found = Note::by_ids(&db, &ids).await?;
    println!(
        "by_ids {ids:?}: {:?} (missing ids skipped)",
        found.iter().map(|n| &n.title).collect::<Vec<_>>()
    );

    note.delete(&db).await?;
    match Note::by_id(&db, note.base.id).await {
        Err(err) if err.is_not_found() => println!("after delete: {err}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
