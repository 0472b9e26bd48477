//! Profiles, and following.

use super::user_named;
use crate::app::AppState;
use crate::auth::{Auth, MaybeAuth};
use crate::error::{ApiError, ApiResult};
use crate::json::Profile;
use crate::model::User;
use crate::routes::users::signed_in;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

/// `{"profile": …}`.
#[derive(Debug, Serialize)]
pub struct ProfileBody {
    /// The profile.
    pub profile: Profile,
}

/// `GET /api/profiles/{username}`: `following` for the signed-in user.
pub async fn get(
    State(state): State<AppState>,
    viewer: MaybeAuth,
    Path(username): Path<String>,
) -> ApiResult<Json<ProfileBody>> {
    let user = user_named(&state.db, &username).await?;
    let following = match viewer.user_id() {
        Some(me) => User::FOLLOWING
            .ids(&state.db, me)
            .await?
            .contains(&user.base.id),
        None => false,
    };
    Ok(reply(&user, following))
}

/// `POST /api/profiles/{username}/follow`.
pub async fn follow(
    State(state): State<AppState>,
    auth: Auth,
    Path(username): Path<String>,
) -> ApiResult<Json<ProfileBody>> {
    let (me, user) = pair(&state, &auth, &username).await?;
    if me.base.id == user.base.id {
        return Err(ApiError::invalid("profile", "cannot follow yourself"));
    }
    User::FOLLOWING.link(&state.db, &me, &user).await?;
    Ok(reply(&user, true))
}

/// `DELETE /api/profiles/{username}/follow`.
pub async fn unfollow(
    State(state): State<AppState>,
    auth: Auth,
    Path(username): Path<String>,
) -> ApiResult<Json<ProfileBody>> {
    let (me, user) = pair(&state, &auth, &username).await?;
    User::FOLLOWING.unlink(&state.db, &me, &user).await?;
    Ok(reply(&user, false))
}

/// The signed-in user and the one named `username`.
async fn pair(state: &AppState, auth: &Auth, username: &str) -> ApiResult<(User, User)> {
    let me = signed_in(&state.db, auth).await?;
    let user = user_named(&state.db, username).await?;
    Ok((me, user))
}

fn reply(user: &User, following: bool) -> Json<ProfileBody> {
    Json(ProfileBody {
        profile: Profile::new(user, following),
    })
}
