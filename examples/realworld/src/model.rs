//! The models: users (who follow users and favorite articles), articles (by
//! an author, with tags), tags and comments. Every read of them goes through
//! Thing's cached reads; every write through Thing's writes, so that another
//! instance on the same Redis never reads one stale.

use thing::{BaseModel, BelongsTo, ManyToMany, Thing};

/// A registered user. `username` and `email` are unique.
#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "conduit_users")]
pub struct User {
    /// Id, timestamps and the soft-delete flag.
    #[thing(base)]
    pub base: BaseModel,
    /// The public name, in profile URLs.
    #[thing(unique)]
    pub username: String,
    /// The login.
    #[thing(unique)]
    pub email: String,
    /// The password's Argon2id hash, as a PHC string.
    pub password_hash: String,
    /// A short biography.
    pub bio: Option<String>,
    /// The URL of a picture.
    pub image: Option<String>,
    /// Whom this user follows (a self-referential many-to-many).
    #[thing(many_to_many(
        User,
        join = "conduit_follows",
        fk = "follower_id",
        other_fk = "followee_id"
    ))]
    pub following: ManyToMany<User>,
    /// The articles this user favorited.
    #[thing(many_to_many(
        Article,
        join = "conduit_favorites",
        fk = "user_id",
        other_fk = "article_id"
    ))]
    pub favorites: ManyToMany<Article>,
}

/// An article. Its `slug` (from its title, plus a random suffix) is unique
/// and changes with the title.
#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "conduit_articles")]
pub struct Article {
    /// Id, timestamps and the soft-delete flag.
    #[thing(base)]
    pub base: BaseModel,
    /// The article's name in URLs.
    #[thing(unique)]
    pub slug: String,
    /// The title.
    pub title: String,
    /// A one-line description.
    pub description: String,
    /// The text.
    pub body: String,
    /// The author's user id.
    #[thing(index)]
    pub author_id: i64,
    /// How many users favorited it: moved by `incr` in the same transaction
    /// as the favorite's link, so it never drifts from the links.
    pub favorites_count: i64,
    /// The author.
    #[thing(belongs_to(User, fk = "author_id"))]
    pub author: BelongsTo<User>,
    /// The tags.
    #[thing(many_to_many(
        Tag,
        join = "conduit_article_tags",
        fk = "article_id",
        other_fk = "tag_id"
    ))]
    pub tags: ManyToMany<Tag>,
}

/// A tag; `name` is unique.
#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "conduit_tags")]
pub struct Tag {
    /// Id, timestamps and the soft-delete flag.
    #[thing(base)]
    pub base: BaseModel,
    /// The tag.
    #[thing(unique)]
    pub name: String,
    /// The articles tagged with it.
    #[thing(many_to_many(
        Article,
        join = "conduit_article_tags",
        fk = "tag_id",
        other_fk = "article_id"
    ))]
    pub articles: ManyToMany<Article>,
}

/// A comment on an article.
#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "conduit_comments")]
pub struct Comment {
    /// Id, timestamps and the soft-delete flag.
    #[thing(base)]
    pub base: BaseModel,
    /// The text.
    pub body: String,
    /// The article's id.
    #[thing(index)]
    pub article_id: i64,
    /// The author's user id.
    #[thing(index)]
    pub author_id: i64,
    /// The author.
    #[thing(belongs_to(User, fk = "author_id"))]
    pub author: BelongsTo<User>,
}

/// Creates every table the app needs (and the join tables), unless there.
pub async fn create_tables(db: &thing::Db) -> thing::Result<()> {
    db.create_table::<User>().await?;
    db.create_table::<Article>().await?;
    db.create_table::<Tag>().await?;
    db.create_table::<Comment>().await
}
