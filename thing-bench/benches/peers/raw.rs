//! The baseline: what an application on raw sqlx 0.9 writes for each case,
//! each row decoded by hand into its own struct, on the pool Thing's uncached
//! `Db` opened (the same pool settings as every sqlx contender).

use super::model::{Answer, BATCH, NewRow, PlainRow, ToAnswer, Tree, Written};
use chrono::Utc;
use std::collections::HashMap;
use thing::sqlx::{self, MySqlPool, PgPool, QueryBuilder, Row, SqlitePool};

/// The sqlx pool of one backend.
#[derive(Clone)]
pub enum RawPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// Runs `$body` with `$pool` bound to the backend's own pool type, so that
/// one text serves the three backends and each is checked by its own types.
macro_rules! on_pool {
    ($raw:expr, $pool:ident => $body:expr) => {
        match $raw {
            RawPool::Sqlite($pool) => $body,
            RawPool::Postgres($pool) => $body,
            RawPool::MySql($pool) => $body,
        }
    };
}

/// Every row of `query` on `pool`, each decoded by `decode` as sqlx reads it,
/// as sqlx's own `query_as(...).fetch_all` does. (Collecting the rows with
/// `query(...).fetch_all` and decoding them after is about a fifth slower on
/// 10 000 rows: every row's bytes are held until the last has come.)
macro_rules! decoded {
    ($query:expr, $pool:expr, |$row:ident| $decode:expr) => {{
        let mut rows = $query.fetch($pool);
        let mut decoded = Vec::new();
        while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows)
            .await
            .unwrap()
        {
            let $row = &row;
            decoded.push($decode);
        }
        decoded
    }};
}

/// A statement in PostgreSQL's placeholders and in everyone else's.
#[derive(Clone, Copy)]
struct Sql {
    pg: &'static str,
    other: &'static str,
}

const BY_ID: Sql = Sql {
    pg: "SELECT id, created_at, updated_at, deleted, email, name, team, age, bio, views \
         FROM bench_rows WHERE id = $1",
    other: "SELECT id, created_at, updated_at, deleted, email, name, team, age, bio, views \
            FROM bench_rows WHERE id = ?",
};

const FIRST_ROWS: Sql = Sql {
    pg: "SELECT id, created_at, updated_at, deleted, email, name, team, age, bio, views \
         FROM bench_rows WHERE deleted = false ORDER BY id LIMIT $1",
    other: "SELECT id, created_at, updated_at, deleted, email, name, team, age, bio, views \
            FROM bench_rows WHERE deleted = false ORDER BY id LIMIT ?",
};

const TEAM_PAGE: Sql = Sql {
    pg: "SELECT id, created_at, updated_at, deleted, email, name, team, age, bio, views \
         FROM bench_rows WHERE team = $1 AND deleted = false \
         ORDER BY age DESC, id ASC LIMIT 20",
    other: "SELECT id, created_at, updated_at, deleted, email, name, team, age, bio, views \
            FROM bench_rows WHERE team = ? AND deleted = false \
            ORDER BY age DESC, id ASC LIMIT 20",
};

const INSERT: Sql = Sql {
    pg: "INSERT INTO bench_writes \
         (created_at, updated_at, deleted, email, name, team, age, bio, views) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    other: "INSERT INTO bench_writes \
            (created_at, updated_at, deleted, email, name, team, age, bio, views) \
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
};

const UPDATE_VIEWS: Sql = Sql {
    pg: "UPDATE bench_writes SET views = $1, updated_at = $2 WHERE id = $3",
    other: "UPDATE bench_writes SET views = ?, updated_at = ? WHERE id = ?",
};

const READ_BACK: Sql = Sql {
    pg: "SELECT deleted, name, team, age, bio, views FROM bench_writes \
         WHERE email LIKE $1 ORDER BY id DESC LIMIT $2",
    other: "SELECT deleted, name, team, age, bio, views FROM bench_writes \
            WHERE email LIKE ? ORDER BY id DESC LIMIT ?",
};

const USERS_SQL: &str = "SELECT id, created_at, updated_at, deleted, name FROM bench_users \
                         WHERE deleted = false ORDER BY id";

/// Decodes the ten columns of `bench_rows` by position.
macro_rules! plain_row {
    ($row:expr) => {{
        let row = $row;
        PlainRow {
            id: row.get(0),
            created_at: row.get(1),
            updated_at: row.get(2),
            deleted: row.get(3),
            email: row.get(4),
            name: row.get(5),
            team: row.get(6),
            age: row.get(7),
            bio: row.get(8),
            views: row.get(9),
        }
    }};
}

/// A user as the raw application holds it, with its posts.
#[derive(Debug)]
pub struct RawUser {
    pub id: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
    pub deleted: bool,
    pub name: String,
    pub posts: Vec<RawPost>,
}

#[derive(Debug)]
pub struct RawPost {
    pub id: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
    pub deleted: bool,
    pub user_id: i64,
    pub title: String,
    pub comments: Vec<RawComment>,
}

#[derive(Debug)]
pub struct RawComment {
    pub id: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
    pub deleted: bool,
    pub post_id: i64,
    pub body: String,
}

impl ToAnswer for Vec<RawUser> {
    fn to_answer(&self) -> Answer {
        let tree: Tree = self
            .iter()
            .map(|user| {
                let posts = user.posts.iter().map(|post| {
                    let comments = post
                        .comments
                        .iter()
                        .map(|c| (c.id, c.created_at, c.updated_at, c.deleted, c.body.clone()));
                    let title = post.title.clone();
                    let node = (
                        post.id,
                        post.created_at,
                        post.updated_at,
                        post.deleted,
                        title,
                    );
                    (node, comments.collect())
                });
                let name = user.name.clone();
                let node = (
                    user.id,
                    user.created_at,
                    user.updated_at,
                    user.deleted,
                    name,
                );
                (node, posts.collect())
            })
            .collect();
        Answer::Tree(tree)
    }
}

impl RawPool {
    fn text(&self, sql: Sql) -> &'static str {
        match self {
            RawPool::Postgres(_) => sql.pg,
            _ => sql.other,
        }
    }

    /// One row by id.
    pub async fn by_id(&self, id: i64) -> PlainRow {
        let sql = self.text(BY_ID);
        on_pool!(self, pool => {
            let row = sqlx::query(sql).bind(id).fetch_one(pool).await.unwrap();
            plain_row!(&row)
        })
    }

    /// The first `n` rows by id.
    pub async fn first_rows(&self, n: i64) -> Vec<PlainRow> {
        let sql = self.text(FIRST_ROWS);
        on_pool!(self, pool => {
            decoded!(sqlx::query(sql).bind(n), pool, |row| plain_row!(row))
        })
    }

    /// The 20 oldest of a team.
    pub async fn team_page(&self, team: i64) -> Vec<PlainRow> {
        let sql = self.text(TEAM_PAGE);
        on_pool!(self, pool => {
            decoded!(sqlx::query(sql).bind(team), pool, |row| plain_row!(row))
        })
    }

    /// One `INSERT ... RETURNING id`.
    pub async fn insert_one(&self, new: &NewRow) -> i64 {
        let sql = self.text(INSERT);
        let now = Utc::now();
        on_pool!(self, pool => {
            sqlx::query_scalar(sql)
                .bind(now)
                .bind(now)
                .bind(false)
                .bind(&new.email)
                .bind(&new.name)
                .bind(new.team)
                .bind(new.age)
                .bind(&new.bio)
                .bind(new.views)
                .fetch_one(pool)
                .await
                .unwrap()
        })
    }

    /// One multi-row `INSERT ... RETURNING id`, in a transaction (`BEGIN`,
    /// the `INSERT`, `COMMIT`) or alone (one statement is atomic by itself).
    pub async fn insert_batch(&self, rows: &[NewRow], in_transaction: bool) -> Vec<i64> {
        let now = Utc::now();
        on_pool!(self, pool => {
            let mut query = QueryBuilder::new(
                "INSERT INTO bench_writes \
                 (created_at, updated_at, deleted, email, name, team, age, bio, views) ",
            );
            query.push_values(rows, |mut values, row| {
                values
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(false)
                    .push_bind(row.email.as_str())
                    .push_bind(row.name.as_str())
                    .push_bind(row.team)
                    .push_bind(row.age)
                    .push_bind(row.bio.as_deref())
                    .push_bind(row.views);
            });
            query.push(" RETURNING id");
            let ids: Vec<i64> = if in_transaction {
                let mut tx = pool.begin().await.unwrap();
                let ids = query
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                ids
            } else {
                query.build_query_scalar().fetch_all(pool).await.unwrap()
            };
            assert_eq!(ids.len(), BATCH);
            ids
        })
    }

    /// `UPDATE ... SET views, updated_at WHERE id`.
    pub async fn update_views(&self, id: i64, views: i64) {
        let sql = self.text(UPDATE_VIEWS);
        let now = Utc::now();
        on_pool!(self, pool => {
            let done = sqlx::query(sql)
                .bind(views)
                .bind(now)
                .bind(id)
                .execute(pool)
                .await
                .unwrap();
            assert_eq!(done.rows_affected(), 1);
        })
    }

    /// Users → posts → comments, one query per level, grouped under their
    /// parents: `= ANY($1)` on PostgreSQL, `IN (?, ...)` elsewhere.
    pub async fn tree(&self) -> Vec<RawUser> {
        let mut users = self.users().await;
        let user_ids: Vec<i64> = users.iter().map(|user| user.id).collect();
        let mut posts = self.posts(&user_ids).await;
        let post_ids: Vec<i64> = posts.iter().map(|post| post.id).collect();
        let mut comments: HashMap<i64, Vec<RawComment>> = HashMap::new();
        for comment in self.comments(&post_ids).await {
            comments.entry(comment.post_id).or_default().push(comment);
        }
        let mut by_user: HashMap<i64, Vec<RawPost>> = HashMap::new();
        for mut post in posts.drain(..) {
            post.comments = comments.remove(&post.id).unwrap_or_default();
            by_user.entry(post.user_id).or_default().push(post);
        }
        for user in &mut users {
            user.posts = by_user.remove(&user.id).unwrap_or_default();
        }
        users
    }

    async fn users(&self) -> Vec<RawUser> {
        on_pool!(self, pool => {
            decoded!(sqlx::query(USERS_SQL), pool, |row| RawUser {
                id: row.get(0),
                created_at: row.get(1),
                updated_at: row.get(2),
                deleted: row.get(3),
                name: row.get(4),
                posts: Vec::new(),
            })
        })
    }

    async fn posts(&self, user_ids: &[i64]) -> Vec<RawPost> {
        let select = "SELECT id, created_at, updated_at, deleted, user_id, title FROM bench_posts";
        macro_rules! decode {
            ($query:expr, $pool:expr) => {
                decoded!($query, $pool, |row| RawPost {
                    id: row.get(0),
                    created_at: row.get(1),
                    updated_at: row.get(2),
                    deleted: row.get(3),
                    user_id: row.get(4),
                    title: row.get(5),
                    comments: Vec::new(),
                })
            };
        }
        match self {
            RawPool::Postgres(pool) => {
                let sql = "SELECT id, created_at, updated_at, deleted, user_id, title \
                           FROM bench_posts WHERE user_id = ANY($1) AND deleted = false \
                           ORDER BY id";
                decode!(sqlx::query(sql).bind(user_ids), pool)
            }
            RawPool::Sqlite(pool) => {
                let mut query = in_list(select, "user_id", user_ids);
                decode!(query.build(), pool)
            }
            RawPool::MySql(pool) => {
                let mut query = in_list(select, "user_id", user_ids);
                decode!(query.build(), pool)
            }
        }
    }

    async fn comments(&self, post_ids: &[i64]) -> Vec<RawComment> {
        let select =
            "SELECT id, created_at, updated_at, deleted, post_id, body FROM bench_comments";
        macro_rules! decode {
            ($query:expr, $pool:expr) => {
                decoded!($query, $pool, |row| RawComment {
                    id: row.get(0),
                    created_at: row.get(1),
                    updated_at: row.get(2),
                    deleted: row.get(3),
                    post_id: row.get(4),
                    body: row.get(5),
                })
            };
        }
        match self {
            RawPool::Postgres(pool) => {
                let sql = "SELECT id, created_at, updated_at, deleted, post_id, body \
                           FROM bench_comments WHERE post_id = ANY($1) AND deleted = false \
                           ORDER BY id";
                decode!(sqlx::query(sql).bind(post_ids), pool)
            }
            RawPool::Sqlite(pool) => {
                let mut query = in_list(select, "post_id", post_ids);
                decode!(query.build(), pool)
            }
            RawPool::MySql(pool) => {
                let mut query = in_list(select, "post_id", post_ids);
                decode!(query.build(), pool)
            }
        }
    }

    /// What the last `n` rows a contender (`tag`) wrote hold, oldest first.
    pub async fn read_back(&self, tag: &str, n: i64) -> Vec<Written> {
        let sql = self.text(READ_BACK);
        let pattern = format!("{tag}-%");
        let mut written: Vec<Written> = on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(&pattern).bind(n).fetch_all(pool).await.unwrap();
            rows.iter()
                .map(|row| Written {
                    deleted: row.get(0),
                    name: row.get(1),
                    team: row.get(2),
                    age: row.get(3),
                    bio: row.get(4),
                    views: row.get(5),
                })
                .collect()
        });
        written.reverse();
        written
    }

    /// Deletes the rows of `bench_writes` after `id` (what a write case
    /// inserted), so that the next case starts from the same table.
    pub async fn delete_writes_after(&self, id: i64) {
        let sql = match self {
            RawPool::Postgres(_) => "DELETE FROM bench_writes WHERE id > $1",
            _ => "DELETE FROM bench_writes WHERE id > ?",
        };
        on_pool!(self, pool => {
            sqlx::query(sql).bind(id).execute(pool).await.unwrap();
        })
    }

    /// The largest id of `bench_writes`.
    pub async fn last_write_id(&self) -> i64 {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM bench_writes";
        on_pool!(self, pool => {
            let id: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
            id
        })
    }
}

/// `{select} WHERE {column} IN (?, ...) AND deleted = false ORDER BY id`.
fn in_list<DB: sqlx::Database>(select: &str, column: &str, ids: &[i64]) -> QueryBuilder<DB>
where
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    DB::Arguments: Default,
{
    let mut query = QueryBuilder::new(format!("{select} WHERE {column} IN ("));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(") AND deleted = false ORDER BY id");
    query
}
