//! `/tools` runtime settings, in Orthanc 1.10.1's shapes: `default-encoding`,
//! `accepted-transfer-syntaxes`, `unknown-sop-class-accepted`, `log-level`
//! and `log-level-{category}` (GET and PUT). Each change holds cluster-wide
//! (`service::settings`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::error::{ApiError, ApiResult, OrthancCode};
use crate::logging::{self, Category};
use crate::service::Archive;

fn text(s: impl Into<String>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], s.into()).into_response()
}

fn body_text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).trim().to_owned()
}

pub async fn get_default_encoding(State(archive): State<Archive>) -> ApiResult<Response> {
    Ok(text(archive.default_encoding()?.name()))
}

pub async fn put_default_encoding(
    State(archive): State<Archive>,
    body: Bytes,
) -> ApiResult<Response> {
    let encoding = archive.set_default_encoding(&body_text(&body)).await?;
    Ok(text(encoding.name()))
}

pub async fn get_accepted_transfer_syntaxes(
    State(archive): State<Archive>,
) -> ApiResult<Json<Vec<&'static str>>> {
    Ok(Json(archive.accepted_transfer_syntaxes()?))
}

/// The body is a JSON string or list of UID patterns; a body that is not
/// JSON is one pattern (`*` sent as `text/plain`).
pub async fn put_accepted_transfer_syntaxes(
    State(archive): State<Archive>,
    body: Bytes,
) -> ApiResult<Json<Vec<&'static str>>> {
    let patterns: Vec<String> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::String(s)) => vec![s],
        Ok(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::new(OrthancCode::BadFileFormat))?,
        Ok(_) => return Err(ApiError::new(OrthancCode::BadFileFormat)),
        Err(_) => vec![body_text(&body)],
    };
    Ok(Json(archive.set_accepted_transfer_syntaxes(&patterns).await?))
}

pub async fn get_unknown_sop_class_accepted(State(archive): State<Archive>) -> ApiResult<Response> {
    Ok(text(if archive.unknown_sop_class_accepted()? { "1" } else { "0" }))
}

/// Orthanc's boolean bodies: `0`/`1`, `true`/`false`.
fn boolean(body: &Bytes) -> ApiResult<bool> {
    match body_text(body).to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(ApiError::with_details(
            OrthancCode::BadFileFormat,
            "Boolean value expected",
        )),
    }
}

pub async fn put_unknown_sop_class_accepted(
    State(archive): State<Archive>,
    body: Bytes,
) -> ApiResult<Response> {
    archive.set_unknown_sop_class_accepted(boolean(&body)?).await?;
    Ok(text(""))
}

pub async fn get_log_level() -> Response {
    text(logging::level())
}

/// Sets every category, on every node.
pub async fn put_log_level(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    let level = body_text(&body);
    for category in Category::ALL {
        archive.set_log_level(category, &level).await?;
    }
    Ok(text(level))
}

/// `/tools/log-level-{category}`: the category of the route's last segment.
fn category(segment: &str) -> ApiResult<Category> {
    segment
        .strip_prefix("log-level-")
        .and_then(Category::from_name)
        .ok_or_else(ApiError::unrouted)
}

pub async fn get_category_level(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    Ok(text(archive.log_level(category(&name)?)?))
}

pub async fn put_category_level(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    archive
        .set_log_level(category(&name)?, &body_text(&body))
        .await?;
    Ok(text(""))
}
