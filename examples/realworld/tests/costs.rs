//! What each endpoint costs, cold (nothing cached) and warm: statements sent
//! to the database and Redis round trips, on PostgreSQL with `RedisCache`.
//! The table is the one in the crate's README; a change of cost fails here
//! until both are updated.

mod common;

use axum::Router;
use serde_json::{Value, json};
use std::time::Duration;
use thing::Db;
use thing_tests::{Backend, TestDb, redis_available, unique_name};

async fn instance(url: &str, prefix: &str) -> (Router, Db) {
    // The outbox's first poll runs at once (and is waited out below), the
    // next in an hour: none lands inside a measured request.
    let quiet = |builder: thing::DbBuilder| builder.outbox_interval(Duration::from_secs(3600));
    let instance = common::on_redis(url, prefix, quiet).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    instance
}

/// One request, which must succeed; its JSON body.
async fn call(app: &Router, method: &str, uri: &str, token: &str, body: Option<Value>) -> Value {
    let (status, body) = common::call(app, method, uri, Some(token), body).await;
    assert!(status.is_success(), "{method} {uri}: {status}");
    body
}

/// (statements, Redis round trips) of one request through `db`'s app.
async fn cost(
    app: &Router,
    db: &Db,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> (u64, u64) {
    db.reset_stats();
    call(app, method, uri, token, body).await;
    let stats = db.stats();
    (stats.statements(), stats.cache_round_trips)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_costs_what_the_readme_says() {
    if !redis_available() {
        return;
    }
    let Some(database) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let prefix = unique_name();
    let (app, db) = instance(&database.url, &prefix).await;
    let register = async |name: &str| {
        let user = json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "pw"}});
        let body = call(&app, "POST", "/api/users", "", Some(user)).await;
        body["user"]["token"].as_str().unwrap().to_string()
    };
    let ann = register("ann").await;
    let bob = register("bob").await;
    let mut slugs = Vec::new();
    for n in 0..20 {
        let article = json!({"article": {"title": format!("article {n}"), "description": "d", "body": "b",
            "tagList": ["rust", format!("tag{}", n % 4)]}});
        let body = call(&app, "POST", "/api/articles", &ann, Some(article)).await;
        slugs.push(body["article"]["slug"].as_str().unwrap().to_string());
    }
    let slug = slugs[0].clone();
    call(&app, "POST", "/api/profiles/ann/follow", &bob, None).await;
    call(
        &app,
        "POST",
        &format!("/api/articles/{slug}/favorite"),
        &bob,
        None,
    )
    .await;
    for n in 0..5 {
        call(
            &app,
            "POST",
            &format!("/api/articles/{slug}/comments"),
            &ann,
            Some(json!({"comment": {"body": format!("comment {n}")}})),
        )
        .await;
    }

    // Reads: a second instance whose cache holds nothing yet (a prefix of
    // its own), then the same request again.
    let reads = [
        ("GET /api/articles (20 of 20)", "/api/articles".to_string()),
        (
            "GET /api/articles?tag=rust",
            "/api/articles?tag=rust".into(),
        ),
        (
            "GET /api/articles?author=ann",
            "/api/articles?author=ann".into(),
        ),
        (
            "GET /api/articles?favorited=bob",
            "/api/articles?favorited=bob".into(),
        ),
        ("GET /api/articles/feed", "/api/articles/feed".into()),
        ("GET /api/articles/{slug}", format!("/api/articles/{slug}")),
        (
            "GET /api/articles/{slug}/comments (5)",
            format!("/api/articles/{slug}/comments"),
        ),
        ("GET /api/profiles/{username}", "/api/profiles/ann".into()),
        ("GET /api/user", "/api/user".into()),
        ("GET /api/tags", "/api/tags".into()),
    ];
    let mut table = Vec::new();
    for (name, uri) in &reads {
        let (cold_app, cold_db) = instance(&database.url, &unique_name()).await;
        let cold = cost(&cold_app, &cold_db, "GET", uri, &bob, None).await;
        let warm = cost(&cold_app, &cold_db, "GET", uri, &bob, None).await;
        table.push((name.to_string(), cold, warm));
    }
    // Writes, through an instance that read what they read once before.
    let (cold_app, cold_db) = instance(&database.url, &prefix).await;
    let writes: Vec<(&str, &str, String, Option<Value>)> = vec![
        (
            "POST /api/articles (2 tags)",
            "POST",
            "/api/articles".into(),
            Some(
                json!({"article": {"title": "new", "description": "d", "body": "b", "tagList": ["rust", "tag1"]}}),
            ),
        ),
        (
            "PUT /api/articles/{slug} (title)",
            "PUT",
            format!("/api/articles/{}", slugs[1]),
            Some(json!({"article": {"title": "renamed"}})),
        ),
        (
            "POST /api/articles/{slug}/favorite",
            "POST",
            format!("/api/articles/{}/favorite", slugs[2]),
            None,
        ),
        (
            "POST /api/articles/{slug}/comments",
            "POST",
            format!("/api/articles/{}/comments", slugs[2]),
            Some(json!({"comment": {"body": "hi"}})),
        ),
        (
            "POST /api/profiles/{username}/follow",
            "POST",
            "/api/profiles/ann/follow".into(),
            None,
        ),
    ];
    for (name, method, uri, body) in writes {
        let token = if name.contains("articles (") || name.contains("PUT") {
            &ann
        } else {
            &bob
        };
        let first = cost(&cold_app, &cold_db, method, &uri, token, body).await;
        table.push((name.to_string(), first, (0, 0)));
    }
    let shown: Vec<String> = table
        .iter()
        .map(|(name, cold, warm)| {
            format!(
                "| {name} | {} | {} | {} | {} |",
                cold.0, cold.1, warm.0, warm.1
            )
        })
        .collect();
    println!("{}", shown.join("\n"));
    assert_eq!(
        shown,
        EXPECTED.lines().collect::<Vec<_>>(),
        "update the README's table"
    );
    drop((app, db, cold_app, cold_db));
    database.finish().await;
}

/// The README's table: endpoint, cold statements, cold Redis round trips,
/// warm statements, warm round trips (writes: the one request).
const EXPECTED: &str = "\
| GET /api/articles (20 of 20) | 10 | 33 | 0 | 7 |
| GET /api/articles?tag=rust | 14 | 47 | 0 | 9 |
| GET /api/articles?author=ann | 11 | 39 | 0 | 8 |
| GET /api/articles?favorited=bob | 12 | 41 | 0 | 9 |
| GET /api/articles/feed | 10 | 34 | 0 | 8 |
| GET /api/articles/{slug} | 10 | 32 | 0 | 6 |
| GET /api/articles/{slug}/comments (5) | 9 | 30 | 0 | 5 |
| GET /api/profiles/{username} | 4 | 14 | 0 | 2 |
| GET /api/user | 1 | 2 | 0 | 1 |
| GET /api/tags | 2 | 7 | 0 | 1 |
| POST /api/articles (2 tags) | 9 | 15 | 0 | 0 |
| PUT /api/articles/{slug} (title) | 3 | 14 | 0 | 0 |
| POST /api/articles/{slug}/favorite | 12 | 23 | 0 | 0 |
| POST /api/articles/{slug}/comments | 2 | 9 | 0 | 0 |
| POST /api/profiles/{username}/follow | 1 | 6 | 0 | 0 |";
