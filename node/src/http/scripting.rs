//! The REST side of Lua scripting: `POST /tools/execute-script`, the
//! `IncomingHttpRequestFilter` middleware, and the marker that tells handlers a
//! request comes from a script (`RestApiGet`...) rather than a client.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::auth::Client;
use super::error::{ApiError, ApiResult, OrthancCode};
use crate::service::Archive;

const FILTER: &str = "IncomingHttpRequestFilter";

/// `POST /tools/execute-script`: runs the body in the scripts' interpreter and
/// answers what it printed. Refused (403, as Orthanc) unless `ExecuteLuaEnabled`.
pub async fn execute(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    if !archive.config().lua.execute_enabled {
        tracing::error!("the URI /tools/execute-script is disallowed for security, set ExecuteLuaEnabled to allow it");
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    let Some(hooks) = archive.hooks() else {
        return Err(ApiError::with_details(
            OrthancCode::CannotExecuteLua,
            "the Lua engine is not running",
        ));
    };
    let source = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the script is not UTF-8 text"))?;
    match hooks.execute(source).await {
        Ok(printed) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            printed,
        )
            .into_response()),
        Err(e) => Err(ApiError::with_details(OrthancCode::CannotExecuteLua, e.0)),
    }
}

/// Applies the script's `IncomingHttpRequestFilter` (after access control, so
/// the user name is known): `false`, or an error in the callback, answers 403.
pub async fn filter(State(archive): State<Archive>, request: Request, next: Next) -> Response {
    let Some(hooks) = archive.hook(FILTER) else {
        return next.run(request).await;
    };
    let client = request
        .extensions()
        .get::<Client>()
        .cloned()
        .unwrap_or_default();
    let mut headers = Map::new();
    for (name, value) in request.headers() {
        headers.insert(
            name.as_str().to_owned(),
            Value::from(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let method = request.method().as_str().to_owned();
    let uri = request.uri().path().to_owned();
    match hooks
        .filter_http_request(
            method,
            uri.clone(),
            client.ip,
            client.user,
            Value::Object(headers),
        )
        .await
    {
        Ok(true) => next.run(request).await,
        Ok(false) => StatusCode::FORBIDDEN.into_response(),
        Err(e) => {
            tracing::warn!(%uri, error = %e, "IncomingHttpRequestFilter failed: the request is refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

/// Marks an in-process request made by a script (see `http::internal_router`).
pub async fn internal_client(mut request: Request, next: Next) -> Response {
    request.extensions_mut().insert(Client {
        ip: String::new(),
        user: String::new(),
        internal: true,
    });
    next.run(request).await
}
