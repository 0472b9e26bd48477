//! Registration, login, and the signed-in user.

use super::{required, user_by_email, user_by_name};
use crate::app::AppState;
use crate::auth::{Auth, hash_password, verify_password};
use crate::error::{ApiError, ApiResult};
use crate::json::{Body, UserView};
use crate::model::User;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use thing::{Db, Thing};

/// `{"user": …}`, in and out.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserBody<T> {
    /// The user.
    pub user: T,
}

/// A registration.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

/// A login.
#[derive(Debug, Deserialize)]
pub struct Login {
    email: Option<String>,
    password: Option<String>,
}

/// A change of the signed-in user: any of its fields.
#[derive(Debug, Deserialize)]
pub struct UserChange {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    bio: Option<String>,
    image: Option<String>,
}

type UserReply = ApiResult<Json<UserBody<UserView>>>;

/// `POST /api/users`: 201 and the new user, signed in; 422 for an empty
/// field or a username or email already taken.
pub async fn register(
    State(state): State<AppState>,
    Body(body): Body<UserBody<NewUser>>,
) -> ApiResult<(StatusCode, Json<UserBody<UserView>>)> {
    let NewUser {
        username,
        email,
        password,
    } = body.user;
    let mut problems = Vec::new();
    let username = required("username", username, &mut problems);
    let email = required("email", email, &mut problems);
    let password = required("password", password, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    taken(&state.db, None, Some(&username), Some(&email)).await?;
    let mut user = User {
        username,
        email,
        password_hash: hash_password(password).await?,
        ..Default::default()
    };
    user.save(&state.db).await.map_err(already_taken)?;
    let token = state.tokens.issue(user.base.id)?;
    Ok((StatusCode::CREATED, reply(&user, token)))
}

/// `POST /api/users/login`: the user, signed in; 401 for a wrong email or
/// password.
pub async fn login(State(state): State<AppState>, Body(body): Body<UserBody<Login>>) -> UserReply {
    let mut problems = Vec::new();
    let email = required("email", body.user.email, &mut problems);
    let password = required("password", body.user.password, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let Some(user) = user_by_email(&state.db, &email).await? else {
        return Err(ApiError::Unauthorized("email or password"));
    };
    if !verify_password(password, user.password_hash.clone()).await {
        return Err(ApiError::Unauthorized("email or password"));
    }
    let token = state.tokens.issue(user.base.id)?;
    Ok(reply(&user, token))
}

/// `GET /api/user`: the signed-in user.
pub async fn current(State(state): State<AppState>, auth: Auth) -> UserReply {
    let user = signed_in(&state.db, &auth).await?;
    Ok(reply(&user, auth.token))
}

/// `PUT /api/user`: changes the signed-in user; 422 for a username or email
/// another user has, or an empty one.
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Body(body): Body<UserBody<UserChange>>,
) -> UserReply {
    let change = body.user;
    let mut user = signed_in(&state.db, &auth).await?;
    let mut problems = Vec::new();
    for (field, value) in [("email", &change.email), ("username", &change.username)] {
        if value
            .as_deref()
            .is_some_and(|value| value.trim().is_empty())
        {
            problems.push((field, "can't be empty".to_string()));
        }
    }
    if change.password.as_deref() == Some("") {
        problems.push(("password", "can't be empty".to_string()));
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let new_email = change.email.filter(|email| *email != user.email);
    let new_username = change.username.filter(|name| *name != user.username);
    taken(
        &state.db,
        Some(user.base.id),
        new_username.as_deref(),
        new_email.as_deref(),
    )
    .await?;
    if let Some(email) = new_email {
        user.email = email;
    }
    if let Some(username) = new_username {
        user.username = username;
    }
    if let Some(password) = change.password {
        user.password_hash = hash_password(password).await?;
    }
    if let Some(bio) = change.bio {
        user.bio = Some(bio).filter(|bio| !bio.is_empty());
    }
    if let Some(image) = change.image {
        user.image = Some(image).filter(|image| !image.is_empty());
    }
    user.save(&state.db).await.map_err(already_taken)?;
    Ok(reply(&user, auth.token))
}

/// The signed-in user's row (401 when it is gone).
pub(crate) async fn signed_in(db: &Db, auth: &Auth) -> ApiResult<User> {
    match User::by_id(db, auth.user_id).await {
        Ok(user) => Ok(user),
        Err(err) if err.is_not_found() => Err(ApiError::Unauthorized("token")),
        Err(err) => Err(err.into()),
    }
}

fn reply(user: &User, token: String) -> Json<UserBody<UserView>> {
    Json(UserBody {
        user: UserView::new(user, token),
    })
}

/// 422 when another user than `me` has `username` or `email` (cached lists
/// on unique columns).
async fn taken(
    db: &Db,
    me: Option<i64>,
    username: Option<&str>,
    email: Option<&str>,
) -> ApiResult<()> {
    let mut problems = Vec::new();
    if let Some(username) = username
        && user_by_name(db, username)
            .await?
            .is_some_and(|other| Some(other.base.id) != me)
    {
        problems.push(("username", "has already been taken".to_string()));
    }
    if let Some(email) = email
        && user_by_email(db, email)
            .await?
            .is_some_and(|other| Some(other.base.id) != me)
    {
        problems.push(("email", "has already been taken".to_string()));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(problems))
    }
}

/// A unique violation (two registrations of one name at once) is a 422.
fn already_taken(err: thing::Error) -> ApiError {
    if err.is_unique_violation() {
        ApiError::invalid("username or email", "has already been taken")
    } else {
        err.into()
    }
}
