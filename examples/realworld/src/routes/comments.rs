//! Comments on an article.

use super::{Viewer, article_at, required};
use crate::app::AppState;
use crate::auth::{Auth, MaybeAuth};
use crate::error::{ApiError, ApiResult};
use crate::json::{Body, CommentView};
use crate::model::Comment;
use crate::routes::users::signed_in;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use thing::Thing;

/// `{"comment": …}`, in and out.
#[derive(Debug, Serialize, Deserialize)]
pub struct CommentBody<T> {
    /// The comment.
    pub comment: T,
}

/// `{"comments": […]}`.
#[derive(Debug, Serialize)]
pub struct CommentsBody {
    /// The article's comments, oldest first.
    pub comments: Vec<CommentView>,
}

/// A new comment.
#[derive(Debug, Deserialize)]
pub struct NewComment {
    body: Option<String>,
}

/// `GET /api/articles/{slug}/comments`: oldest first, authors preloaded.
pub async fn list(
    State(state): State<AppState>,
    viewer: MaybeAuth,
    Path(slug): Path<String>,
) -> ApiResult<Json<CommentsBody>> {
    let db = &state.db;
    let article = article_at(db, &slug).await?;
    let mut comments = Comment::query()
        .filter(Comment::ARTICLE_ID.eq(article.base.id))
        .order_by(Comment::ID.asc())
        .all(db)
        .await?;
    thing::preload(db, &mut comments, &Comment::AUTHOR).await?;
    let viewer = Viewer::load(db, viewer.user_id()).await?;
    let comments = comments
        .iter()
        .map(|comment| {
            let author = comment.author.get()?.ok_or(ApiError::NotFound("author"))?;
            Ok(CommentView::new(comment, viewer.profile(author)))
        })
        .collect::<ApiResult<_>>()?;
    Ok(Json(CommentsBody { comments }))
}

/// `POST /api/articles/{slug}/comments`: 200 and the comment (as the spec
/// says).
pub async fn add(
    State(state): State<AppState>,
    auth: Auth,
    Path(slug): Path<String>,
    Body(body): Body<CommentBody<NewComment>>,
) -> ApiResult<Json<CommentBody<CommentView>>> {
    let mut problems = Vec::new();
    let text = required("body", body.comment.body, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let db = &state.db;
    let me = signed_in(db, &auth).await?;
    let article = article_at(db, &slug).await?;
    let mut comment = Comment {
        body: text,
        article_id: article.base.id,
        author_id: me.base.id,
        ..Default::default()
    };
    comment.save(db).await?;
    let viewer = Viewer::load(db, Some(me.base.id)).await?;
    Ok(Json(CommentBody {
        comment: CommentView::new(&comment, viewer.profile(&me)),
    }))
}

/// `DELETE /api/articles/{slug}/comments/{id}`: its author only (403 for
/// anyone else); 404 for a comment not on that article; 204.
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path((slug, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    let db = &state.db;
    let article = article_at(db, &slug).await?;
    let comment = match Comment::by_id(db, id).await {
        Ok(comment) if comment.article_id == article.base.id => comment,
        Ok(_) => return Err(ApiError::NotFound("comment")),
        Err(err) if err.is_not_found() => return Err(ApiError::NotFound("comment")),
        Err(err) => return Err(err.into()),
    };
    if comment.author_id != auth.user_id {
        return Err(ApiError::Forbidden("comment"));
    }
    comment.delete(db).await?;
    Ok(StatusCode::NO_CONTENT)
}
