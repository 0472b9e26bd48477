//! Diesel 2.3: the same tables in `table!`, and each case in Diesel's query
//! builder. On SQLite the synchronous `SqliteConnection`, called directly on
//! the bench thread (no `spawn_blocking`); on PostgreSQL and MariaDB
//! diesel-async's `AsyncPgConnection` / `AsyncMysqlConnection`. One
//! connection per backend, held by the bench (no pool).
//!
//! Diesel's models hold timestamps as `chrono::NaiveDateTime` (in UTC), the
//! type Diesel reads on all three backends (`Timestamptz` on PostgreSQL,
//! `Timestamp` on SQLite, `Datetime` on MariaDB).

use super::model::{Answer, NewRow, Node, PlainRow, ToAnswer, Tree};
use chrono::NaiveDateTime;
use diesel::Queryable;
use std::cell::Cell;

/// A row of `bench_rows` or `bench_writes`, by position.
#[derive(Queryable, Debug)]
pub struct DRow {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted: bool,
    pub email: String,
    pub name: String,
    pub team: i64,
    pub age: i32,
    pub bio: Option<String>,
    pub views: i64,
}

impl From<&DRow> for PlainRow {
    fn from(row: &DRow) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            deleted: row.deleted,
            email: row.email.clone(),
            name: row.name.clone(),
            team: row.team,
            age: row.age,
            bio: row.bio.clone(),
            views: row.views,
        }
    }
}

impl ToAnswer for DRow {
    fn to_answer(&self) -> Answer {
        Answer::Rows(vec![self.into()])
    }
}

impl ToAnswer for Vec<DRow> {
    fn to_answer(&self) -> Answer {
        Answer::Rows(self.iter().map(PlainRow::from).collect())
    }
}

/// The node of a Diesel row.
fn node(
    id: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    deleted: bool,
    text: &str,
) -> Node {
    let (created_at, updated_at) = (created_at.and_utc(), updated_at.and_utc());
    (id, created_at, updated_at, deleted, text.to_owned())
}

/// What every case asks of Diesel on one backend.
pub trait DieselPeer {
    type Conn;
    type Tree: ToAnswer;

    async fn connect(url: &str) -> Self::Conn;
    async fn by_id(conn: &mut Self::Conn, id: i64) -> DRow;
    async fn first_rows(conn: &mut Self::Conn, n: i64) -> Vec<DRow>;
    async fn team_page(conn: &mut Self::Conn, team: i64) -> Vec<DRow>;
    async fn insert_one(conn: &mut Self::Conn, new: &NewRow) -> i64;
    async fn insert_batch(conn: &mut Self::Conn, rows: &[NewRow]) -> usize;
    async fn update_views(conn: &mut Self::Conn, id: i64, views: i64) -> usize;
    async fn tree(conn: &mut Self::Conn) -> Self::Tree;
}

/// A connection the bench lends to one operation at a time: taken out for
/// the operation and put back after it (no borrow is held across an await).
pub struct Held<T>(Cell<Option<T>>);

impl<T> Held<T> {
    pub fn new(conn: T) -> Self {
        Self(Cell::new(Some(conn)))
    }

    pub async fn with<R>(&self, op: impl AsyncFnOnce(&mut T) -> R) -> R {
        let mut conn = self.0.take().expect("one operation at a time");
        let out = op(&mut conn).await;
        self.0.set(Some(conn));
        out
    }
}

/// The tables, the models that need them, and the cases every backend runs
/// alike: reads, the update and the relations. `[$($aw)*]` is `[.await]` for
/// diesel-async and `[]` for the synchronous connection.
macro_rules! diesel_backend {
    ($peer:ident, $conn:ty, $ts:ident, [$($aw:tt)*]) => {
        pub mod schema {
            diesel::table! {
                bench_rows (id) {
                    id -> BigInt, created_at -> $ts, updated_at -> $ts, deleted -> Bool,
                    email -> Text, name -> Text, team -> BigInt, age -> Integer,
                    bio -> Nullable<Text>, views -> BigInt,
                }
            }
            diesel::table! {
                bench_writes (id) {
                    id -> BigInt, created_at -> $ts, updated_at -> $ts, deleted -> Bool,
                    email -> Text, name -> Text, team -> BigInt, age -> Integer,
                    bio -> Nullable<Text>, views -> BigInt,
                }
            }
            diesel::table! {
                bench_users (id) {
                    id -> BigInt, created_at -> $ts, updated_at -> $ts, deleted -> Bool,
                    name -> Text,
                }
            }
            diesel::table! {
                bench_posts (id) {
                    id -> BigInt, created_at -> $ts, updated_at -> $ts, deleted -> Bool,
                    user_id -> BigInt, title -> Text,
                }
            }
            diesel::table! {
                bench_comments (id) {
                    id -> BigInt, created_at -> $ts, updated_at -> $ts, deleted -> Bool,
                    post_id -> BigInt, body -> Text,
                }
            }
        }

        use schema::{bench_comments, bench_posts, bench_rows, bench_users, bench_writes};

        #[derive(Queryable, Identifiable, Debug)]
        #[diesel(table_name = bench_users)]
        pub struct DUser {
            pub id: i64,
            pub created_at: NaiveDateTime,
            pub updated_at: NaiveDateTime,
            pub deleted: bool,
            pub name: String,
        }

        #[derive(Queryable, Identifiable, Associations, Debug)]
        #[diesel(table_name = bench_posts, belongs_to(DUser, foreign_key = user_id))]
        pub struct DPost {
            pub id: i64,
            pub created_at: NaiveDateTime,
            pub updated_at: NaiveDateTime,
            pub deleted: bool,
            pub user_id: i64,
            pub title: String,
        }

        #[derive(Queryable, Identifiable, Associations, Debug)]
        #[diesel(table_name = bench_comments, belongs_to(DPost, foreign_key = post_id))]
        pub struct DComment {
            pub id: i64,
            pub created_at: NaiveDateTime,
            pub updated_at: NaiveDateTime,
            pub deleted: bool,
            pub post_id: i64,
            pub body: String,
        }

        /// A new row of `bench_writes`; `bio: None` is NULL, not `DEFAULT`,
        /// so that a batch is one multi-row `INSERT` on every backend.
        #[derive(Insertable)]
        #[diesel(table_name = bench_writes, treat_none_as_default_value = false)]
        pub struct NewDRow<'a> {
            pub created_at: NaiveDateTime,
            pub updated_at: NaiveDateTime,
            pub deleted: bool,
            pub email: &'a str,
            pub name: &'a str,
            pub team: i64,
            pub age: i32,
            pub bio: Option<&'a str>,
            pub views: i64,
        }

        impl<'a> NewDRow<'a> {
            pub fn of(row: &'a NewRow, now: NaiveDateTime) -> Self {
                Self {
                    created_at: now,
                    updated_at: now,
                    deleted: false,
                    email: &row.email,
                    name: &row.name,
                    team: row.team,
                    age: row.age,
                    bio: row.bio.as_deref(),
                    views: row.views,
                }
            }
        }

        /// Each user with its posts, each post with its comments.
        pub type DieselTree = Vec<(DUser, Vec<(DPost, Vec<DComment>)>)>;

        impl ToAnswer for DieselTree {
            fn to_answer(&self) -> Answer {
                let tree: Tree = self
                    .iter()
                    .map(|(user, posts)| {
                        let posts = posts.iter().map(|(post, comments)| {
                            let comments = comments.iter().map(|c| {
                                node(c.id, c.created_at, c.updated_at, c.deleted, &c.body)
                            });
                            let title = &post.title;
                            let post =
                                node(post.id, post.created_at, post.updated_at, post.deleted, title);
                            (post, comments.collect())
                        });
                        let name = &user.name;
                        let user = node(user.id, user.created_at, user.updated_at, user.deleted, name);
                        (user, posts.collect())
                    })
                    .collect();
                Answer::Tree(tree)
            }
        }

        /// Diesel on this backend.
        pub struct $peer;

        impl DieselPeer for $peer {
            type Conn = $conn;
            type Tree = DieselTree;

            async fn connect(url: &str) -> $conn {
                connect(url) $($aw)*
            }

            async fn by_id(conn: &mut $conn, id: i64) -> DRow {
                bench_rows::table.find(id).first(conn) $($aw)* .unwrap()
            }

            async fn first_rows(conn: &mut $conn, n: i64) -> Vec<DRow> {
                bench_rows::table
                    .filter(bench_rows::deleted.eq(false))
                    .order(bench_rows::id.asc())
                    .limit(n)
                    .load(conn) $($aw)*
                    .unwrap()
            }

            async fn team_page(conn: &mut $conn, team: i64) -> Vec<DRow> {
                bench_rows::table
                    .filter(bench_rows::team.eq(team))
                    .filter(bench_rows::deleted.eq(false))
                    .order((bench_rows::age.desc(), bench_rows::id.asc()))
                    .limit(20)
                    .load(conn) $($aw)*
                    .unwrap()
            }

            async fn insert_one(conn: &mut $conn, new: &NewRow) -> i64 {
                insert_one(conn, new) $($aw)*
            }

            async fn insert_batch(conn: &mut $conn, rows: &[NewRow]) -> usize {
                insert_batch(conn, rows) $($aw)*
            }

            /// `update(table.find(id)).set((views, updated_at)).execute(conn)`.
            async fn update_views(conn: &mut $conn, id: i64, views: i64) -> usize {
                let now = chrono::Utc::now().naive_utc();
                diesel::update(bench_writes::table.find(id))
                    .set((bench_writes::views.eq(views), bench_writes::updated_at.eq(now)))
                    .execute(conn) $($aw)*
                    .unwrap()
            }

            /// The users, `belonging_to` for posts then comments, `grouped_by`.
            async fn tree(conn: &mut $conn) -> DieselTree {
                let users: Vec<DUser> = bench_users::table
                    .filter(bench_users::deleted.eq(false))
                    .order(bench_users::id.asc())
                    .load(conn) $($aw)*
                    .unwrap();
                let posts: Vec<DPost> = DPost::belonging_to(&users)
                    .filter(bench_posts::deleted.eq(false))
                    .order(bench_posts::id.asc())
                    .load(conn) $($aw)*
                    .unwrap();
                let comments: Vec<DComment> = DComment::belonging_to(&posts)
                    .filter(bench_comments::deleted.eq(false))
                    .order(bench_comments::id.asc())
                    .load(conn) $($aw)*
                    .unwrap();
                let comments = comments.grouped_by(&posts);
                let posts = posts.into_iter().zip(comments).grouped_by(&users);
                users.into_iter().zip(posts).collect()
            }
        }
    };
}

/// A batch in one transaction through diesel-async.
macro_rules! async_batch {
    ($conn:ty) => {
        async fn insert_batch(conn: &mut $conn, rows: &[NewRow]) -> usize {
            let now = chrono::Utc::now().naive_utc();
            let values: Vec<NewDRow<'_>> = rows.iter().map(|row| NewDRow::of(row, now)).collect();
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                diesel::insert_into(bench_writes::table)
                    .values(&values)
                    .execute(conn)
                    .await
            })
            .await
            .unwrap()
        }
    };
}

pub mod sqlite {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    diesel_backend!(DieselSqlite, SqliteConnection, Timestamp, []);

    /// The same settings as every sqlx contender's SQLite connections.
    fn connect(path: &str) -> SqliteConnection {
        let mut conn = SqliteConnection::establish(path).unwrap();
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        conn
    }

    /// `insert_into(..).values(..).returning(id).get_result(conn)`.
    fn insert_one(conn: &mut SqliteConnection, new: &NewRow) -> i64 {
        let now = chrono::Utc::now().naive_utc();
        diesel::insert_into(bench_writes::table)
            .values(NewDRow::of(new, now))
            .returning(bench_writes::id)
            .get_result(conn)
            .unwrap()
    }

    /// `insert_into(..).values(&rows).execute(conn)` in a transaction.
    fn insert_batch(conn: &mut SqliteConnection, rows: &[NewRow]) -> usize {
        let now = chrono::Utc::now().naive_utc();
        let values: Vec<NewDRow<'_>> = rows.iter().map(|row| NewDRow::of(row, now)).collect();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::insert_into(bench_writes::table)
                .values(&values)
                .execute(conn)
        })
        .unwrap()
    }
}

pub mod postgres {
    use super::*;
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

    diesel_backend!(DieselPg, AsyncPgConnection, Timestamptz, [.await]);
    async_batch!(AsyncPgConnection);

    async fn connect(url: &str) -> AsyncPgConnection {
        AsyncPgConnection::establish(url).await.unwrap()
    }

    /// `insert_into(..).values(..).returning(id).get_result(conn)`.
    async fn insert_one(conn: &mut AsyncPgConnection, new: &NewRow) -> i64 {
        let now = chrono::Utc::now().naive_utc();
        diesel::insert_into(bench_writes::table)
            .values(NewDRow::of(new, now))
            .returning(bench_writes::id)
            .get_result(conn)
            .await
            .unwrap()
    }
}

pub mod mysql {
    use super::*;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Unsigned};
    use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};

    diesel_backend!(DieselMysql, AsyncMysqlConnection, Datetime, [.await]);
    async_batch!(AsyncMysqlConnection);

    async fn connect(url: &str) -> AsyncMysqlConnection {
        AsyncMysqlConnection::establish(url).await.unwrap()
    }

    /// Diesel has no `RETURNING` on MySQL's backend: `execute`, then
    /// `SELECT LAST_INSERT_ID()`.
    async fn insert_one(conn: &mut AsyncMysqlConnection, new: &NewRow) -> i64 {
        let now = chrono::Utc::now().naive_utc();
        diesel::insert_into(bench_writes::table)
            .values(NewDRow::of(new, now))
            .execute(conn)
            .await
            .unwrap();
        let id: u64 = diesel::select(diesel::dsl::sql::<Unsigned<BigInt>>("LAST_INSERT_ID()"))
            .get_result(conn)
            .await
            .unwrap();
        id as i64
    }
}
