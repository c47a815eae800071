//! Bearer-token guard for the write endpoints.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::AppState;

/// Lets a request through when no token is configured, or when it carries
/// `Authorization: Bearer <token>` with the configured token.
pub async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = state.config.token.as_deref() else {
        return Ok(next.run(req).await);
    };
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        None => Err(ApiError::unauthorized(
            "this endpoint changes the index and needs an `Authorization: Bearer <token>` header",
        )),
        Some(t) if tokens_match(t.as_bytes(), expected.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::unauthorized(
            "the bearer token is not the configured one",
        )),
    }
}

/// Compares the SHA-256 digests of both without an early exit: the time
/// taken reveals neither how much of a guessed token was right nor the
/// configured token's length.
fn tokens_match(given: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn token_comparison() {
        assert!(tokens_match(b"s3cret", b"s3cret"));
        assert!(tokens_match(b"", b""));
        assert!(!tokens_match(b"s3cret", b"s3creT"));
        assert!(!tokens_match(b"s3cret", b"s3cre"));
        assert!(!tokens_match(b"s3cre", b"s3cret"));
        assert!(!tokens_match(b"s3cret\0", b"s3cret"));
        assert!(!tokens_match(b"", b"x"));
        assert!(!tokens_match("令牌".as_bytes(), "令".as_bytes()));
    }
}
