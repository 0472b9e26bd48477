//! Relationships: users have posts, posts have comments and belong to a user,
//! users and roles are linked through a join table. Loaded lazily one at a
//! time, or eagerly for many rows at a fixed number of statements — and none
//! once cached, as `db.stats()` shows.
//!
//! ```text
//! cargo run --example 05_relationships
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use thing::{BaseModel, BelongsTo, Db, HasMany, ManyToMany, Thing};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "authors")]
pub struct Author {
    #[thing(base)]
    pub base: BaseModel,
    pub name: String,
    #[thing(has_many(Article, fk = "author_id"))]
    pub articles: HasMany<Article>,
    #[thing(many_to_many(Tag, join = "author_tags", fk = "author_id", other_fk = "tag_id"))]
    pub tags: ManyToMany<Tag>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "articles")]
pub struct Article {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub author_id: i64,
    pub title: String,
    pub stars: i32,
    #[thing(belongs_to(Author, fk = "author_id"))]
    pub author: BelongsTo<Author>,
    #[thing(has_many(Remark, fk = "article_id"))]
    pub remarks: HasMany<Remark>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "remarks")]
pub struct Remark {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub article_id: i64,
    pub body: String,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "tags")]
pub struct Tag {
    #[thing(base)]
    pub base: BaseModel,
    pub label: String,
    #[thing(many_to_many(Author, join = "author_tags", fk = "tag_id", other_fk = "author_id"))]
    pub authors: ManyToMany<Author>,
}

/// Ten authors with three articles each, two remarks per article.
async fn seed(db: &Db) -> thing::Result<Vec<Author>> {
    let mut authors: Vec<Author> = (1..=10)
        .map(|n| Author {
            name: format!("author {n}"),
            ..Default::default()
        })
        .collect();
    Author::save_many(db, &mut authors).await?;
    let mut articles = Vec::new();
    for author in &authors {
        for n in 1..=3 {
            articles.push(Article {
                author_id: author.base.id,
                title: format!("{} / article {n}", author.name),
                stars: n,
                ..Default::default()
            });
        }
    }
    Article::save_many(db, &mut articles).await?;
    let mut remarks = Vec::new();
    for article in &articles {
        for n in 1..=2 {
            remarks.push(Remark {
                article_id: article.base.id,
                body: format!("remark {n}"),
                ..Default::default()
            });
        }
    }
    Remark::save_many(db, &mut remarks).await?;
    Ok(authors)
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let db = Db::connect(&examples::database_url()).await?;
    examples::fresh_table::<Author>(&db).await?; // and the author_tags join table
    examples::fresh_table::<Article>(&db).await?;
    examples::fresh_table::<Remark>(&db).await?;
    examples::fresh_table::<Tag>(&db).await?;
    let mut authors = seed(&db).await?;

    // Lazily, one relation of one row.
    let ann = &mut authors[0];
    let titles: Vec<String> = ann
        .load_articles(&db)
        .await?
        .iter()
        .map(|a| a.title.clone())
        .collect();
    println!("{} wrote {titles:?}", ann.name);
    let mut article = ann.articles.get()?[0].clone();
    let author = article.load_author(&db).await?.map(|a| a.name.clone());
    println!("{:?} belongs to {author:?}", article.title);

    // Eagerly, three levels for every author.
    let query = Author::query().preload(Author::ARTICLES.then(Article::REMARKS));
    for round in ["cold", "warm"] {
        db.reset_stats();
        let loaded = query.all(&db).await?;
        let remarks: usize = loaded
            .iter()
            .flat_map(|a| a.articles.get().unwrap_or_default())
            .map(|a| a.remarks.get().map_or(0, <[Remark]>::len))
            .sum();
        println!(
            "preload {round}: {} authors, {remarks} remarks, {} SQL statements",
            loaded.len(),
            db.stats().statements()
        );
    }

    // A filtered, ordered has_many.
    let best = Author::ARTICLES
        .filter(Article::STARS.ge(2))
        .order_by(Article::STARS.desc());
    let mut bob = authors[1].clone();
    let starred: Vec<i32> = best
        .load(&db, &mut bob)
        .await?
        .iter()
        .map(|a| a.stars)
        .collect();
    println!(
        "{}'s articles with 2+ stars, best first: {starred:?}",
        bob.name
    );

    // Many to many: link, read from both sides, unlink.
    let mut rust = Tag {
        label: "rust".into(),
        ..Default::default()
    };
    rust.save(&db).await?;
    Author::TAGS.link(&db, &authors[0], &rust).await?;
    Author::TAGS.link(&db, &authors[1], &rust).await?;
    let names: Vec<String> = rust
        .load_authors(&db)
        .await?
        .iter()
        .map(|a| a.name.clone())
        .collect();
    println!("tagged rust: {names:?}");
    Tag::AUTHORS.unlink(&db, &rust, &authors[1]).await?;
    println!(
        "after unlink: {} author(s)",
        rust.load_authors(&db).await?.len()
    );

    // A write moves a row between cached lists: nothing to invalidate by hand.
    article.author_id = authors[2].base.id;
    article.save(&db).await?;
    let mut cid = authors[2].clone();
    let count = cid.load_articles(&db).await?.len();
    println!("{} now has {count} articles", cid.name);
    let unloaded = Author::default().articles.get().unwrap_err();
    println!("an unloaded holder reads as an error: {unloaded}");
    Ok(())
}
