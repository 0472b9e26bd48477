//! What goes in and out as JSON: the request body extractor, and the shapes
//! of users, profiles, articles and comments the spec gives.

use crate::error::ApiError;
use crate::model::{Article, Comment, User};
use axum::extract::{FromRequest, Request};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON request body; one that does not parse is a 422 saying why.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::invalid("body", rejection.body_text())),
        }
    }
}

/// A time as the spec's examples write it: UTC, with milliseconds.
pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The signed-in user.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// The login.
    pub email: String,
    /// A token for the `Authorization` header.
    pub token: String,
    /// The public name.
    pub username: String,
    /// The biography.
    pub bio: Option<String>,
    /// The picture's URL.
    pub image: Option<String>,
}

impl UserView {
    /// `user`, signed in with `token`.
    pub fn new(user: &User, token: String) -> Self {
        Self {
            email: user.email.clone(),
            token,
            username: user.username.clone(),
            bio: user.bio.clone(),
            image: user.image.clone(),
        }
    }
}

/// A user as others see it.
#[derive(Debug, Serialize)]
pub struct Profile {
    /// The public name.
    pub username: String,
    /// The biography.
    pub bio: Option<String>,
    /// The picture's URL.
    pub image: Option<String>,
    /// Whether the signed-in user follows this one.
    pub following: bool,
}

impl Profile {
    /// `user`'s profile, followed or not.
    pub fn new(user: &User, following: bool) -> Self {
        Self {
            username: user.username.clone(),
            bio: user.bio.clone(),
            image: user.image.clone(),
            following,
        }
    }
}

/// An article, with its author's profile.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArticleView {
    /// Its name in URLs.
    pub slug: String,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The text: in single articles, not in lists (the spec leaves it out
    /// of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Its tags, in alphabetical order.
    pub tag_list: Vec<String>,
    /// When it was written.
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: String,
    /// Whether the signed-in user favorited it.
    pub favorited: bool,
    /// How many users favorited it.
    pub favorites_count: i64,
    /// The author.
    pub author: Profile,
}

impl ArticleView {
    /// `article` (its tags loaded) by `author`, as one user sees it.
    pub fn new(article: &Article, author: Profile, favorited: bool, with_body: bool) -> Self {
        let mut tag_list: Vec<String> = article
            .tags
            .get()
            .map(|tags| tags.iter().map(|tag| tag.name.clone()).collect())
            .unwrap_or_default();
        tag_list.sort();
        Self {
            slug: article.slug.clone(),
            title: article.title.clone(),
            description: article.description.clone(),
            body: with_body.then(|| article.body.clone()),
            tag_list,
            created_at: time(&article.base.created_at),
            updated_at: time(&article.base.updated_at),
            favorited,
            favorites_count: article.favorites_count,
            author,
        }
    }
}

/// A comment, with its author's profile.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentView {
    /// Its id (in the URL that deletes it).
    pub id: i64,
    /// When it was written.
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: String,
    /// The text.
    pub body: String,
    /// The author.
    pub author: Profile,
}

impl CommentView {
    /// `comment` by `author`.
    pub fn new(comment: &Comment, author: Profile) -> Self {
        Self {
            id: comment.base.id,
            created_at: time(&comment.base.created_at),
            updated_at: time(&comment.base.updated_at),
            body: comment.body.clone(),
            author,
        }
    }
}
