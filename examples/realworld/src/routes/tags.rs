//! The tags.

use crate::app::AppState;
use crate::error::ApiResult;
use crate::model::Tag;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use thing::Thing;

/// `{"tags": […]}`.
#[derive(Debug, Serialize)]
pub struct TagsBody {
    /// Every tag, in alphabetical order.
    pub tags: Vec<String>,
}

/// `GET /api/tags`: one cached list.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<TagsBody>> {
    let tags = Tag::query()
        .order_by(Tag::NAME.asc())
        .all(&state.db)
        .await?;
    Ok(Json(TagsBody {
        tags: tags.into_iter().map(|tag| tag.name).collect(),
    }))
}
