//! The application: its configuration, its state, and its routes.

use crate::auth::Tokens;
use crate::routes::{articles, comments, profiles, tags, users};
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use thing::{Db, RedisCache};

/// Where the app keeps its data, read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: SQLite in memory when unset.
    pub database_url: String,
    /// `REDIS_URL`: the cache every instance shares; the in-process cache
    /// when unset (one instance only).
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX`: the cache's key prefix (instances of one app share it).
    pub redis_prefix: String,
    /// `CACHE=none`: no cache at all (every read is SQL), to compare.
    pub no_cache: bool,
    /// `JWT_SECRET`: the tokens' secret (every instance needs the same).
    pub jwt_secret: String,
}

impl Config {
    /// The configuration the environment gives.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Self {
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite::memory:".into()),
            redis_url: var("REDIS_URL"),
            redis_prefix: var("REDIS_PREFIX").unwrap_or_else(|| "conduit".into()),
            no_cache: var("CACHE").is_some_and(|cache| cache == "none"),
            jwt_secret: var("JWT_SECRET").unwrap_or_else(|| {
                tracing::warn!("JWT_SECRET is not set: using a development secret");
                "conduit-development-secret".into()
            }),
        }
    }
}

/// What every handler shares: the database through Thing, and the tokens.
#[derive(Clone)]
pub struct AppState {
    /// The database and its cache.
    pub db: Db,
    /// Issues and checks tokens.
    pub tokens: Arc<Tokens>,
}

impl AppState {
    /// Connects as `config` says and creates the tables that are missing.
    pub async fn connect(config: &Config) -> thing::Result<Self> {
        let mut builder = Db::builder(&config.database_url).ttl(Duration::from_secs(3600));
        if config.no_cache {
            builder = builder.no_cache();
        } else if let Some(url) = &config.redis_url {
            builder = builder
                .cache(RedisCache::connect(url).await?)
                .key_prefix(config.redis_prefix.clone());
        }
        let db = builder.build().await?;
        crate::model::create_tables(&db).await?;
        Ok(Self::new(db, &config.jwt_secret))
    }

    /// The state of an app on `db` whose tokens are signed with `secret`.
    pub fn new(db: Db, secret: &str) -> Self {
        Self {
            db,
            tokens: Arc::new(Tokens::new(secret.as_bytes())),
        }
    }
}

/// Every route of the RealWorld API, under `/api`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/users", post(users::register))
        .route("/users/login", post(users::login))
        .route("/user", get(users::current).put(users::update))
        .route("/profiles/{username}", get(profiles::get))
        .route(
            "/profiles/{username}/follow",
            post(profiles::follow).delete(profiles::unfollow),
        )
        .route("/articles", get(articles::list).post(articles::create))
        .route("/articles/feed", get(articles::feed))
        .route(
            "/articles/{slug}",
            get(articles::get)
                .put(articles::update)
                .delete(articles::delete),
        )
        .route(
            "/articles/{slug}/favorite",
            post(articles::favorite).delete(articles::unfavorite),
        )
        .route(
            "/articles/{slug}/comments",
            get(comments::list).post(comments::add),
        )
        .route(
            "/articles/{slug}/comments/{id}",
            axum::routing::delete(comments::delete),
        )
        .route("/tags", get(tags::list));
    Router::new().nest("/api", api).with_state(state)
}
