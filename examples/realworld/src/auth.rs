//! Authentication: Argon2id password hashes, HS256 tokens, and the
//! extractors that read `Authorization: Token <jwt>`.

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a token is valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Hashes `password` with Argon2id and a random salt, off the async threads
/// (a hash takes tens of milliseconds by design).
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|err| internal(err.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|err| internal(err.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| internal(err.to_string()))
    })
    .await
    .map_err(|err| internal(err.to_string()))?
}

/// Whether `password` matches `hash` (a PHC string from [`hash_password`]).
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

fn internal(message: String) -> ApiError {
    ApiError::Internal(thing::Error::custom(message))
}

/// What a token says: whose it is, and until when.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    /// Expiry, in seconds since the epoch.
    exp: u64,
}

/// Issues and checks the API's tokens with one secret.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Tokens {
    /// Tokens signed with `secret` (HS256).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: Validation::new(Algorithm::HS256),
        }
    }

    /// A new token for the user `user_id`.
    pub fn issue(&self, user_id: i64) -> ApiResult<String> {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(TOKEN_LIFETIME)
            .as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|err| internal(err.to_string()))
    }

    /// The user id of a valid, unexpired `token`.
    pub fn verify(&self, token: &str) -> Option<i64> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        data.claims.sub.parse().ok()
    }
}

/// The user a request is made by: its `Authorization: Token <jwt>` header
/// was present and valid, or the request is refused with 401.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The user's id.
    pub user_id: i64,
    /// The token the request carried.
    pub token: String,
}

/// The user a request is made by, if it carries a token; a token that is
/// present but not valid is still refused with 401.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Auth>);

impl MaybeAuth {
    /// The user's id, if any.
    pub fn user_id(&self) -> Option<i64> {
        self.0.as_ref().map(|auth| auth.user_id)
    }
}

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Token ")
                    .or_else(|| value.strip_prefix("Bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized("token"))?;
        let user_id = state
            .tokens
            .verify(token)
            .ok_or(ApiError::Unauthorized("token"))?;
        Ok(Self(Some(Auth {
            user_id,
            token: token.to_string(),
        })))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        MaybeAuth::from_request_parts(parts, state)
            .await?
            .0
            .ok_or(ApiError::Unauthorized("token"))
    }
}
