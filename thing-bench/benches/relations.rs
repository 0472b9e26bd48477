//! Relations benchmark: 100 users → their 300 posts → the posts' 900 comments,
//! loaded one query per level, beside raw sqlx doing the same three queries
//! (`= ANY($1)` per level) and grouping the rows into the same tree,
//! interleaved as `shared/notes/benchmarking.md` asks.
//!
//! Thing runs `User::query().preload(User::POSTS.then(Post::COMMENTS)).all()`
//! without a cache, with a warm `MemoryCache` and with a warm `RedisCache`;
//! one more contender reads the same rows with three `by_ids` through the warm
//! `MemoryCache`, the part of the warm preload that is the row cache's.
//! Every contender's tree is checked against the raw one before timing.
//!
//! ```text
//! cargo bench -p thing-bench --bench relations
//! ```

use std::collections::HashMap;
use thing::cache::RedisCache;
use thing::sqlx::{self, Row};
use thing::{BaseModel, Db, HasMany, Thing};
use thing_bench::{Contender, Plan, base_model, interleave, report, time_async};

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_users")]
struct User {
    #[thing(base)]
    base: BaseModel,
    name: String,
    #[thing(has_many(Post, fk = "user_id"))]
    posts: HasMany<Post>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_posts")]
struct Post {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    user_id: i64,
    title: String,
    #[thing(has_many(Comment, fk = "post_id"))]
    comments: HasMany<Comment>,
}

#[derive(Thing, Debug, Clone, Default)]
#[thing(table = "bench_comments")]
struct Comment {
    #[thing(base)]
    base: BaseModel,
    #[thing(index)]
    post_id: i64,
    body: String,
}

const USERS: usize = 100;
const POSTS_PER_USER: usize = 3;
const COMMENTS_PER_POST: usize = 3;

/// The loaded tree as ids and text, to compare contenders.
type Tree = Vec<(i64, Vec<(i64, String, Vec<(i64, String)>)>)>;

fn tree(users: &[User]) -> Tree {
    users
        .iter()
        .map(|user| {
            let posts = user.posts.get().unwrap().iter().map(|post| {
                let comments = post.comments.get().unwrap().iter();
                let comments = comments.map(|c| (c.base.id, c.body.clone())).collect();
                (post.base.id, post.title.clone(), comments)
            });
            (user.base.id, posts.collect())
        })
        .collect()
}

/// What an application on raw sqlx writes: one query per level, each row
/// decoded into its struct, children grouped under their parents.
async fn raw_tree(pool: &sqlx::PgPool) -> Vec<User> {
    let rows = sqlx::query(
        "SELECT id, created_at, updated_at, deleted, name FROM bench_users \
         WHERE deleted = false ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut users: Vec<User> = rows
        .iter()
        .map(|row| User {
            base: base_model(row),
            name: row.get(4),
            ..Default::default()
        })
        .collect();
    let user_ids: Vec<i64> = users.iter().map(|user| user.base.id).collect();
    let rows = sqlx::query(
        "SELECT id, created_at, updated_at, deleted, user_id, title FROM bench_posts \
         WHERE user_id = ANY($1) AND deleted = false ORDER BY id",
    )
    .bind(&user_ids)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut posts: Vec<Post> = rows
        .iter()
        .map(|row| Post {
            base: base_model(row),
            user_id: row.get(4),
            title: row.get(5),
            ..Default::default()
        })
        .collect();
    let post_ids: Vec<i64> = posts.iter().map(|post| post.base.id).collect();
    let rows = sqlx::query(
        "SELECT id, created_at, updated_at, deleted, post_id, body FROM bench_comments \
         WHERE post_id = ANY($1) AND deleted = false ORDER BY id",
    )
    .bind(&post_ids)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut comments: HashMap<i64, Vec<Comment>> = HashMap::new();
    for row in &rows {
        let comment = Comment {
            base: base_model(row),
            post_id: row.get(4),
            body: row.get(5),
        };
        comments.entry(comment.post_id).or_default().push(comment);
    }
    let mut by_user: HashMap<i64, Vec<Post>> = HashMap::new();
    for mut post in posts.drain(..) {
        post.comments
            .set(comments.remove(&post.base.id).unwrap_or_default());
        by_user.entry(post.user_id).or_default().push(post);
    }
    for user in &mut users {
        user.posts
            .set(by_user.remove(&user.base.id).unwrap_or_default());
    }
    users
}

async fn seed(db: &Db) {
    db.drop_table::<User>().await.unwrap();
    db.drop_table::<Post>().await.unwrap();
    db.drop_table::<Comment>().await.unwrap();
    db.create_table::<User>().await.unwrap();
    db.create_table::<Post>().await.unwrap();
    db.create_table::<Comment>().await.unwrap();
    let mut users: Vec<User> = (0..USERS)
        .map(|n| User {
            name: format!("user {n}"),
            ..Default::default()
        })
        .collect();
    User::save_many(db, &mut users).await.unwrap();
    let mut posts: Vec<Post> = users
        .iter()
        .flat_map(|user| {
            (0..POSTS_PER_USER).map(|n| Post {
                user_id: user.base.id,
                title: format!("{} post {n}", user.name),
                ..Default::default()
            })
        })
        .collect();
    Post::save_many(db, &mut posts).await.unwrap();
    let mut comments: Vec<Comment> = posts
        .iter()
        .flat_map(|post| {
            (0..COMMENTS_PER_POST).map(|n| Comment {
                post_id: post.base.id,
                body: format!("comment {n} on {}", post.title),
                ..Default::default()
            })
        })
        .collect();
    Comment::save_many(db, &mut comments).await.unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plan = Plan::from_env();
    let database = runtime.block_on(thing_bench::BenchDatabase::create("thing_bench_relations"));
    let url = database.url.clone();
    let prefix = format!("thing-bench-relations:{}", std::process::id());
    let (uncached, memory, redis) = runtime.block_on(async {
        let uncached = Db::builder(&url)
            .no_cache()
            .max_connections(4)
            .build()
            .await
            .unwrap();
        seed(&uncached).await;
        let memory = Db::builder(&url)
            .key_prefix(prefix.clone())
            .max_connections(4)
            .build()
            .await
            .unwrap();
        let redis = Db::builder(&url)
            .key_prefix(prefix.clone())
            .cache(
                RedisCache::connect(&thing_bench::redis_url())
                    .await
                    .expect("Redis"),
            )
            .max_connections(4)
            .build()
            .await
            .unwrap();
        (uncached, memory, redis)
    });
    let pool = uncached.as_postgres().unwrap().clone();
    let query = || User::query().preload(User::POSTS.then(Post::COMMENTS));

    runtime.block_on(async {
        let expected = tree(&raw_tree(&pool).await);
        assert_eq!(expected.len(), USERS);
        for (name, db) in [("none", &uncached), ("memory", &memory), ("redis", &redis)] {
            query().all(db).await.unwrap(); // warms the caches
            db.reset_stats();
            let users = query().all(db).await.unwrap();
            let stats = db.stats();
            assert_eq!(tree(&users), expected, "{name}");
            println!(
                "users → posts → comments ({name}): {} SQL statement(s), {} cache round trip(s)",
                stats.statements(),
                stats.cache_round_trips
            );
        }
    });

    // The rows alone, by id through the same warm cache: what the preload
    // costs beyond its three lists.
    let (user_ids, post_ids, comment_ids) = runtime.block_on(async {
        let users = query().all(&uncached).await.unwrap();
        let posts: Vec<&Post> = users.iter().flat_map(|u| u.posts.get().unwrap()).collect();
        let comments: Vec<i64> = posts
            .iter()
            .flat_map(|p| p.comments.get().unwrap().iter().map(|c| c.base.id))
            .collect();
        let users: Vec<i64> = users.iter().map(|u| u.base.id).collect();
        let posts: Vec<i64> = posts.iter().map(|p| p.base.id).collect();
        (users, posts, comments)
    });
    let summaries = interleave(
        plan,
        vec![
            Contender::new("raw sqlx: 3 queries, grouped", |n| {
                time_async(&runtime, n, || async {
                    raw_tree(&pool).await;
                })
            }),
            Contender::new("thing preload, no cache", |n| {
                time_async(&runtime, n, || async {
                    query().all(&uncached).await.unwrap();
                })
            }),
            Contender::new("thing preload, MemoryCache warm", |n| {
                time_async(&runtime, n, || async {
                    query().all(&memory).await.unwrap();
                })
            }),
            Contender::new("thing by_ids of the same rows, MemoryCache warm", |n| {
                time_async(&runtime, n, || async {
                    User::by_ids(&memory, &user_ids).await.unwrap();
                    Post::by_ids(&memory, &post_ids).await.unwrap();
                    Comment::by_ids(&memory, &comment_ids).await.unwrap();
                })
            }),
            Contender::new("thing preload, RedisCache warm", |n| {
                time_async(&runtime, n, || async {
                    query().all(&redis).await.unwrap();
                })
            }),
        ],
    );
    report(
        &format!(
            "users → posts → comments ({USERS} → {} → {})",
            USERS * POSTS_PER_USER,
            USERS * POSTS_PER_USER * COMMENTS_PER_POST
        ),
        &summaries,
    );
    drop((uncached, memory, redis, pool));
    runtime.block_on(database.drop());
}
