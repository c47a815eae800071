//! axum's extractors, with their rejections turned into our JSON errors
//! (axum's own answer to a malformed query string is a plain-text body),
//! and query strings held to the rules their description states.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};

/// `Query<T>` answering malformed parameters with a 400 JSON error.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        check_query_string(parts.uri.query().unwrap_or(""))?;
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        Ok(ApiQuery(v))
    }
}

/// `Json<T>` answering a malformed, oversized or mistyped body with a JSON error.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state)
            .await
            .map_err(ApiError::from)?;
        Ok(ApiJson(v))
    }
}

/// Every parameter value must be UTF-8 once percent-decoded and free of
/// control characters. The URL-encoded deserializer would otherwise turn
/// bytes like `%FF` into U+FFFD and search for that.
pub fn check_query_string(query: &str) -> Result<(), ApiError> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = String::from_utf8_lossy(&percent_decode(k)).into_owned();
        let name = key.escape_debug();
        let value = String::from_utf8(percent_decode(v)).map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidEncoding,
                format!("`{name}` is not valid UTF-8 once percent-decoded"),
            )
        })?;
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidText,
                format!(
                    "`{name}` must not contain control characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding to bytes: `+` is a space,
/// `%XY` a byte, anything else itself (a stray `%` included, as the
/// deserializer reads it).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_as_forms_do() {
        assert_eq!(percent_decode("a+b%20c"), b"a b c");
        assert_eq!(percent_decode("%E6%94%BF"), "政".as_bytes());
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
    }

    #[test]
    fn bad_bytes_and_control_characters_are_named() {
        assert!(check_query_string("q=%E6%94%BF&k=3&year=").is_ok());
        let e = check_query_string("k=3&q=%FF%FE").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code),
            (400, ErrorCode::InvalidEncoding)
        );
        assert!(e.message.contains("`q`"), "{}", e.message);
        let e = check_query_string("district=a%00b").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidText);
        assert!(e.message.contains("`district`"), "{}", e.message);
        // A line break in a one-line field is a control character too.
        assert!(check_query_string("q=a%0Ab").is_err());
    }
}
