//! The schema every contender reads and writes, Thing's models of it (which
//! create it), the data, and the answers contenders are compared by.

use chrono::{DateTime, Utc};
use thing::{BaseModel, HasMany, Thing};

/// Rows of `bench_rows`, the table of the by_id and list cases.
pub const ROWS: usize = 10_000;
/// Teams of `bench_rows` (`team = i % TEAMS`): 200 rows each.
pub const TEAMS: i64 = 50;
/// The ids the by_id case cycles through (all cached before timing).
pub const BY_ID_IDS: usize = 1_000;
/// Rows of one batch insert.
pub const BATCH: usize = 100;
/// Users, posts per user, comments per post of the relations case.
pub const USERS: usize = 100;
pub const POSTS_PER_USER: usize = 3;
pub const COMMENTS_PER_POST: usize = 3;

/// A row of `bench_rows`: `BaseModel` and six columns (strings, integers, an
/// `Option`), ten columns in all.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "bench_rows")]
pub struct BenchRow {
    #[thing(base)]
    pub base: BaseModel,
    pub email: String,
    pub name: String,
    #[thing(index)]
    pub team: i64,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
}

/// The same columns in `bench_writes`, the table of the write cases, so that
/// writes never change what the read cases read.
#[derive(Thing, Debug, Clone, Default, PartialEq)]
#[thing(table = "bench_writes")]
pub struct BenchWrite {
    #[thing(base)]
    pub base: BaseModel,
    pub email: String,
    pub name: String,
    #[thing(index)]
    pub team: i64,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_users")]
pub struct User {
    #[thing(base)]
    pub base: BaseModel,
    pub name: String,
    #[thing(has_many(Post, fk = "user_id"))]
    pub posts: HasMany<Post>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_posts")]
pub struct Post {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub user_id: i64,
    pub title: String,
    #[thing(has_many(Comment, fk = "post_id"))]
    pub comments: HasMany<Comment>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_comments")]
pub struct Comment {
    #[thing(base)]
    pub base: BaseModel,
    #[thing(index)]
    pub post_id: i64,
    pub body: String,
}

/// The data columns of a row to insert (the timestamps are the time of the
/// insert, `deleted` is false).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow {
    pub email: String,
    pub name: String,
    pub team: i64,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
}

impl NewRow {
    /// The `n`-th row; `email` is `{tag}-{n}`, so that each contender's rows
    /// can be found again.
    pub fn nth(tag: &str, n: u64) -> Self {
        Self {
            email: format!("{tag}-{n}"),
            name: format!("row {n}"),
            team: (n % TEAMS as u64) as i64,
            age: (n % 90) as i32,
            bio: n.is_multiple_of(3).then(|| format!("bio of row {n}")),
            views: (n * 7) as i64,
        }
    }

    /// `BATCH` rows from the `first`-th.
    pub fn batch(tag: &str, first: u64) -> Vec<Self> {
        (first..first + BATCH as u64)
            .map(|n| Self::nth(tag, n))
            .collect()
    }
}

/// A row as every contender's answer is compared: all ten columns.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainRow {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub email: String,
    pub name: String,
    pub team: i64,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
}

/// What a written row holds, compared across contenders: the columns a write
/// sets, less the id, the timestamps and the `email` (which names the
/// contender).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub deleted: bool,
    pub name: String,
    pub team: i64,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
}

/// A user, post or comment as compared: its id, timestamps, `deleted` and
/// text.
pub type Node = (i64, DateTime<Utc>, DateTime<Utc>, bool, String);

/// Users → posts → comments.
pub type Tree = Vec<(Node, Vec<(Node, Vec<Node>)>)>;

/// The node of a Thing row.
fn node(base: &BaseModel, text: &str) -> Node {
    let BaseModel {
        id,
        created_at,
        updated_at,
        deleted,
        ..
    } = *base;
    (id, created_at, updated_at, deleted, text.to_owned())
}

/// What a contender returned, in the form contenders are compared by.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Rows(Vec<PlainRow>),
    Tree(Tree),
    Written(Vec<Written>),
}

/// A library's own result, turned into an [`Answer`] (outside the timing).
pub trait ToAnswer {
    fn to_answer(&self) -> Answer;
}

impl ToAnswer for Vec<PlainRow> {
    fn to_answer(&self) -> Answer {
        Answer::Rows(self.clone())
    }
}

impl ToAnswer for PlainRow {
    fn to_answer(&self) -> Answer {
        Answer::Rows(vec![self.clone()])
    }
}

impl ToAnswer for Tree {
    fn to_answer(&self) -> Answer {
        Answer::Tree(self.clone())
    }
}

impl From<&BenchRow> for PlainRow {
    fn from(row: &BenchRow) -> Self {
        Self {
            id: row.base.id,
            created_at: row.base.created_at,
            updated_at: row.base.updated_at,
            deleted: row.base.deleted,
            email: row.email.clone(),
            name: row.name.clone(),
            team: row.team,
            age: row.age,
            bio: row.bio.clone(),
            views: row.views,
        }
    }
}

impl ToAnswer for BenchRow {
    fn to_answer(&self) -> Answer {
        Answer::Rows(vec![self.into()])
    }
}

impl ToAnswer for Vec<BenchRow> {
    fn to_answer(&self) -> Answer {
        Answer::Rows(self.iter().map(PlainRow::from).collect())
    }
}

impl ToAnswer for Vec<User> {
    fn to_answer(&self) -> Answer {
        let tree = self.iter().map(|user| {
            let posts = user.posts.get().expect("preloaded").iter().map(|post| {
                let comments = post.comments.get().expect("preloaded").iter();
                let comments = comments.map(|c| node(&c.base, &c.body)).collect();
                (node(&post.base, &post.title), comments)
            });
            (node(&user.base, &user.name), posts.collect())
        });
        Answer::Tree(tree.collect())
    }
}

impl From<NewRow> for BenchWrite {
    fn from(row: NewRow) -> Self {
        Self {
            email: row.email,
            name: row.name,
            team: row.team,
            age: row.age,
            bio: row.bio,
            views: row.views,
            ..Default::default()
        }
    }
}

/// The rows `bench_rows` is seeded with.
pub fn seed_rows() -> Vec<BenchRow> {
    (0..ROWS as u64)
        .map(|n| {
            let row = NewRow::nth("seed", n);
            BenchRow {
                email: row.email,
                name: row.name,
                team: row.team,
                age: row.age,
                bio: row.bio,
                views: row.views,
                ..Default::default()
            }
        })
        .collect()
}
