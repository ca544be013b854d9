//! ZIP archives: `GET|POST /{patients|studies|series}/{id}/archive` and
//! `POST /tools/create-archive` (`{"Resources": [ids]}` or a bare array), in
//! Orthanc 1.10's layout (`service::zip_layout`), streamed as they are written.
//! Only synchronous archives: Isengard has no `/jobs`, so `"Asynchronous":
//! true` (or `"Synchronous": false`) is refused, as is transcoding.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::level_of;
use crate::index::Level;
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct ArchiveParams {
    transcode: Option<String>,
}

fn refuse_transcoding(syntax: &str) -> ApiError {
    ApiError::with_details(
        OrthancCode::NotImplemented,
        format!(
            "Isengard does not transcode: archives hold the files as stored (asked for {syntax})"
        ),
    )
}

/// The options of a POSTed archive request (Orthanc reads them from a JSON
/// object and ignores any other JSON body).
fn check_options(body: &Value) -> ApiResult<()> {
    let Some(options) = body.as_object() else {
        return Ok(());
    };
    let flag = |name: &str| match options.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::with_details(
            OrthancCode::BadFileFormat,
            format!("{name} must be a Boolean"),
        )),
    };
    let asynchronous = flag("Asynchronous")? == Some(true) || flag("Synchronous")? == Some(false);
    if asynchronous {
        return Err(ApiError::with_details(
            OrthancCode::NotImplemented,
            "Isengard creates archives synchronously only (it has no /jobs): leave Asynchronous unset",
        ));
    }
    match options.get("Transcode") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(syntax)) => Err(refuse_transcoding(syntax)),
        Some(_) => Err(ApiError::with_details(
            OrthancCode::BadFileFormat,
            "Transcode must be a transfer syntax UID",
        )),
    }
}

fn json_body(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::with_details(
            OrthancCode::BadFileFormat,
            format!("the body must be JSON: {e}"),
        )
    })
}

/// The ZIP of `ids` as a streamed answer named `filename`.
fn zip_answer(archive: &Archive, ids: &[String], filename: &str) -> ApiResult<Response> {
    let entries = archive.archive_entries(ids)?;
    let body = Body::from_stream(archive.zip_stream(entries));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Checks that `collection` holds archivable resources and that `id` exists.
/// As in Orthanc, the id may be of another level than the collection's
/// (`/patients/{series}/archive` is the series' archive).
fn check_target(archive: &Archive, collection: &str, id: &str) -> ApiResult<()> {
    if level_of(collection)? == Level::Instance {
        return Err(ApiError::unknown_resource());
    }
    archive.resource(id)?;
    Ok(())
}

pub async fn get(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(params): Query<ArchiveParams>,
) -> ApiResult<Response> {
    check_target(&archive, &collection, &id)?;
    if let Some(syntax) = params.transcode {
        return Err(refuse_transcoding(&syntax));
    }
    zip_answer(&archive, std::slice::from_ref(&id), &format!("{id}.zip"))
}

pub async fn post(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    check_target(&archive, &collection, &id)?;
    check_options(&json_body(&body)?)?;
    zip_answer(&archive, std::slice::from_ref(&id), &format!("{id}.zip"))
}

/// `POST /tools/create-archive`.
pub async fn create(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let resources = match &body {
        Value::Array(_) => &body,
        Value::Object(options) => {
            check_options(&body)?;
            options.get("Resources").ok_or_else(|| {
                ApiError::with_details(
                    OrthancCode::BadFileFormat,
                    "Missing field Resources in the JSON body",
                )
            })?
        }
        _ => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "Expected a JSON object with Resources",
            ))
        }
    };
    let ids = resources
        .as_array()
        .and_then(|ids| {
            ids.iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            ApiError::with_details(
                OrthancCode::BadFileFormat,
                "Expected a list of strings (Orthanc identifiers)",
            )
        })?;
    zip_answer(&archive, &ids, "Archive.zip")
}
