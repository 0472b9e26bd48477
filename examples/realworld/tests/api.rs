//! The RealWorld API through HTTP requests handed to the router as a server
//! would: on SQLite in memory with the in-process cache (one instance), and
//! on PostgreSQL and MariaDB as two instances (two `Db` handles) on one
//! Redis, where every write goes through one instance and every read that
//! checks it through the other, at once.

mod common;

use axum::Router;
use axum::http::StatusCode;
use common::{SECRET, call};
use realworld::{AppState, router};
use serde_json::{Value, json};
use std::time::Duration;
use thing::Db;
use thing_tests::{Backend, TestDb, redis_available, unique_name};

/// Instances of the app on one database (and one cache).
struct Deployment {
    /// Writes go through the first, checks through the last.
    instances: Vec<(Router, Db)>,
    /// The test's database on a server, dropped at the end.
    database: Option<TestDb>,
}

impl Deployment {
    /// One instance on SQLite in memory and the in-process cache: what
    /// `cargo run -p realworld` runs.
    async fn sqlite() -> Self {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        realworld::model::create_tables(&db).await.unwrap();
        let app = router(AppState::new(db.clone(), SECRET));
        Self {
            instances: vec![(app, db)],
            database: None,
        }
    }

    /// Two instances on a fresh database of `backend` and one Redis; `None`
    /// (after a loud message) when a server is missing outside CI.
    async fn two_on_redis(backend: Backend) -> Option<Self> {
        if !redis_available() {
            return None;
        }
        let database = TestDb::new(backend).await?;
        let prefix = unique_name();
        let mut instances = Vec::new();
        for _ in 0..2 {
            let ttl = |builder: thing::DbBuilder| builder.ttl(Duration::from_secs(600));
            instances.push(common::on_redis(&database.url, &prefix, ttl).await);
        }
        Some(Self {
            instances,
            database: Some(database),
        })
    }

    /// The reader's `Db`, for its statistics.
    fn reader_db(&self) -> &Db {
        &self.instances[self.instances.len() - 1].1
    }

    /// The instance writes go through.
    fn writer(&self) -> &Router {
        &self.instances[0].0
    }

    /// The instance checks go through (the writer's twin on a server).
    fn reader(&self) -> &Router {
        &self.instances[self.instances.len() - 1].0
    }

    async fn finish(self) {
        drop(self.instances);
        if let Some(database) = self.database {
            database.finish().await;
        }
    }
}

/// [`call`] expecting `expected`.
async fn expect(
    app: &Router,
    expected: StatusCode,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let (status, body) = call(app, method, uri, token, body).await;
    assert_eq!(status, expected, "{method} {uri}: {body}");
    body
}

/// Registers `name` (email `name@example.com`, password `name-password`);
/// returns its token.
async fn register(app: &Router, name: &str) -> String {
    let user = json!({"user": {"username": name, "email": format!("{name}@example.com"),
        "password": format!("{name}-password")}});
    let body = expect(
        app,
        StatusCode::CREATED,
        "POST",
        "/api/users",
        None,
        Some(user),
    )
    .await;
    body["user"]["token"].as_str().unwrap().to_string()
}

/// Logs in as `email` with `password`: the status and the body.
async fn login(app: &Router, email: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"user": {"email": email, "password": password}});
    call(app, "POST", "/api/users/login", None, Some(body)).await
}

/// Writes an article; returns its slug.
async fn write_article(app: &Router, token: &str, title: &str, tags: &[&str]) -> String {
    let article = json!({"article": {"title": title, "description": format!("about {title}"),
        "body": format!("the text of {title}"), "tagList": tags}});
    let body = expect(
        app,
        StatusCode::CREATED,
        "POST",
        "/api/articles",
        Some(token),
        Some(article),
    )
    .await;
    body["article"]["slug"].as_str().unwrap().to_string()
}

/// The titles of a list's articles, in order, and its count.
fn titles(body: &Value) -> (Vec<String>, u64) {
    let titles = body["articles"].as_array().unwrap().iter();
    let titles = titles
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect();
    (titles, body["articlesCount"].as_u64().unwrap())
}

/// The keys every error body has: `{"errors": {field: [messages]}}`.
fn error_fields(body: &Value) -> Vec<String> {
    let errors = body["errors"]
        .as_object()
        .unwrap_or_else(|| panic!("no errors: {body}"));
    errors.keys().cloned().collect()
}

/// Registration, login and the current user: the spec's codes, and every
/// change through one instance seen by the other.
async fn accounts(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let token = register(w, "ann").await;
    let me = expect(r, StatusCode::OK, "GET", "/api/user", Some(&token), None).await;
    assert_eq!(me["user"]["username"], "ann");
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert!(me["user"]["bio"].is_null() && me["user"]["image"].is_null());

    let again = json!({"user": {"username": "ann", "email": "other@example.com", "password": "x"}});
    let body = expect(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        "/api/users",
        None,
        Some(again),
    )
    .await;
    assert_eq!(error_fields(&body), ["username"]);
    let again = json!({"user": {"username": "other", "email": "ann@example.com", "password": "x"}});
    let body = expect(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        "/api/users",
        None,
        Some(again),
    )
    .await;
    assert_eq!(error_fields(&body), ["email"]);
    let empty = json!({"user": {"username": "", "email": "e@example.com"}});
    let body = expect(
        w,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        "/api/users",
        None,
        Some(empty),
    )
    .await;
    assert_eq!(error_fields(&body), ["password", "username"]);
    let body = expect(
        w,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        "/api/users",
        None,
        Some(json!([1])),
    )
    .await;
    assert_eq!(error_fields(&body), ["body"]);

    let (status, body) = login(r, "ann@example.com", "ann-password").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["username"], "ann");
    assert_eq!(
        login(r, "ann@example.com", "wrong").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(r, "nobody@example.com", "ann-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    expect(r, StatusCode::UNAUTHORIZED, "GET", "/api/user", None, None).await;
    expect(
        r,
        StatusCode::UNAUTHORIZED,
        "GET",
        "/api/user",
        Some("not.a.token"),
        None,
    )
    .await;
    let forged = AppState::new(d.instances[0].1.clone(), "another secret")
        .tokens
        .issue(1)
        .unwrap();
    expect(
        r,
        StatusCode::UNAUTHORIZED,
        "GET",
        "/api/user",
        Some(&forged),
        None,
    )
    .await;

    let change = json!({"user": {"email": "ann@new.example.com", "bio": "I write", "image": "https://i/ann.png"}});
    expect(
        w,
        StatusCode::OK,
        "PUT",
        "/api/user",
        Some(&token),
        Some(change),
    )
    .await;
    let me = expect(r, StatusCode::OK, "GET", "/api/user", Some(&token), None).await;
    assert_eq!(
        (me["user"]["email"].as_str(), me["user"]["bio"].as_str()),
        (Some("ann@new.example.com"), Some("I write"))
    );
    assert_eq!(
        login(r, "ann@example.com", "ann-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(r, "ann@new.example.com", "ann-password").await.0,
        StatusCode::OK
    );
    // The old email is free again; the username of another is not.
    let reuse = json!({"user": {"username": "bob", "email": "ann@example.com", "password": "pw"}});
    expect(
        w,
        StatusCode::CREATED,
        "POST",
        "/api/users",
        None,
        Some(reuse),
    )
    .await;
    let taken = json!({"user": {"username": "bob"}});
    let body = expect(
        w,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PUT",
        "/api/user",
        Some(&token),
        Some(taken),
    )
    .await;
    assert_eq!(error_fields(&body), ["username"]);
    let password = json!({"user": {"password": "new-password"}});
    expect(
        w,
        StatusCode::OK,
        "PUT",
        "/api/user",
        Some(&token),
        Some(password),
    )
    .await;
    assert_eq!(
        login(r, "ann@new.example.com", "ann-password").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(r, "ann@new.example.com", "new-password").await.0,
        StatusCode::OK
    );
}

/// Profiles and follows, as the follower and as anyone.
async fn profiles(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let ann = register(w, "ann").await;
    register(w, "bob").await;
    let following = async |token: Option<&str>| {
        let body = expect(r, StatusCode::OK, "GET", "/api/profiles/bob", token, None).await;
        body["profile"]["following"].as_bool().unwrap()
    };
    assert!(!following(Some(&ann)).await);
    let body = expect(
        w,
        StatusCode::OK,
        "POST",
        "/api/profiles/bob/follow",
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(body["profile"]["username"], "bob");
    assert_eq!(body["profile"]["following"], true);
    assert!(
        following(Some(&ann)).await,
        "the other instance sees the follow at once"
    );
    assert!(!following(None).await);
    expect(
        w,
        StatusCode::OK,
        "POST",
        "/api/profiles/bob/follow",
        Some(&ann),
        None,
    )
    .await;
    let body = expect(
        w,
        StatusCode::OK,
        "DELETE",
        "/api/profiles/bob/follow",
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(body["profile"]["following"], false);
    assert!(
        !following(Some(&ann)).await,
        "following twice is one follow; unfollowed at once"
    );

    expect(
        w,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        "/api/profiles/ann/follow",
        Some(&ann),
        None,
    )
    .await;
    expect(
        r,
        StatusCode::NOT_FOUND,
        "GET",
        "/api/profiles/nobody",
        None,
        None,
    )
    .await;
    expect(
        w,
        StatusCode::NOT_FOUND,
        "POST",
        "/api/profiles/nobody/follow",
        Some(&ann),
        None,
    )
    .await;
    expect(
        w,
        StatusCode::UNAUTHORIZED,
        "POST",
        "/api/profiles/bob/follow",
        None,
        None,
    )
    .await;
}

/// One article: created, read, renamed (a new slug), refused to others,
/// deleted.
async fn articles(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let ann = register(w, "ann").await;
    let bob = register(w, "bob").await;
    let slug = write_article(
        w,
        &ann,
        "How to Train Your Dragon",
        &["training", "dragons", "dragons"],
    )
    .await;
    assert!(slug.starts_with("how-to-train-your-dragon-"), "{slug}");
    let body = expect(
        r,
        StatusCode::OK,
        "GET",
        &format!("/api/articles/{slug}"),
        None,
        None,
    )
    .await;
    let article = &body["article"];
    assert_eq!(article["body"], "the text of How to Train Your Dragon");
    assert_eq!(article["tagList"], json!(["dragons", "training"]));
    assert_eq!(
        (
            article["favorited"].as_bool(),
            article["favoritesCount"].as_i64()
        ),
        (Some(false), Some(0))
    );
    assert_eq!(article["author"]["username"], "ann");
    let created = article["createdAt"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.contains('.'),
        "milliseconds, UTC: {created}"
    );

    let missing = json!({"article": {"title": "t", "body": "b"}});
    let body = expect(
        w,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        "/api/articles",
        Some(&ann),
        Some(missing),
    )
    .await;
    assert_eq!(error_fields(&body), ["description"]);
    expect(
        w,
        StatusCode::UNAUTHORIZED,
        "POST",
        "/api/articles",
        None,
        Some(json!({"article": {}})),
    )
    .await;

    let rename = json!({"article": {"title": "Dragons, Trained", "body": "new text"}});
    let uri = format!("/api/articles/{slug}");
    expect(
        w,
        StatusCode::FORBIDDEN,
        "PUT",
        &uri,
        Some(&bob),
        Some(rename.clone()),
    )
    .await;
    let body = expect(w, StatusCode::OK, "PUT", &uri, Some(&ann), Some(rename)).await;
    let renamed = body["article"]["slug"].as_str().unwrap().to_string();
    assert!(renamed.starts_with("dragons-trained-"), "{renamed}");
    expect(r, StatusCode::NOT_FOUND, "GET", &uri, None, None).await;
    let uri = format!("/api/articles/{renamed}");
    let body = expect(r, StatusCode::OK, "GET", &uri, None, None).await;
    assert_eq!(
        (
            body["article"]["title"].as_str(),
            body["article"]["body"].as_str()
        ),
        (Some("Dragons, Trained"), Some("new text"))
    );
    // A change of the body alone keeps the slug.
    let text = json!({"article": {"body": "newer text"}});
    let body = expect(w, StatusCode::OK, "PUT", &uri, Some(&ann), Some(text)).await;
    assert_eq!(body["article"]["slug"], renamed.as_str());

    expect(w, StatusCode::FORBIDDEN, "DELETE", &uri, Some(&bob), None).await;
    let body = expect(w, StatusCode::NO_CONTENT, "DELETE", &uri, Some(&ann), None).await;
    assert!(body.is_null());
    expect(r, StatusCode::NOT_FOUND, "GET", &uri, None, None).await;
    expect(w, StatusCode::NOT_FOUND, "DELETE", &uri, Some(&ann), None).await;
    let (list, count) =
        titles(&expect(r, StatusCode::OK, "GET", "/api/articles", None, None).await);
    assert_eq!((list.len(), count), (0, 0));
}

/// The global list with its filters and pages, and the feed: every write
/// seen by the other instance's next list.
async fn lists(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let ann = register(w, "ann").await;
    let bob = register(w, "bob").await;
    let cat = register(w, "cat").await;
    for (n, tags) in [(1, &["rust"][..]), (2, &["rust", "orm"]), (3, &[])] {
        write_article(w, &ann, &format!("ann {n}"), tags).await;
    }
    let bob_1 = write_article(w, &bob, "bob 1", &["orm"]).await;
    write_article(w, &bob, "bob 2", &["cache"]).await;

    let list = async |uri: &str, token: Option<&str>| {
        titles(&expect(r, StatusCode::OK, "GET", uri, token, None).await)
    };
    let all = list("/api/articles", None).await;
    assert_eq!(
        all,
        (
            vec![
                "bob 2".into(),
                "bob 1".into(),
                "ann 3".into(),
                "ann 2".into(),
                "ann 1".into()
            ],
            5
        )
    );
    let body = expect(r, StatusCode::OK, "GET", "/api/articles", None, None).await;
    assert!(
        body["articles"][0].get("body").is_none(),
        "lists leave the body out"
    );
    assert_eq!(
        list("/api/articles?limit=2&offset=1", None).await,
        (vec!["bob 1".into(), "ann 3".into()], 5)
    );
    assert_eq!(
        list("/api/articles?offset=4", None).await,
        (vec!["ann 1".into()], 5)
    );
    assert_eq!(
        list("/api/articles?author=bob", None).await,
        (vec!["bob 2".into(), "bob 1".into()], 2)
    );
    assert_eq!(
        list("/api/articles?tag=orm", None).await,
        (vec!["bob 1".into(), "ann 2".into()], 2)
    );
    assert_eq!(
        list("/api/articles?tag=orm&author=ann", None).await,
        (vec!["ann 2".into()], 1)
    );
    assert_eq!(list("/api/articles?tag=nothing", None).await, (vec![], 0));
    assert_eq!(list("/api/articles?author=nobody", None).await, (vec![], 0));
    assert_eq!(list("/api/articles?favorited=cat", None).await, (vec![], 0));

    expect(
        w,
        StatusCode::OK,
        "POST",
        &format!("/api/articles/{bob_1}/favorite"),
        Some(&cat),
        None,
    )
    .await;
    assert_eq!(
        list("/api/articles?favorited=cat", None).await,
        (vec!["bob 1".into()], 1)
    );
    let body = expect(
        r,
        StatusCode::OK,
        "GET",
        "/api/articles?author=bob",
        Some(&cat),
        None,
    )
    .await;
    let flags: Vec<_> = body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["favorited"].as_bool().unwrap(),
                a["favoritesCount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, [(false, 0), (true, 1)]);

    assert_eq!(list("/api/articles/feed", Some(&cat)).await, (vec![], 0));
    expect(
        r,
        StatusCode::UNAUTHORIZED,
        "GET",
        "/api/articles/feed",
        None,
        None,
    )
    .await;
    expect(
        w,
        StatusCode::OK,
        "POST",
        "/api/profiles/ann/follow",
        Some(&cat),
        None,
    )
    .await;
    assert_eq!(
        list("/api/articles/feed", Some(&cat)).await,
        (vec!["ann 3".into(), "ann 2".into(), "ann 1".into()], 3)
    );
    let body = expect(
        r,
        StatusCode::OK,
        "GET",
        "/api/articles/feed?limit=1",
        Some(&cat),
        None,
    )
    .await;
    assert_eq!(body["articles"][0]["author"]["following"], true);
    write_article(w, &ann, "ann 4", &["rust"]).await;
    assert_eq!(
        list("/api/articles/feed?limit=2", Some(&cat)).await,
        (vec!["ann 4".into(), "ann 3".into()], 4)
    );
    assert_eq!(list("/api/articles?tag=rust", None).await.1, 3);
    expect(
        w,
        StatusCode::OK,
        "DELETE",
        "/api/profiles/ann/follow",
        Some(&cat),
        None,
    )
    .await;
    assert_eq!(list("/api/articles/feed", Some(&cat)).await, (vec![], 0));
    let body = expect(r, StatusCode::OK, "GET", "/api/tags", None, None).await;
    assert_eq!(body["tags"], json!(["cache", "orm", "rust"]));
    write_article(w, &bob, "bob 3", &["axum"]).await;
    let body = expect(r, StatusCode::OK, "GET", "/api/tags", None, None).await;
    assert_eq!(body["tags"], json!(["axum", "cache", "orm", "rust"]));
}

/// Favorites: counted once per user however often asked, also when asked
/// eight times at once; each change seen by the other instance.
async fn favorites(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let ann = register(w, "ann").await;
    let cat = register(w, "cat").await;
    let dan = register(w, "dan").await;
    let slug = write_article(w, &ann, "liked", &[]).await;
    let (article, favorite) = (
        format!("/api/articles/{slug}"),
        format!("/api/articles/{slug}/favorite"),
    );
    let seen = async |token: Option<&str>| {
        let body = expect(r, StatusCode::OK, "GET", &article, token, None).await;
        (
            body["article"]["favorited"].as_bool().unwrap(),
            body["article"]["favoritesCount"].as_i64().unwrap(),
        )
    };
    let body = expect(w, StatusCode::OK, "POST", &favorite, Some(&cat), None).await;
    assert_eq!(
        (
            &body["article"]["favorited"],
            &body["article"]["favoritesCount"]
        ),
        (&json!(true), &json!(1))
    );
    expect(w, StatusCode::OK, "POST", &favorite, Some(&cat), None).await;
    assert_eq!(seen(Some(&cat)).await, (true, 1));
    assert_eq!(seen(None).await, (false, 1));
    let at_once: Vec<_> = (0..8)
        .map(|_| {
            let (app, uri, token) = (w.clone(), favorite.clone(), dan.clone());
            tokio::spawn(async move { call(&app, "POST", &uri, Some(&token), None).await })
        })
        .collect();
    for task in at_once {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        seen(Some(&dan)).await,
        (true, 2),
        "eight favorites at once are one"
    );
    let body = expect(w, StatusCode::OK, "DELETE", &favorite, Some(&cat), None).await;
    assert_eq!(body["article"]["favorited"], false);
    expect(w, StatusCode::OK, "DELETE", &favorite, Some(&cat), None).await;
    assert_eq!(seen(Some(&cat)).await, (false, 1));
    assert_eq!(seen(Some(&dan)).await, (true, 1));
    expect(
        w,
        StatusCode::NOT_FOUND,
        "POST",
        "/api/articles/nothing/favorite",
        Some(&cat),
        None,
    )
    .await;
    expect(w, StatusCode::UNAUTHORIZED, "POST", &favorite, None, None).await;
}

/// Comments: added, listed oldest first with authors, deleted by their
/// author only.
async fn comments(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let ann = register(w, "ann").await;
    let bob = register(w, "bob").await;
    let slug = write_article(w, &ann, "discussed", &[]).await;
    let uri = format!("/api/articles/{slug}/comments");
    let body = expect(
        w,
        StatusCode::OK,
        "POST",
        &uri,
        Some(&bob),
        Some(json!({"comment": {"body": "first!"}})),
    )
    .await;
    let id = body["comment"]["id"].as_i64().unwrap();
    assert_eq!(body["comment"]["author"]["username"], "bob");
    expect(
        w,
        StatusCode::OK,
        "POST",
        &uri,
        Some(&ann),
        Some(json!({"comment": {"body": "thanks"}})),
    )
    .await;
    let listed = async |token: Option<&str>| {
        let body = expect(r, StatusCode::OK, "GET", &uri, token, None).await;
        body["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["body"].as_str().unwrap().to_string(),
                    c["author"]["username"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let both = vec![
        ("first!".to_string(), "bob".to_string()),
        ("thanks".into(), "ann".into()),
    ];
    assert_eq!(listed(None).await, both);
    assert_eq!(listed(Some(&ann)).await, both);
    expect(
        w,
        StatusCode::UNPROCESSABLE_ENTITY,
        "POST",
        &uri,
        Some(&bob),
        Some(json!({"comment": {"body": " "}})),
    )
    .await;
    expect(
        w,
        StatusCode::NOT_FOUND,
        "POST",
        "/api/articles/nothing/comments",
        Some(&bob),
        Some(json!({"comment": {"body": "x"}})),
    )
    .await;

    let one = format!("{uri}/{id}");
    expect(w, StatusCode::FORBIDDEN, "DELETE", &one, Some(&ann), None).await;
    expect(w, StatusCode::NO_CONTENT, "DELETE", &one, Some(&bob), None).await;
    assert_eq!(
        listed(None).await,
        [("thanks".to_string(), "ann".to_string())]
    );
    expect(w, StatusCode::NOT_FOUND, "DELETE", &one, Some(&bob), None).await;
    let other = write_article(w, &ann, "elsewhere", &[]).await;
    let last = listed(None).await;
    assert_eq!(last.len(), 1);
    let body = expect(r, StatusCode::OK, "GET", &uri, None, None).await;
    let thanks = body["comments"][0]["id"].as_i64().unwrap();
    expect(
        w,
        StatusCode::NOT_FOUND,
        "DELETE",
        &format!("/api/articles/{other}/comments/{thanks}"),
        Some(&ann),
        None,
    )
    .await;
}

/// The warm reads of the API send no SQL: a second request of each reads
/// everything from the cache.
async fn warm_reads_send_no_sql(d: &Deployment) {
    let (w, r) = (d.writer(), d.reader());
    let ann = register(w, "ann").await;
    let bob = register(w, "bob").await;
    let slug = write_article(w, &ann, "cached", &["rust", "orm"]).await;
    expect(
        w,
        StatusCode::OK,
        "POST",
        "/api/profiles/ann/follow",
        Some(&bob),
        None,
    )
    .await;
    expect(
        w,
        StatusCode::OK,
        "POST",
        &format!("/api/articles/{slug}/favorite"),
        Some(&bob),
        None,
    )
    .await;
    expect(
        w,
        StatusCode::OK,
        "POST",
        &format!("/api/articles/{slug}/comments"),
        Some(&ann),
        Some(json!({"comment": {"body": "hello"}})),
    )
    .await;
    for uri in [
        "/api/articles".to_string(),
        "/api/articles?tag=rust".into(),
        "/api/articles?author=ann".into(),
        "/api/articles?favorited=bob".into(),
        "/api/articles/feed".into(),
        format!("/api/articles/{slug}"),
        format!("/api/articles/{slug}/comments"),
        "/api/profiles/ann".into(),
        "/api/user".into(),
        "/api/tags".into(),
    ] {
        expect(r, StatusCode::OK, "GET", &uri, Some(&bob), None).await;
        d.reader_db().reset_stats();
        expect(r, StatusCode::OK, "GET", &uri, Some(&bob), None).await;
        let stats = d.reader_db().stats();
        assert_eq!(stats.statements(), 0, "warm GET {uri}: {stats:?}");
    }
}

/// The deployment each test module starts: `None` when its servers are
/// missing outside CI.
async fn deployment(backend: Backend) -> Option<Deployment> {
    match backend {
        Backend::Sqlite => Some(Deployment::sqlite().await),
        server => Deployment::two_on_redis(server).await,
    }
}

macro_rules! on_every_deployment {
    ($($scenario:ident),* $(,)?) => {
        on_every_deployment!(@on sqlite, Backend::Sqlite, $($scenario),*);
        on_every_deployment!(@on postgres_two_instances_on_redis, Backend::Postgres, $($scenario),*);
        on_every_deployment!(@on mariadb_two_instances_on_redis, Backend::MySql, $($scenario),*);
    };
    (@on $module:ident, $backend:expr, $($scenario:ident),*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(d) = deployment($backend).await else { return };
                    super::$scenario(&d).await;
                    d.finish().await;
                }
            )*
        }
    };
}

on_every_deployment!(
    accounts,
    profiles,
    articles,
    lists,
    favorites,
    comments,
    warm_reads_send_no_sql
);
