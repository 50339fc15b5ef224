//! Turns every error that reaches the top of the app into problem+json: our own
//! [`ApiError`]s as they are, a query parameter or form that breaks its schema as a 422
//! naming the field, and poem's other errors (unknown route, bad path parameter,
//! missing token, body too large) with a status-derived problem.

use poem::{PathPattern, Response, error::ResponseError, http::StatusCode};
use poem_openapi::error::{ParseParamError, ParseRequestPayloadError};

use crate::platform::error::{ApiError, Problem, problem_response};

pub async fn render_error(err: poem::Error) -> Response {
    // The matched route template, for the request log and metrics.
    let pattern = err.data::<PathPattern>().cloned();
    let mut response = render(err);
    if let Some(pattern) = pattern {
        response.set_data(pattern);
    }
    response
}

fn render(err: poem::Error) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    if let Some(param) = err.downcast_ref::<ParseParamError>() {
        return ApiError::invalid(param.name, &param.reason).as_response();
    }
    if let Some(form) = err.downcast_ref::<ParseRequestPayloadError>() {
        return ApiError::invalid("body", &form.reason).as_response();
    }
    let status = err.status();
    let (kind, title, detail) = match status {
        StatusCode::BAD_REQUEST => ("bad-request", "Bad request", bad_request_detail(&err)),
        StatusCode::UNAUTHORIZED => (
            "unauthorized",
            "Unauthorized",
            "A valid bearer token is required.".to_owned(),
        ),
        StatusCode::NOT_FOUND => (
            "not-found",
            "Not found",
            "The resource does not exist.".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method-not-allowed", "Method not allowed", err.to_string())
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload-too-large", "Payload too large", err.to_string())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "Unsupported media type",
            err.to_string(),
        ),
        status if status.is_client_error() => ("client-error", "Client error", err.to_string()),
        _ => {
            tracing::error!(error = %err, "unhandled error");
            (
                "internal",
                "Internal server error",
                "The server could not complete the request.".to_owned(),
            )
        }
    };
    problem_response(&Problem {
        kind: format!("/problems/{kind}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        errors: None,
    })
}

/// poem-openapi names path parameters internally (`param0`); say what the client can fix.
fn bad_request_detail(err: &poem::Error) -> String {
    let message = err.to_string();
    if message.starts_with("failed to parse path") {
        "A path parameter is malformed: ids are UUIDs.".to_owned()
    } else {
        message
    }
}
