//! One error type for the whole API, answered as RFC 9457 problem+json.
//!
//! Stores answer [`DbError`], which already carries what a constraint means (its
//! module declared it); `From<DbError>` is the one mapping to a client's answer. No SQL
//! text, constraint or table name reaches a client.

use std::borrow::Cow;

use poem::{Response, error::ResponseError, http::StatusCode};
use poem_openapi::Object;

use crate::platform::{db::DbError, limits::ceil_secs, module::Meaning};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI reference naming the kind of problem; stable, safe to match on.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short human summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// For validation problems: what is wrong with which field.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
}

/// A problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldError {
    /// The field's name as it appears in the request.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is well formed but some fields are not acceptable (422).
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// The request cannot be understood (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Missing, invalid or expired credentials (401).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the caller's role does not allow this (403).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// No such resource for this caller, whether it exists elsewhere or not (404).
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is overloaded or timed out; retry later (503).
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    /// A rate limit, or the tenant's share of the database, refused the request;
    /// retry after the duration (429).
    #[error("too many requests")]
    TooManyRequests(std::time::Duration),
    /// A failure the client cannot act on; logged with its cause, answered opaquely.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Validation failed",
            ),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::TooManyRequests(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// The problem document a client receives.
    pub fn problem(&self) -> Problem {
        let (status, kind, title) = self.parts();
        let detail: Cow<'_, str> = match self {
            Self::Validation(_) => "One or more fields are invalid.".into(),
            Self::BadRequest(detail) | Self::Conflict(detail) => detail.as_str().into(),
            Self::Unauthorized(detail) | Self::Forbidden(detail) | Self::Unavailable(detail) => {
                (*detail).into()
            }
            Self::NotFound => "The resource does not exist.".into(),
            Self::TooManyRequests(_) => {
                "Too many requests; retry after the number of seconds in Retry-After.".into()
            }
            Self::Internal(_) => "The server could not complete the request.".into(),
        };
        Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into_owned(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

/// Renders a problem document as a response.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body =
        serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(problem)).unwrap_or_default();
    let mut response = Response::builder()
        .status(status)
        .content_type(PROBLEM_JSON);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = response.header("Retry-After", "1");
    }
    if status == StatusCode::UNAUTHORIZED {
        response = response.header("WWW-Authenticate", "Bearer");
    }
    response.body(body)
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn as_response(&self) -> Response {
        if let Self::Internal(cause) = self {
            tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
        }
        let mut response = problem_response(&self.problem());
        if let Self::TooManyRequests(retry_after) = self {
            response.headers_mut().insert(
                poem::http::header::RETRY_AFTER,
                ceil_secs(*retry_after).max(1).into(),
            );
        }
        response
    }
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// The problem statuses an operation can answer, declared in its type so the OpenAPI
/// document lists exactly those (a debug build checks every answer against it).
pub mod problems {
    use super::{ApiError, DbError, PROBLEM_JSON, Problem};
    use poem_openapi::{
        ApiResponse,
        registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
        types::Type,
    };

    const BAD_REQUEST: u16 = 1;
    const UNAUTHORIZED: u16 = 1 << 1;
    const FORBIDDEN: u16 = 1 << 2;
    const NOT_FOUND: u16 = 1 << 3;
    const CONFLICT: u16 = 1 << 4;
    const PAYLOAD_TOO_LARGE: u16 = 1 << 5;
    const UNPROCESSABLE: u16 = 1 << 6;
    const TOO_MANY_REQUESTS: u16 = 1 << 7;
    const UNAVAILABLE: u16 = 1 << 8;
    const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 9;
    /// Every operation can be malformed, rate-limited or meet a busy database.
    const ALWAYS: u16 = BAD_REQUEST | TOO_MANY_REQUESTS | UNAVAILABLE;
    /// Every operation that takes a body: too large, of the wrong type, or breaking its schema.
    const BODY: u16 = PAYLOAD_TOO_LARGE | UNSUPPORTED_MEDIA_TYPE | UNPROCESSABLE;

    const STATUSES: [(u16, u16, &str); 10] = [
        (
            BAD_REQUEST,
            400,
            "Malformed request (bad JSON, bad parameter, forged cursor).",
        ),
        (
            UNAUTHORIZED,
            401,
            "Missing, invalid or expired credentials.",
        ),
        (
            FORBIDDEN,
            403,
            "The caller's role does not allow this operation.",
        ),
        (
            NOT_FOUND,
            404,
            "No such resource for this tenant (or its module is off).",
        ),
        (
            CONFLICT,
            409,
            "Conflicts with existing data (a duplicate, a double booking, the last owner).",
        ),
        (PAYLOAD_TOO_LARGE, 413, "The request body is too large."),
        (
            UNSUPPORTED_MEDIA_TYPE,
            415,
            "The body is not of a content type the operation accepts.",
        ),
        (
            UNPROCESSABLE,
            422,
            "Validation failed; `errors` names the fields.",
        ),
        (
            TOO_MANY_REQUESTS,
            429,
            "A rate limit was reached, or the tenant already uses its whole share of the database; retry after `Retry-After` seconds.",
        ),
        (
            UNAVAILABLE,
            503,
            "Busy or timed out; retry after `Retry-After` seconds.",
        ),
    ];

    /// Reading one resource.
    pub type ReadOne = Problems<{ ALWAYS | UNAUTHORIZED | NOT_FOUND }>;
    /// Reading a list or a summary (filters are validated).
    pub type ReadMany = Problems<{ ALWAYS | UNAUTHORIZED | NOT_FOUND | UNPROCESSABLE }>;
    /// Creating or changing a resource.
    pub type Write = Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | CONFLICT | BODY }>;
    /// Changing a setting of the tenant: nothing it could conflict with.
    pub type Configure = Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | BODY }>;
    /// Reading a list only managers may read.
    pub type ReadManaged =
        Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNPROCESSABLE }>;
    /// Acting on one resource with query parameters (which are validated).
    pub type Act = Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNPROCESSABLE }>;
    /// Deleting a resource, or acting on one without a body.
    pub type Remove = Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND }>;
    /// Deleting a resource that other records may still use (409 while they do).
    pub type RemoveInUse = Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | CONFLICT }>;
    /// Acting on or deleting one resource without a body but with validated headers
    /// or path parameters, which may conflict: a patient's erasure (a second time
    /// conflicts), a pipeline stage by its key (409 while it holds deals).
    pub type ActOnce =
        Problems<{ ALWAYS | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | CONFLICT | UNPROCESSABLE }>;
    /// Computing an answer from a body without changing anything (a template
    /// preview): any member may, so no 403; the body may name a missing resource.
    pub type Compute = Problems<{ ALWAYS | UNAUTHORIZED | NOT_FOUND | BODY }>;
    /// Asking to sign up (no token yet; the same answer for every email).
    pub type SignUp = Problems<{ ALWAYS | BODY }>;
    /// Following an invitation's link (no bearer token: the link is the proof).
    pub type Accept = Problems<{ ALWAYS | UNAUTHORIZED | CONFLICT | BODY }>;
    /// Following a public link whose token is in the query (an unsubscribe link): no
    /// login; a token that is not valid is the operation's own 404 page.
    pub type Follow = Problems<{ ALWAYS | UNPROCESSABLE }>;
    /// Logging in (no token yet).
    pub type LogIn = Problems<{ ALWAYS | UNAUTHORIZED | BODY }>;
    /// Using or revoking a refresh token.
    pub type Session = Problems<{ ALWAYS | UNAUTHORIZED | BODY }>;

    /// An [`ApiError`] answered by an operation that declared `STATUSES`.
    #[derive(Debug)]
    pub struct Problems<const STATUSES: u16>(pub ApiError);

    impl<const S: u16> From<ApiError> for Problems<S> {
        fn from(err: ApiError) -> Self {
            Self(err)
        }
    }

    impl<const S: u16> From<DbError> for Problems<S> {
        fn from(err: DbError) -> Self {
            Self(err.into())
        }
    }

    impl<const S: u16> From<Problems<S>> for poem::Error {
        fn from(problem: Problems<S>) -> Self {
            let status = problem.0.problem().status;
            debug_assert!(
                status == 500
                    || STATUSES
                        .iter()
                        .any(|(bit, code, _)| *code == status && S & bit != 0),
                "an operation answered {status}, which its type does not declare"
            );
            problem.0.into()
        }
    }

    impl<const S: u16> ApiResponse for Problems<S> {
        fn meta() -> MetaResponses {
            MetaResponses {
                responses: STATUSES
                    .iter()
                    .filter(|(bit, _, _)| S & bit != 0)
                    .map(|(_, status, description)| MetaResponse {
                        description,
                        status: Some(*status),
                        status_range: None,
                        content: vec![MetaMediaType {
                            content_type: PROBLEM_JSON,
                            schema: MetaSchemaRef::Reference(Problem::name().into_owned()),
                        }],
                        headers: vec![],
                    })
                    .collect(),
            }
        }

        fn register(registry: &mut Registry) {
            <Problem as Type>::register(registry);
        }
    }
}

/// When a tenant over its share of the pool may try again: its slots are held by
/// requests bounded by the statement timeout, most far shorter.
const TENANT_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound | DbError::ModuleOff => Self::NotFound,
            DbError::Revoked => {
                Self::Unauthorized("The membership or the session is no longer active.")
            }
            DbError::Constraint(meaning) => meaning.into(),
            DbError::Busy(detail) => Self::Unavailable(detail),
            DbError::Unavailable(_) => {
                Self::Unavailable("The database is unavailable; retry shortly.")
            }
            DbError::TenantBusy => Self::TooManyRequests(TENANT_RETRY_AFTER),
            DbError::Denied => Self::Forbidden("Your role does not allow this operation."),
            DbError::Duplicate => {
                Self::Conflict("A record with these values already exists.".to_owned())
            }
            DbError::MissingReference => {
                Self::invalid("id", "refers to a record that does not exist")
            }
            DbError::OutOfRange => Self::invalid("request", "a value is out of range or malformed"),
            DbError::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// A constraint's declared meaning as the client reads it. A foreign key to a row this
/// tenant cannot see fails exactly like one to a row that does not exist (FK checks
/// bypass RLS, but composite tenant keys make the other tenant's row unreachable).
impl From<Meaning> for ApiError {
    fn from(meaning: Meaning) -> Self {
        match meaning {
            Meaning::Conflict(detail) => Self::Conflict(detail.to_owned()),
            Meaning::MissingReference(field) => Self::invalid(field, "does not exist"),
            Meaning::Invalid { field, message } => Self::invalid(field, message),
            Meaning::NotFound => Self::NotFound,
        }
    }
}
