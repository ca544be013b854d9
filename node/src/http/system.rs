//! `/system`, `/statistics`, `/changes`, `/exports` and the small `/tools`.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use crate::index::Change;
use crate::service::{now_stamp, Archive};

/// The Orthanc REST API level Isengard speaks: clients gate features on it.
pub const ORTHANC_API_VERSION: &str = "1.10.1";

pub async fn system(State(archive): State<Archive>) -> Json<Value> {
    let c = archive.config();
    Json(json!({
        "ApiVersion": 16,
        "CheckRevisions": false,
        "DatabaseBackendPlugin": null,
        "DatabaseVersion": 6,
        "DicomAet": c.dicom_aet,
        "DicomPort": c.dicom_port,
        "HttpPort": c.http_port,
        "IsHttpServerSecure": c.authentication_enabled || !c.remote_access_allowed,
        "IsengardVersion": env!("CARGO_PKG_VERSION"),
        "Name": c.name,
        "PluginsEnabled": false,
        "StorageAreaPlugin": null,
        "Version": ORTHANC_API_VERSION,
    }))
}

pub async fn statistics(State(archive): State<Archive>) -> ApiResult<Json<Value>> {
    let c = archive.statistics()?;
    let mb = |b: u64| b / (1024 * 1024);
    Ok(Json(json!({
        "CountInstances": c.instances,
        "CountPatients": c.patients,
        "CountSeries": c.series,
        "CountStudies": c.studies,
        "TotalDiskSize": c.disk_size.to_string(),
        "TotalDiskSizeMB": mb(c.disk_size),
        "TotalUncompressedSize": c.uncompressed_size.to_string(),
        "TotalUncompressedSizeMB": mb(c.uncompressed_size),
    })))
}

#[derive(Debug, Default, Deserialize)]
pub struct ChangesParams {
    since: Option<String>,
    limit: Option<String>,
    last: Option<String>,
}

fn render_change(c: &Change) -> Value {
    json!({
        "ChangeType": c.change_type.as_str(),
        "Date": c.date,
        "ID": c.id,
        "Path": format!("/{}/{}", c.level.collection(), c.id),
        "ResourceType": c.level.as_str(),
        "Seq": c.seq,
    })
}

/// Orthanc caps one page of changes at this many.
const MAX_CHANGES: usize = 10_000;

pub async fn changes(
    State(archive): State<Archive>,
    Query(p): Query<ChangesParams>,
) -> ApiResult<Json<Value>> {
    if p.last.is_some() {
        let (last, seq) = archive.last_change()?;
        let list: Vec<Value> = last.iter().map(render_change).collect();
        return Ok(Json(json!({"Changes": list, "Done": true, "Last": seq})));
    }
    let parse = |name: &str, v: &Option<String>, default: u64| -> ApiResult<u64> {
        match v {
            None => Ok(default),
            Some(s) => s.parse::<u64>().map_err(|_| {
                ApiError::with_details(
                    OrthancCode::BadParameterType,
                    format!("{name} must be an integer"),
                )
            }),
        }
    };
    let since = parse("since", &p.since, 0)?;
    let limit = (parse("limit", &p.limit, 100)? as usize).min(MAX_CHANGES);
    let (list, done, last) = archive.changes(since, limit)?;
    Ok(Json(json!({
        "Changes": list.iter().map(render_change).collect::<Vec<_>>(),
        "Done": done,
        "Last": last,
    })))
}

pub async fn clear_changes(State(archive): State<Archive>) -> ApiResult<Json<Value>> {
    archive.clear_changes().await?;
    Ok(Json(json!({})))
}

/// Isengard records no exports yet (no peers, no C-STORE SCU): an empty log.
pub async fn exports() -> Json<Value> {
    Json(json!({"Done": true, "Exports": [], "Last": 0}))
}

pub async fn clear_exports() -> Json<Value> {
    Json(json!({}))
}

fn text(s: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], s).into_response()
}

pub async fn now() -> Response {
    text(chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string())
}

pub async fn now_local() -> Response {
    text(now_stamp().date)
}

/// `GET /tools`: the tools this server serves under `/tools/`, sorted.
pub const TOOLS: &[&str] = &[
    "accepted-transfer-syntaxes",
    "create-archive",
    "default-encoding",
    "dicom-echo",
    "execute-script",
    "find",
    "log-level",
    "log-level-dicom",
    "log-level-generic",
    "log-level-http",
    "log-level-jobs",
    "log-level-lua",
    "log-level-plugins",
    "log-level-sqlite",
    "lookup",
    "now",
    "now-local",
    "unknown-sop-class-accepted",
];

pub async fn tools() -> Json<&'static [&'static str]> {
    Json(TOOLS)
}
