//! The handlers, one module per resource, and the reads they share: a user
//! by name, an article by slug, and articles as one user sees them (authors,
//! tags, follows and favorites preloaded: a fixed number of cached reads
//! whatever the number of articles).

pub mod articles;
pub mod comments;
pub mod profiles;
pub mod tags;
pub mod users;

use crate::error::{ApiError, ApiResult};
use crate::json::{ArticleView, Profile};
use crate::model::{Article, User};
use std::collections::HashSet;
use thing::{Db, Thing};

/// The user named `username`, if any: a cached list on the unique column.
pub(crate) async fn user_by_name(db: &Db, username: &str) -> ApiResult<Option<User>> {
    let query = User::query().filter(User::USERNAME.eq(username));
    Ok(query.first(db).await?)
}

/// The user whose email is `email`, if any: a cached list on the unique
/// column.
pub(crate) async fn user_by_email(db: &Db, email: &str) -> ApiResult<Option<User>> {
    let query = User::query().filter(User::EMAIL.eq(email));
    Ok(query.first(db).await?)
}

/// The user named `username` (404 when there is none).
pub(crate) async fn user_named(db: &Db, username: &str) -> ApiResult<User> {
    user_by_name(db, username)
        .await?
        .ok_or(ApiError::NotFound("profile"))
}

/// The article whose slug is `slug` (404 when there is none).
pub(crate) async fn article_at(db: &Db, slug: &str) -> ApiResult<Article> {
    Article::query()
        .filter(Article::SLUG.eq(slug))
        .first(db)
        .await?
        .ok_or(ApiError::NotFound("article"))
}

/// `value`, trimmed, or a "can't be empty" problem.
pub(crate) fn required(
    field: &'static str,
    value: Option<String>,
    problems: &mut Vec<(&'static str, String)>,
) -> String {
    match value.map(|value| value.trim().to_string()) {
        Some(value) if !value.is_empty() => value,
        _ => {
            problems.push((field, "can't be empty".to_string()));
            String::new()
        }
    }
}

/// Whom `viewer` follows and what it favorited, as sets (empty for no one).
pub(crate) struct Viewer {
    following: HashSet<i64>,
    favorites: HashSet<i64>,
}

impl Viewer {
    /// What `viewer` follows and favorited: two cached lists of join rows.
    pub(crate) async fn load(db: &Db, viewer: Option<i64>) -> ApiResult<Self> {
        let Some(id) = viewer else {
            return Ok(Self {
                following: HashSet::new(),
                favorites: HashSet::new(),
            });
        };
        Ok(Self {
            following: User::FOLLOWING.ids(db, id).await?.into_iter().collect(),
            favorites: User::FAVORITES.ids(db, id).await?.into_iter().collect(),
        })
    }

    /// `user`'s profile as the viewer sees it.
    pub(crate) fn profile(&self, user: &User) -> Profile {
        Profile::new(user, self.following.contains(&user.base.id))
    }
}

/// `articles` as `viewer` sees them: authors and tags preloaded (one cached
/// `by_ids` of the authors, one cached list of join rows and one `by_ids` of
/// the tags), and the viewer's follows and favorites.
pub(crate) async fn article_views(
    db: &Db,
    viewer: Option<i64>,
    mut articles: Vec<Article>,
    with_body: bool,
) -> ApiResult<Vec<ArticleView>> {
    thing::preload(db, &mut articles, &Article::AUTHOR).await?;
    thing::preload(db, &mut articles, &Article::TAGS).await?;
    let viewer = Viewer::load(db, viewer).await?;
    articles
        .iter()
        .map(|article| {
            let author = article.author.get()?.ok_or(ApiError::NotFound("author"))?;
            let favorited = viewer.favorites.contains(&article.base.id);
            Ok(ArticleView::new(
                article,
                viewer.profile(author),
                favorited,
                with_body,
            ))
        })
        .collect()
}

/// One article as `viewer` sees it, with its body.
pub(crate) async fn article_view(
    db: &Db,
    viewer: Option<i64>,
    article: Article,
) -> ApiResult<ArticleView> {
    let mut views = article_views(db, viewer, vec![article], true).await?;
    views.pop().ok_or(ApiError::NotFound("article"))
}
