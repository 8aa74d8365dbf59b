//! Request bodies: JSON whose strings hold no control characters. PostgreSQL refuses NUL in
//! text (a 503 with its error text was the answer before), and escape sequences in a reason or
//! a name would reach the operator's terminal; both are refused here with 400 and the place.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON body, parsed only after [`control_character`] found nothing.
pub struct Strict<T>(pub T);

impl<T, S> FromRequest<S> for Strict<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json_type {
            return Err(ApiError::unsupported(
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::rejected(e.status(), e.body_text()))?;
        if let Some((at, c)) = control_character(&bytes) {
            return Err(ApiError::bad_request(format!(
                "control character U+{c:04X} at byte {at}: text fields must be printable"
            )));
        }
        // Syntax and data errors alike are the caller's: 400 with serde's reason and place.
        let Json(value) =
            Json::<T>::from_bytes(&bytes).map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(Strict(value))
    }
}

/// Whether `c` is a control character (C0, DEL, C1).
pub fn is_control(c: u32) -> bool {
    c < 0x20 || (0x7f..=0x9f).contains(&c)
}

/// The first control character inside a JSON string of `body` — written raw (DEL and C1 are
/// legal raw in JSON) or as a `\u` escape — with its byte offset. Escapes only occur inside
/// strings, so no JSON parse is needed; an escaped backslash is skipped, so `"\\u0000"` (the
/// six printable characters) is not mistaken for NUL.
pub fn control_character(body: &[u8]) -> Option<(usize, u32)> {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' if body.get(i + 1) == Some(&b'u') => {
                let hex = body.get(i + 2..i + 6)?;
                let code = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                if let Some(c) = code.filter(|c| is_control(*c)) {
                    return Some((i, c));
                }
                i += 6;
            }
            b'\\' => {
                let short = match body.get(i + 1) {
                    Some(b'b') => Some(0x08),
                    Some(b't') => Some(0x09),
                    Some(b'n') => Some(0x0a),
                    Some(b'f') => Some(0x0c),
                    Some(b'r') => Some(0x0d),
                    _ => None,
                };
                if let Some(c) = short {
                    return Some((i, c));
                }
                i += 2;
            }
            0x7f => return Some((i, 0x7f)),
            // U+0080..U+009F in UTF-8.
            0xc2 if body.get(i + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) => {
                return Some((i, u32::from(body[i + 1])));
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_raw_and_escaped() {
        assert_eq!(control_character(br#"{"a":"x\u0000y"}"#), Some((7, 0)));
        assert_eq!(control_character(br#"{"a":"\u001b[31m"}"#), Some((6, 0x1b)));
        assert_eq!(control_character(br#"{"a":"\u001B"}"#), Some((6, 0x1b)));
        assert_eq!(control_character(b"{\"a\":\"\x7f\"}"), Some((6, 0x7f)));
        assert_eq!(
            control_character("{\"a\":\"\u{9b}\"}".as_bytes()),
            Some((6, 0x9b))
        );
        assert_eq!(control_character(br#"{"a":"tab\tx"}"#), Some((9, 9)));
        assert_eq!(control_character(br#"{"a":"line\nx"}"#), Some((10, 10)));
        assert_eq!(control_character(br#"{"a":"quote\" and \/"}"#), None);
        assert_eq!(control_character(br#"{"a":"\\u0000 is text"}"#), None);
        assert_eq!(control_character(br#"{"a":"caf\u00e9 \u4e2d"}"#), None);
        assert_eq!(control_character("{\"a\":\"é 中 🙂\"}".as_bytes()), None);
    }
}
