//! `/{level}/{id}/metadata` (the attachments are in [`super::attachments`]).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::{flag, level_of, ExpandParams};
use crate::index::{Level, Resource};
use crate::service::Archive;

/// Metadata as Orthanc lists it: the stored entries, plus `LastUpdate` above
/// the instance level.
pub(super) fn metadata_of(r: &Resource) -> Map<String, Value> {
    let mut out: Map<String, Value> = r
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if r.level != Level::Instance {
        out.insert("LastUpdate".into(), json!(r.last_update));
    }
    let mut sorted: Vec<_> = out.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().collect()
}

pub async fn list(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(p): Query<ExpandParams>,
) -> ApiResult<Json<Value>> {
    let r = archive.resource_at(level_of(&collection)?, &id)?;
    let all = metadata_of(&r);
    if flag(&p.expand) {
        return Ok(Json(Value::Object(all)));
    }
    Ok(Json(json!(all.keys().collect::<Vec<_>>())))
}

pub async fn get(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let r = archive.resource_at(level_of(&collection)?, &id)?;
    match metadata_of(&r).get(&name) {
        Some(Value::String(v)) => {
            Ok(([(header::CONTENT_TYPE, "text/plain")], v.clone()).into_response())
        }
        _ => Err(ApiError::with_details(
            OrthancCode::InexistentItem,
            format!("no metadata {name}"),
        )),
    }
}

pub async fn put(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let value = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("metadata must be UTF-8 text"))?;
    if is_reserved(&name) {
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    check_user_metadata(&archive, &name)?;
    archive
        .set_metadata(level_of(&collection)?, &id, &name, &value)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn delete(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    if is_reserved(&name) {
        return Ok(StatusCode::FORBIDDEN.into_response());
    }
    check_user_metadata(&archive, &name)?;
    archive
        .delete_metadata(level_of(&collection)?, &id, &name)
        .await?;
    Ok(Json(json!({})).into_response())
}

/// Orthanc accepts user metadata by number (1024 to 65535) or by a name
/// declared in `UserMetadata`; any other name is an inexistent item.
fn check_user_metadata(archive: &Archive, name: &str) -> ApiResult<()> {
    let numbered = name
        .parse::<u32>()
        .is_ok_and(|n| (1024..=65535).contains(&n));
    let declared = archive.config().user_metadata.contains(name);
    if numbered || declared {
        Ok(())
    } else {
        Err(ApiError::with_details(
            OrthancCode::InexistentItem,
            format!("unknown metadata {name} (declare it in UserMetadata)"),
        ))
    }
}

/// Metadata that Orthanc sets itself and refuses to let clients change (403).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "ReceptionDate"
            | "RemoteAET"
            | "Origin"
            | "IndexInSeries"
            | "TransferSyntax"
            | "SopClassUid"
            | "LastUpdate"
            | "RemoteIP"
            | "CalledAET"
            | "HttpUsername"
            | "PixelDataOffset"
    )
}
