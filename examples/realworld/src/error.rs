//! The API's errors, as the RealWorld spec answers them: a status and a body
//! of the form `{"errors": {"field": ["message"]}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a handler answers when it cannot do what it was asked.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no token, or one that is not valid; or wrong credentials.
    Unauthorized(&'static str),
    /// 403: the resource is someone else's.
    Forbidden(&'static str),
    /// 404: the named resource does not exist.
    NotFound(&'static str),
    /// 422: the request is not acceptable, field by field.
    Invalid(Vec<(&'static str, String)>),
    /// 500: the database or the cache failed (logged, not shown).
    Internal(thing::Error),
}

impl ApiError {
    /// 422 for one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![(field, message.into())])
    }
}

/// A row that is not there is a 404; anything else Thing returns is a 500.
impl From<thing::Error> for ApiError {
    fn from(err: thing::Error) -> Self {
        if err.is_not_found() {
            Self::NotFound("resource")
        } else {
            Self::Internal(err)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, errors) = match self {
            Self::Unauthorized(what) => {
                (StatusCode::UNAUTHORIZED, vec![(what, "is invalid".into())])
            }
            Self::Forbidden(what) => (StatusCode::FORBIDDEN, vec![(what, "is not yours".into())]),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, vec![(what, "not found".into())]),
            Self::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
            Self::Internal(err) => {
                tracing::error!(error = %err, "request failed");
                let message = "internal error".to_string();
                (StatusCode::INTERNAL_SERVER_ERROR, vec![("body", message)])
            }
        };
        let mut body = serde_json::Map::new();
        for (field, message) in errors {
            let messages = body.entry(field).or_insert_with(|| json!([]));
            if let Some(list) = messages.as_array_mut() {
                list.push(message.into());
            }
        }
        (status, Json(json!({ "errors": body }))).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
