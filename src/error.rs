//! The one error type of the API and its mapping to RFC 9457 problem details. This is the
//! only place HTTP statuses of failures are chosen.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::domain::FieldError;

/// RFC 9457 problem details as the API answers them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code clients switch on.
    pub code: String,
    /// Present for validation failures: one entry per offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("resource not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    InvalidState(String),
    #[error("you already lead this auction")]
    AlreadyLeading,
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than 1 MiB")]
    PayloadTooLarge,
    /// A body over a limit other than the JSON one (a document).
    #[error("{0}")]
    TooLarge(String),
    /// An upload whose type (checked by its bytes) isn't accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BidTooLow(String),
    #[error("the Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("{0}")]
    NotEligible(String),
    #[error("{0}")]
    AuctionClosed(String),
    #[error("too many attempts; retry later")]
    RateLimited { retry_after_secs: u64 },
    #[error("service unavailable; retry later")]
    Unavailable,
    /// A read served by the read replica reached work only the primary may do (settling what
    /// fell due): the read is run again on the primary. Never answered as such; if it were,
    /// it would be a 503 like `Unavailable`.
    #[error("service unavailable; retry later")]
    PrimaryRequired,
    /// The cause is logged, never answered.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn internal(cause: impl Into<String>) -> Self {
        ApiError::Internal(cause.into())
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::InvalidState(_) => "invalid_state",
            ApiError::AlreadyLeading => "already_leading",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::BidTooLow(_) => "bid_too_low",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::NotEligible(_) => "not_eligible",
            ApiError::AuctionClosed(_) => "auction_closed",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable | ApiError::PrimaryRequired => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let listed = match self {
            ApiError::Validation(errors) => Some(bounded_field_errors(errors)),
            _ => None,
        };
        let detail = match &listed {
            Some(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            None => self.to_string(),
        };
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            code: self.code().into(),
            errors: listed,
        }
    }
}

/// At most this many fields are listed in one answer, so a body with thousands of bad keys
/// can't make the error larger than the request.
pub const MAX_FIELD_ERRORS: usize = 20;
/// Field names are echoed at most this long (a client may send a megabyte-long key).
const MAX_FIELD_NAME_CHARS: usize = 100;

fn bounded_field_errors(errors: &[FieldError]) -> Vec<FieldError> {
    let clip = |s: &str| -> String {
        if s.chars().count() > MAX_FIELD_NAME_CHARS {
            s.chars().take(MAX_FIELD_NAME_CHARS).chain(['…']).collect()
        } else {
            s.to_string()
        }
    };
    errors
        .iter()
        .take(MAX_FIELD_ERRORS)
        .map(|e| FieldError::new(clip(&e.field), clip(&e.message)))
        .collect()
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::NotEligible(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidState(_)
            | ApiError::AlreadyLeading
            | ApiError::Conflict(_)
            | ApiError::AuctionClosed(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge | ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::BidTooLow(_) | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::PrimaryRequired => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(cause = %cause, "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unavailable | ApiError::PrimaryRequired => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match e {
            E::NotFound => ApiError::NotFound,
            // The database's own message names tables and values: it is logged, not answered.
            E::DatabaseError(K::UniqueViolation, info) => {
                tracing::info!(constraint = ?info.constraint_name(), "unique violation");
                ApiError::Conflict("already exists".into())
            }
            E::DatabaseError(K::ClosedConnection, _) => ApiError::Unavailable,
            E::DatabaseError(K::SerializationFailure, _) => ApiError::Unavailable,
            E::DatabaseError(_, ref info)
                if info.message().contains("database is locked")
                    || info.message().contains("database is busy") =>
            {
                ApiError::Unavailable
            }
            E::DatabaseError(_, ref info)
                if info.message().contains("server closed the connection")
                    || info.message().contains("terminating connection")
                    || info.message().contains("no connection to the server") =>
            {
                ApiError::Unavailable
            }
            other => ApiError::Internal(format!("database: {other}")),
        }
    }
}

impl From<r2d2_error::PoolError> for ApiError {
    fn from(_: r2d2_error::PoolError) -> Self {
        ApiError::Unavailable
    }
}

mod r2d2_error {
    pub type PoolError = diesel::r2d2::PoolError;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal("password=hunter2 at db.rs:12");
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert_eq!(p.code, "internal");
        assert!(!p.detail.contains("hunter2"));
    }

    #[test]
    fn validation_lists_at_most_twenty_bounded_fields() {
        let many: Vec<FieldError> = (0..95_000)
            .map(|i| FieldError::new(format!("k{i}{}", "x".repeat(200)), "unknown field"))
            .collect();
        let p = ApiError::Validation(many).problem();
        let errors = p.errors.unwrap();
        assert_eq!(errors.len(), 20);
        assert!(errors.iter().all(|e| e.field.chars().count() <= 101));
        assert!(serde_json::to_string(&p.detail).unwrap().len() < 4_000);
    }

    /// What PostgreSQL says about a duplicate: table, constraint and the value itself.
    struct Duplicate;

    impl diesel::result::DatabaseErrorInformation for Duplicate {
        fn message(&self) -> &str {
            "duplicate key value violates unique constraint \"users_email_key\": Key (email)=(zhangwei@example.cn) already exists."
        }
        fn details(&self) -> Option<&str> {
            Some("Key (email)=(zhangwei@example.cn) already exists.")
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            Some("users")
        }
        fn column_name(&self) -> Option<&str> {
            Some("email")
        }
        fn constraint_name(&self) -> Option<&str> {
            Some("users_email_key")
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    #[test]
    fn a_unique_violation_answers_409_without_the_databases_words() {
        let e: ApiError = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            Box::new(Duplicate),
        )
        .into();
        let p = e.problem();
        assert_eq!((p.status, p.code.as_str()), (409, "conflict"));
        let text = serde_json::to_string(&p).unwrap();
        for leak in ["users_email_key", "zhangwei", "duplicate key", "users"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }

    #[test]
    fn validation_lists_fields() {
        let e = ApiError::Validation(vec![FieldError::new("email", "must be an e-mail")]);
        let p = e.problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors.unwrap()[0].field, "email");
    }
}
