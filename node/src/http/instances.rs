//! `POST /instances`: one DICOM file, or a ZIP archive of DICOM files.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
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
    body: Bytes,
) -> ApiResult<Response> {
    let origin = if client.internal {
        Origin::lua()
    } else {
        Origin::rest(client.ip, client.user)
    };
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
