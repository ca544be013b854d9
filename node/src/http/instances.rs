//! `POST /instances`: one DICOM file, or a ZIP archive of DICOM files, maybe
//! gzip-encoded or in a multipart form ([`super::upload`]).

use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Client;
use super::error::{ApiError, ApiResult, OrthancCode};
use crate::index::StoreStatus;
use crate::service::{Archive, IngestOutcome, Origin};

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

fn answer(outcome: &IngestOutcome) -> Value {
    let ids = &outcome.ids;
    json!({
        "ID": ids.instance,
        "ParentPatient": ids.patient,
        "ParentSeries": ids.series,
        "ParentStudy": ids.study,
        "Path": format!("/instances/{}", ids.instance),
        "Status": match outcome.status {
            StoreStatus::Success => "Success",
            StoreStatus::AlreadyStored => "AlreadyStored",
        },
    })
}

pub async fn upload(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let origin = if client.internal {
        Origin::lua()
    } else {
        Origin::rest(client.ip, client.user)
    };
    let body = super::upload::decode(&headers, body)?;
    if let Some(boundary) = super::upload::boundary(&headers) {
        return upload_form(&archive, &origin, &headers, &body, &boundary).await;
    }
    ingest_body(&archive, &origin, body).await
}

/// A multipart form: each part is a file, or a chunk of one (`X-File-Name`,
/// `X-File-Size`). Answers the last file's outcome, as Orthanc does; `{}`
/// while a chunked file is incomplete.
async fn upload_form(
    archive: &Archive,
    origin: &Origin,
    headers: &HeaderMap,
    body: &[u8],
    boundary: &str,
) -> ApiResult<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let chunked = header("x-file-name").zip(header("x-file-size").and_then(|s| s.parse().ok()));
    let mut last = Json(json!({})).into_response();
    for part in super::upload::parts(body, boundary)? {
        let file = match chunked {
            Some((name, size)) => match pending_chunks().add(name, size, &part) {
                Some(file) => file,
                None => continue,
            },
            None => part,
        };
        last = ingest_body(archive, origin, file).await?;
    }
    Ok(last)
}

/// The chunks of the uploads in progress on this node.
fn pending_chunks() -> &'static super::upload::Chunks {
    static CHUNKS: std::sync::OnceLock<super::upload::Chunks> = std::sync::OnceLock::new();
    CHUNKS.get_or_init(Default::default)
}

async fn ingest_body(archive: &Archive, origin: &Origin, body: Bytes) -> ApiResult<Response> {
    let origin = origin.clone();
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: POST a DICOM file or a ZIP of DICOM files",
        ));
    }
    if body.starts_with(ZIP_MAGIC) {
        let files = unzip(&body)?;
        let mut answers = Vec::new();
        for (name, bytes) in files {
            match archive.ingest(bytes, &origin).await {
                Ok(outcome) => answers.push(answer(&outcome)),
                Err(crate::service::ServiceError::BadDicom(e)) => {
                    tracing::info!(file = %name, error = %e, "skipping a file of the ZIP archive");
                }
                Err(e @ crate::service::ServiceError::FilteredOut(_)) => {
                    tracing::info!(file = %name, error = %e, "skipping a file of the ZIP archive");
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(Json(Value::Array(answers)).into_response());
    }
    let outcome = archive.ingest(body, &origin).await?;
    Ok((StatusCode::OK, Json(answer(&outcome))).into_response())
}

/// The regular files of a ZIP archive, in archive order.
fn unzip(body: &Bytes) -> ApiResult<Vec<(String, Bytes)>> {
    let bad = |e: zip::result::ZipError| {
        ApiError::with_details(OrthancCode::BadFileFormat, format!("bad ZIP archive: {e}"))
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body.as_ref())).map_err(bad)?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data).map_err(|e| {
            ApiError::with_details(OrthancCode::BadFileFormat, format!("bad ZIP entry: {e}"))
        })?;
        files.push((entry.name().to_owned(), Bytes::from(data)));
    }
    Ok(files)
}
