//! Articles: the global list and its filters, the feed, one article, and
//! writing, deleting and favoriting them.

use super::{article_at, article_view, article_views, required, user_by_name};
use crate::app::AppState;
use crate::auth::{Auth, MaybeAuth};
use crate::error::{ApiError, ApiResult};
use crate::json::{ArticleView, Body};
use crate::model::{Article, Tag, User};
use crate::routes::users::signed_in;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use thing::{Db, Thing};

/// The most articles one page holds.
const MAX_LIMIT: u64 = 100;

/// `{"article": …}`, in and out.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArticleBody<T> {
    /// The article.
    pub article: T,
}

/// `{"articles": […], "articlesCount": n}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticlesBody {
    /// One page, newest first.
    pub articles: Vec<ArticleView>,
    /// How many match, on every page.
    pub articles_count: u64,
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Only articles with this tag.
    tag: Option<String>,
    /// Only articles by this username.
    author: Option<String>,
    /// Only articles this username favorited.
    favorited: Option<String>,
    /// The page's size (20 when absent, at most 100).
    limit: Option<u64>,
    /// How many to skip (0 when absent).
    offset: Option<u64>,
}

/// A new article.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
}

/// A change of an article: any of its fields.
#[derive(Debug, Deserialize)]
pub struct ArticleChange {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
}

type ArticleReply = ApiResult<Json<ArticleBody<ArticleView>>>;

/// `GET /api/articles`: newest first, filtered by `tag`, `author` and
/// `favorited`, paged by `limit` and `offset`.
pub async fn list(
    State(state): State<AppState>,
    viewer: MaybeAuth,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<ArticlesBody>> {
    let query = filtered(&state.db, &params).await?;
    page(&state.db, viewer.user_id(), query, &params).await
}

/// `GET /api/articles/feed`: the articles of the users the signed-in user
/// follows, newest first.
pub async fn feed(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<ArticlesBody>> {
    let followed = User::FOLLOWING.ids(&state.db, auth.user_id).await?;
    let query = newest().filter(Article::AUTHOR_ID.is_in(followed));
    page(&state.db, Some(auth.user_id), query, &params).await
}

/// `GET /api/articles/{slug}`.
pub async fn get(
    State(state): State<AppState>,
    viewer: MaybeAuth,
    Path(slug): Path<String>,
) -> ArticleReply {
    let article = article_at(&state.db, &slug).await?;
    reply(&state.db, viewer.user_id(), article).await
}

/// `POST /api/articles`: 201 and the article; its tags are created as
/// needed, the article and its links in one transaction.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Body(body): Body<ArticleBody<NewArticle>>,
) -> ApiResult<(StatusCode, Json<ArticleBody<ArticleView>>)> {
    let new = body.article;
    let mut problems = Vec::new();
    let title = required("title", new.title, &mut problems);
    let description = required("description", new.description, &mut problems);
    let text = required("body", new.body, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let me = signed_in(&state.db, &auth).await?;
    let tags = tags_named(&state.db, new.tag_list.unwrap_or_default()).await?;
    let mut article = Article {
        slug: slug_of(&title)?,
        title,
        description,
        body: text,
        author_id: me.base.id,
        ..Default::default()
    };
    let tx = state.db.begin().await?;
    article.save(&tx).await?;
    for tag in &tags {
        Article::TAGS.link(&tx, &article, tag).await?;
    }
    tx.commit().await?;
    let view = article_view(&state.db, Some(me.base.id), article).await?;
    Ok((StatusCode::CREATED, Json(ArticleBody { article: view })))
}

/// `PUT /api/articles/{slug}`: the author only (403 for anyone else); a new
/// title gives a new slug.
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    Body(body): Body<ArticleBody<ArticleChange>>,
) -> ArticleReply {
    let mut article = own_article(&state.db, &auth, &slug).await?;
    let change = body.article;
    let mut problems = Vec::new();
    for (field, value) in [
        ("title", &change.title),
        ("description", &change.description),
        ("body", &change.body),
    ] {
        if value
            .as_deref()
            .is_some_and(|value| value.trim().is_empty())
        {
            problems.push((field, "can't be empty".to_string()));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    if let Some(title) = change.title.filter(|title| *title != article.title) {
        article.slug = slug_of(&title)?;
        article.title = title;
    }
    if let Some(description) = change.description {
        article.description = description;
    }
    if let Some(text) = change.body {
        article.body = text;
    }
    article.save(&state.db).await?;
    reply(&state.db, Some(auth.user_id), article).await
}

/// `DELETE /api/articles/{slug}`: the author only; 204.
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    let article = own_article(&state.db, &auth, &slug).await?;
    article.delete(&state.db).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/articles/{slug}/favorite`: favorited once however often
/// asked. The link and the count change in one transaction that holds the
/// article's row locked (`by_id_for_update`), so that two favorites of one
/// pair take turns and the second sees the first's link.
pub async fn favorite(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> ArticleReply {
    toggle_favorite(&state, &auth, &slug, true).await
}

/// `DELETE /api/articles/{slug}/favorite`: as [`favorite`], the other way.
pub async fn unfavorite(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
) -> ArticleReply {
    toggle_favorite(&state, &auth, &slug, false).await
}

async fn toggle_favorite(state: &AppState, auth: &Auth, slug: &str, on: bool) -> ArticleReply {
    let db = &state.db;
    let me = signed_in(db, auth).await?;
    let article = article_at(db, slug).await?;
    let tx = db.begin().await?;
    let article = Article::by_id_for_update(&tx, article.base.id).await?;
    let changed = if on {
        User::FAVORITES.link(&tx, &me, &article).await?
    } else {
        User::FAVORITES.unlink(&tx, &me, &article).await? > 0
    };
    if changed {
        let delta = if on { 1 } else { -1 };
        Article::incr(&tx, article.base.id, Article::FAVORITES_COUNT, delta).await?;
    }
    tx.commit().await?;
    let article = Article::by_id(db, article.base.id).await?;
    reply(db, Some(me.base.id), article).await
}

/// Every article, newest first.
fn newest() -> thing::Query<Article> {
    Article::query().order_by(Article::ID.desc())
}

/// The list's query: each filter a cached read (a user or tag by name, the
/// ids linked to it); a name that matches nothing matches no article.
async fn filtered(db: &Db, params: &ListParams) -> ApiResult<thing::Query<Article>> {
    let mut query = newest();
    if let Some(author) = &params.author {
        let author = user_by_name(db, author).await?;
        let id = author.map_or(0, |author| author.base.id);
        query = query.filter(Article::AUTHOR_ID.eq(id));
    }
    if let Some(name) = &params.tag {
        let tag = Tag::query()
            .filter(Tag::NAME.eq(name.as_str()))
            .first(db)
            .await?;
        let ids = match tag {
            Some(tag) => Tag::ARTICLES.ids(db, tag.base.id).await?,
            None => Vec::new(),
        };
        query = query.filter(Article::ID.is_in(ids));
    }
    if let Some(fan) = &params.favorited {
        let ids = match user_by_name(db, fan).await? {
            Some(fan) => User::FAVORITES.ids(db, fan.base.id).await?,
            None => Vec::new(),
        };
        query = query.filter(Article::ID.is_in(ids));
    }
    Ok(query)
}

/// One page of `query` and how many match, as `viewer` sees them.
async fn page(
    db: &Db,
    viewer: Option<i64>,
    query: thing::Query<Article>,
    params: &ListParams,
) -> ApiResult<Json<ArticlesBody>> {
    let limit = params.limit.unwrap_or(20).clamp(1, MAX_LIMIT);
    let offset = params.offset.unwrap_or(0);
    let articles_count = query.count(db).await?;
    let rows = query.fetch(db, offset, limit).await?;
    let articles = article_views(db, viewer, rows, false).await?;
    Ok(Json(ArticlesBody {
        articles,
        articles_count,
    }))
}

/// The article at `slug`, if the signed-in user wrote it (403 if not).
async fn own_article(db: &Db, auth: &Auth, slug: &str) -> ApiResult<Article> {
    let article = article_at(db, slug).await?;
    if article.author_id != auth.user_id {
        return Err(ApiError::Forbidden("article"));
    }
    Ok(article)
}

/// The tags named, each once: the ones that exist in one cached list by
/// name, the others created (`update_or_create` on the unique name, so that
/// two articles naming a new tag at once end with one tag).
async fn tags_named(db: &Db, names: Vec<String>) -> ApiResult<Vec<Tag>> {
    let mut wanted: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim().to_string();
        if !name.is_empty() && !wanted.contains(&name) {
            wanted.push(name);
        }
    }
    let existing = Tag::query()
        .filter(Tag::NAME.is_in(wanted.iter().map(String::as_str)))
        .all(db)
        .await?;
    let mut tags = Vec::with_capacity(wanted.len());
    for name in wanted {
        if let Some(tag) = existing.iter().find(|tag| tag.name == name) {
            tags.push(tag.clone());
            continue;
        }
        let filter = Tag::NAME.eq(name.as_str());
        let (tag, _) = Tag::update_or_create(db, filter, |tag| tag.name = name.clone()).await?;
        tags.push(tag);
    }
    Ok(tags)
}

/// A slug for `title`: its words in lower case joined by `-`, then a random
/// suffix so that two articles of one title differ.
fn slug_of(title: &str) -> ApiResult<String> {
    let mut slug = String::new();
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        slug.push_str(&word.to_lowercase());
        slug.push('-');
    }
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix)
        .map_err(|err| ApiError::Internal(thing::Error::custom(err.to_string())))?;
    for byte in suffix {
        slug.push_str(&format!("{byte:02x}"));
    }
    Ok(slug)
}

async fn reply(db: &Db, viewer: Option<i64>, article: Article) -> ArticleReply {
    Ok(Json(ArticleBody {
        article: article_view(db, viewer, article).await?,
    }))
}
