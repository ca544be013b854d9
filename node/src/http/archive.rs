//! ZIP archives: `GET|POST /{patients|studies|series}/{id}/archive` and
//! `POST /tools/create-archive` (`{"Resources": [ids]}` or a bare array), in
//! Orthanc 1.10's layout (`service::zip_layout`), streamed as they are written;
//! media archives with a DICOMDIR: `GET|POST /{level}/{id}/media` (`?extended`,
//! or `"Extended": true`), `POST /tools/create-media` and
//! `/tools/create-media-extended` (extended unless `"Extended": false`).
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
use crate::service::zip_stream::ZipKind;
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct ArchiveParams {
    transcode: Option<String>,
    /// `?extended` (any value): an extended DICOMDIR.
    extended: Option<String>,
}

/// What a request asks for: a plain ZIP or a media archive.
#[derive(Debug, Clone, Copy)]
enum Flavor {
    Zip,
    /// Media, extended unless the body says otherwise when the flag is true.
    Media {
        extended_by_default: bool,
    },
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
/// object and ignores any other JSON body): the kind of archive to write.
fn check_options(body: &Value, flavor: Flavor) -> ApiResult<ZipKind> {
    let default = match flavor {
        Flavor::Zip => return check_job_options(body).map(|()| ZipKind::Plain),
        Flavor::Media {
            extended_by_default,
        } => extended_by_default,
    };
    check_job_options(body)?;
    let extended = match body.get("Extended") {
        None => default,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "Extended must be a Boolean",
            ))
        }
    };
    Ok(ZipKind::Media { extended })
}

fn check_job_options(body: &Value) -> ApiResult<()> {
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
fn zip_answer(
    archive: &Archive,
    ids: &[String],
    filename: &str,
    kind: ZipKind,
) -> ApiResult<Response> {
    let entries = match kind {
        ZipKind::Plain => archive.archive_entries(ids)?,
        ZipKind::Media { .. } => archive.media_entries(ids)?,
    };
    let body = Body::from_stream(archive.zip_stream(entries, kind));
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
    single_get(archive, collection, id, params, ZipKind::Plain)
}

/// `GET /{level}/{id}/media`.
pub async fn get_media(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(params): Query<ArchiveParams>,
) -> ApiResult<Response> {
    let extended = params.extended.is_some();
    single_get(archive, collection, id, params, ZipKind::Media { extended })
}

fn single_get(
    archive: Archive,
    collection: String,
    id: String,
    params: ArchiveParams,
    kind: ZipKind,
) -> ApiResult<Response> {
    check_target(&archive, &collection, &id)?;
    if let Some(syntax) = params.transcode {
        return Err(refuse_transcoding(&syntax));
    }
    zip_answer(
        &archive,
        std::slice::from_ref(&id),
        &format!("{id}.zip"),
        kind,
    )
}

pub async fn post(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    single_post(archive, collection, id, body, Flavor::Zip)
}

/// `POST /{level}/{id}/media` (not extended unless the body asks).
pub async fn post_media(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let flavor = Flavor::Media {
        extended_by_default: false,
    };
    single_post(archive, collection, id, body, flavor)
}

fn single_post(
    archive: Archive,
    collection: String,
    id: String,
    body: Bytes,
    flavor: Flavor,
) -> ApiResult<Response> {
    check_target(&archive, &collection, &id)?;
    let kind = check_options(&json_body(&body)?, flavor)?;
    zip_answer(
        &archive,
        std::slice::from_ref(&id),
        &format!("{id}.zip"),
        kind,
    )
}

/// `POST /tools/create-archive`.
pub async fn create(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    create_batch(archive, body, Flavor::Zip)
}

/// `POST /tools/create-media`.
pub async fn create_media(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    let flavor = Flavor::Media {
        extended_by_default: false,
    };
    create_batch(archive, body, flavor)
}

/// `POST /tools/create-media-extended`.
pub async fn create_media_extended(
    State(archive): State<Archive>,
    body: Bytes,
) -> ApiResult<Response> {
    let flavor = Flavor::Media {
        extended_by_default: true,
    };
    create_batch(archive, body, flavor)
}

fn create_batch(archive: Archive, body: Bytes, flavor: Flavor) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let kind = check_options(&body, flavor)?;
    let resources = match &body {
        Value::Array(_) => &body,
        Value::Object(options) => options.get("Resources").ok_or_else(|| {
            ApiError::with_details(
                OrthancCode::BadFileFormat,
                "Missing field Resources in the JSON body",
            )
        })?,
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
    zip_answer(&archive, &ids, "Archive.zip", kind)
}
