//! `/{level}/{id}/metadata` and `/{level}/{id}/attachments`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::{flag, level_of, ExpandParams};
use crate::index::{Attachment, Level, Resource};
use crate::service::Archive;

/// Metadata as Orthanc lists it: the stored entries, plus `LastUpdate` above
/// the instance level.
fn metadata_of(r: &Resource) -> Map<String, Value> {
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

pub async fn attachments(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let r = archive.resource_at(level_of(&collection)?, &id)?;
    Ok(Json(json!(r.attachments.keys().collect::<Vec<_>>())))
}

fn attachment(archive: &Archive, collection: &str, id: &str, name: &str) -> ApiResult<Attachment> {
    let r = archive.resource_at(level_of(collection)?, id)?;
    r.attachments.get(name).cloned().ok_or_else(|| {
        ApiError::with_details(OrthancCode::InexistentItem, format!("no attachment {name}"))
    })
}

const ATTACHMENT_OPERATIONS: &[&str] = &[
    "compressed-data",
    "compressed-md5",
    "compressed-size",
    "data",
    "info",
    "is-compressed",
    "md5",
    "size",
    "verify-md5",
];

pub async fn attachment_info(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    attachment(&archive, &collection, &id, &name)?;
    Ok(Json(json!(ATTACHMENT_OPERATIONS)))
}

pub async fn attachment_op(
    State(archive): State<Archive>,
    Path((collection, id, name, op)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    const OPS: [&str; 8] = [
        "data", "compressed-data", "size", "compressed-size", "md5", "compressed-md5",
        "is-compressed", "info",
    ];
    if !OPS.contains(&op.as_str()) {
        return Err(ApiError::unrouted());
    }
    let att = attachment(&archive, &collection, &id, &name)?;
    let text = |s: String| ([(header::CONTENT_TYPE, "text/plain")], s).into_response();
    Ok(match op.as_str() {
        "data" | "compressed-data" => {
            let bytes = archive.read_blob(&att.hash).await?;
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        "size" => text(att.uncompressed_size.to_string()),
        "compressed-size" => text(att.size.to_string()),
        "md5" | "compressed-md5" => match archive.attachment_md5(&att).await? {
            Some(md5) => text(md5),
            None => {
                return Err(ApiError::with_details(
                    OrthancCode::InexistentItem,
                    "MD5 is not stored (StoreMD5ForAttachments is false)",
                ))
            }
        },
        "is-compressed" => text("0".into()),
        "info" => {
            let md5 = archive.attachment_md5(&att).await?.unwrap_or_default();
            let mut info = json!({
                "CompressedMD5": md5,
                "CompressedSize": att.size,
                "ContentType": 1,
                "UncompressedMD5": md5,
                "UncompressedSize": att.uncompressed_size,
                "Uuid": att.hash,
            });
            // Isengard's extension: the nodes holding a copy (replicated blob mode).
            if archive.replicated() {
                let holders = archive.blob_holders(&att.hash)?;
                info["IsengardHolders"] = json!(holders);
            }
            Json(info).into_response()
        }
        _ => return Err(ApiError::unrouted()),
    })
}

pub async fn verify_md5(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let att = attachment(&archive, &collection, &id, &name)?;
    // Reading the blob checks it against its name (SHA-256): a damaged one is
    // an error. An MD5 recorded by an earlier version is checked as well.
    let bytes = archive.read_blob(&att.hash).await?;
    if !att.md5.is_empty() && hex::encode(Md5::digest(&bytes)) != att.md5 {
        return Err(ApiError::with_details(
            OrthancCode::CorruptedFile,
            "MD5 mismatch",
        ));
    }
    Ok(Json(json!({})))
}
