//! RFC 9457 problem documents: every error the REST API answers, as
//! `application/problem+json` with the same message and hints the console prints. The status
//! comes from the error's kind (and, for a user error, from what it says: a missing object is
//! 404, a stale or replayed plan 409).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{CommandError, ErrorKind};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem document.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    pub hints: Vec<String>,
    /// More members (`role`, `operation`, `job`...).
    pub extra: serde_json::Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self {
            status,
            title: detail.lines().next().unwrap_or_default().to_string(),
            detail,
            hints: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// Adds a hint naming the next step.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Adds a member to the document.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// The problem of an operation's error: its message, its hints, a status from its kind.
    pub fn from_error(e: &CommandError) -> Self {
        let mut p = Problem::new(status_of(e), e.message.clone());
        p.hints = e.hints.clone();
        p
    }

    /// The document as JSON.
    pub fn body(&self) -> Value {
        let mut doc = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "hint": self.hints.first(),
            "hints": self.hints,
        });
        if let Some(map) = doc.as_object_mut() {
            for (k, v) in &self.extra {
                map.insert(k.clone(), v.clone());
            }
        }
        doc
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// The HTTP status of an operation's error.
fn status_of(e: &CommandError) -> StatusCode {
    match e.kind {
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Cli => StatusCode::BAD_REQUEST,
        ErrorKind::Config | ErrorKind::Interrupted => StatusCode::CONFLICT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // Not a failure; callers answer the report before they get here.
        ErrorKind::ChangesPresent => StatusCode::OK,
        ErrorKind::User => {
            let m = e.message.to_ascii_lowercase();
            let missing = ["no vm ", "no container ", "no guest ", "no pool "];
            if m.starts_with("there is no ")
                || missing.iter().any(|p| m.starts_with(p))
                || m.contains(" not found")
                || m.contains("no such ")
                || m.contains("does not exist")
            {
                StatusCode::NOT_FOUND
            } else if m.contains("cannot be applied")
                || m.contains("stale")
                || m.contains("applied already")
                || m.contains("already applied")
                || m.contains("discarded")
                || m.contains("hash")
                || m.contains("locked")
            {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_client_errors_and_the_document_carries_message_and_hint() {
        let e = CommandError::forbidden("the role viewer may not run apply").hint("ask an admin");
        let p = Problem::from_error(&e);
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        let body = p.body();
        assert_eq!(body["detail"], "the role viewer may not run apply");
        assert_eq!(body["hint"], "ask an admin");
        assert_eq!(body["status"], 403);
        let stale = CommandError::user("the plan is stale: web-01 changed");
        assert_eq!(Problem::from_error(&stale).status, StatusCode::CONFLICT);
        let replay = CommandError::user(
            "plan 3 cannot be applied: it was applied already (status applied); a plan is applied once",
        );
        assert_eq!(Problem::from_error(&replay).status, StatusCode::CONFLICT);
        let unknown = CommandError::user("no vm 'nope' in the workspace files");
        assert_eq!(Problem::from_error(&unknown).status, StatusCode::NOT_FOUND);
        let bad = CommandError::cli("`--count x` is not a whole number");
        assert_eq!(Problem::from_error(&bad).status, StatusCode::BAD_REQUEST);
    }
}
