//! What the API tests share: the tokens' secret, one instance of the app on
//! a database and Redis, and one request handed to its router.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use realworld::{AppState, router};
use serde_json::Value;
use thing::{Db, DbBuilder, RedisCache};
use thing_tests::redis_url;
use tower::ServiceExt;

/// The tokens' secret of every instance a test starts.
pub const SECRET: &str = "test-secret";

/// An instance of the app on the database at `url` with the shared Redis
/// under `prefix` (`configure` sets the rest), its tables created.
pub async fn on_redis(
    url: &str,
    prefix: &str,
    configure: impl FnOnce(DbBuilder) -> DbBuilder,
) -> (Router, Db) {
    let builder = Db::builder(url)
        .cache(RedisCache::connect(&redis_url()).await.unwrap())
        .key_prefix(prefix.to_string());
    let db = configure(builder).build().await.unwrap();
    realworld::model::create_tables(&db).await.unwrap();
    (router(AppState::new(db.clone(), SECRET)), db)
}

/// One request: its status and its JSON body (`null` when empty).
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Token {token}"));
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "{method} {uri}: not JSON ({err}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    (status, body)
}
