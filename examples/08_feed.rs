//! A feed paged by cursor: newest first, a page of 3 at a time, carried in a
//! URL-safe token as a web handler would; rows inserted above the reader do
//! not repeat or shift its next page; a merged feed of two queries.
//!
//! ```text
//! cargo run --example 08_feed
//! ```
//!
//! Runs on SQLite in memory; set `DATABASE_URL` for another database.

use thing::{BaseModel, Cursor, Db, Page, Query, Thing};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "posts")]
pub struct Post {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub author: i64,
    pub pinned: bool,
    pub likes: Option<i32>,
    pub title: String,
}

/// What a `GET /feed?after=<token>` handler would do: read the token, read
/// the page, hand back the rows and the next token.
async fn feed_page(db: &Db, after: Option<&str>) -> thing::Result<(Vec<String>, Option<String>)> {
    let cursor = after.map(str::parse::<Cursor>).transpose()?;
    let page = newest().after(db, cursor.as_ref(), 3).await?;
    Ok((titles(&page), page.next.map(|next| next.to_string())))
}

fn newest() -> Query<Post> {
    Post::query().order_by(Post::ID.desc())
}

fn titles(page: &Page<Post>) -> Vec<String> {
    page.rows.iter().map(|post| post.title.clone()).collect()
}

#[tokio::main]
async fn main() -> thing::Result<()> {
    let db = Db::connect(&examples::database_url()).await?;
    examples::fresh_table::<Post>(&db).await?;
    let mut posts: Vec<Post> = (1..=8)
        .map(|n| Post {
            author: n % 3,
            pinned: n % 4 == 0,
            likes: (n % 2 == 0).then_some(n as i32 * 10),
            title: format!("post {n}"),
            ..Default::default()
        })
        .collect();
    Post::save_many(&db, &mut posts).await?;

    let (first, token) = feed_page(&db, None).await?;
    println!("page 1: {first:?}");
    println!("next token: {}", token.as_deref().unwrap_or("-"));

    // A new post lands on top while the reader is on page 1: the next page
    // still starts right after what the reader saw.
    Post {
        author: 1,
        title: "post 9 (new)".into(),
        ..Default::default()
    }
    .save(&db)
    .await?;
    let (second, token) = feed_page(&db, token.as_deref()).await?;
    println!("page 2: {second:?}");
    let (third, token) = feed_page(&db, token.as_deref()).await?;
    println!("page 3: {third:?} (last: {})", token.is_none());

    // Most liked first; posts with no likes (NULL) last; ties by id.
    let liked = Post::query().order_by(Post::LIKES.desc());
    let page = liked.after(&db, None, 4).await?;
    println!("most liked: {:?}", titles(&page));
    let back = liked
        .before(
            &db,
            liked.after(&db, page.next.as_ref(), 4).await?.prev.as_ref(),
            4,
        )
        .await?;
    println!("and back: {:?}", titles(&back));

    // Author 1's posts and the pinned ones, as one feed, each post once.
    let mine_and_pinned = Query::merge([
        newest().filter(Post::AUTHOR.eq(1)),
        newest().filter(Post::PINNED.eq(true)),
    ]);
    let page = mine_and_pinned.after(&db, None, 10).await?;
    println!("author 1 and pinned: {:?}", titles(&page));

    // A token of another query is refused.
    let err = liked
        .after(&db, Some(&first_cursor(&db).await?), 4)
        .await
        .unwrap_err();
    println!("a token of another query: {err}");

    db.reset_stats();
    feed_page(&db, None).await?;
    println!("page 1 again: {} SQL statements", db.stats().statements());
    Ok(())
}

async fn first_cursor(db: &Db) -> thing::Result<Cursor> {
    let page = newest().after(db, None, 1).await?;
    Ok(page.next.expect("more than one post"))
}
