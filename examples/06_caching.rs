//! What the cache does, read off `db.stats()`: a miss then hits, a cached
//! absence, a list query served from its cached ids, and what a write costs.
//!
//! ```text
//! cargo run --example 06_caching                                  # SQLite in memory, MemoryCache
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example 06_caching  # the same through Redis
//! ```
//!
//! `DATABASE_URL` picks another database.

use thing::{BaseModel, Db, RedisCache, Thing};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "articles")]
pub struct Article {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub author: String,
    pub title: String,
    pub views: i64,
}

/// Runs `work`, then prints what it cost.
async fn show<T>(
    db: &Db,
    what: &str,
    work: impl Future<Output = thing::Result<T>>,
) -> thing::Result<T> {
    db.reset_stats();
    let value = work.await?;
    let s = db.stats();
    println!(
        "{what:<46} SQL {:>2}  hits {:>2}  misses {:>2}  absent {:>2}  list hits {}  round trips {}",
        s.statements(),
        s.cache_hits,
        s.cache_misses,
        s.negative_hits,
        s.query_hits,
        s.cache_round_trips
    );
    Ok(value)
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let url = examples::database_url();
    let mut builder = Db::builder(&url).key_prefix(format!("example-{}", std::process::id()));
    if let Ok(redis) = std::env::var("REDIS_URL") {
        builder = builder.cache(
            RedisCache::connect(&redis)
                .await
                .map_err(thing::Error::Cache)?,
        );
        println!("cache: Redis at {redis}");
    } else {
        println!("cache: in-process MemoryCache (set REDIS_URL for Redis)");
    }
    let db = builder.build().await?;
    examples::fresh_table::<Article>(&db).await?;
    let mut first = Article {
        author: "ann".into(),
        title: "Caching".into(),
        ..Default::default()
    };
    first.save(&db).await?;
    let id = first.base.id;

    show(
        &db,
        "by_id, first time (a miss, then filled)",
        Article::by_id(&db, id),
    )
    .await?;
    show(&db, "by_id, again (a hit: no SQL)", Article::by_id(&db, id)).await?;
    let absent = async || Ok(Article::by_id(&db, id + 1000).await.is_err());
    show(&db, "by_id of an id that does not exist", absent()).await?;
    show(&db, "the same missing id (cached as absent)", absent()).await?;

    let by_ann = Article::query().filter(Article::AUTHOR.eq("ann"));
    show(&db, "a list query, first time", by_ann.all(&db)).await?;
    show(
        &db,
        "the same list query (ids and rows cached)",
        by_ann.all(&db),
    )
    .await?;

    first.views = 10;
    show(
        &db,
        "save of one column (lock, UPDATE, invalidate)",
        first.save(&db),
    )
    .await?;
    show(
        &db,
        "the list after that write (read again)",
        by_ann.all(&db),
    )
    .await?;
    show(&db, "and once more (cached again)", by_ann.all(&db)).await?;
    Ok(())
}
