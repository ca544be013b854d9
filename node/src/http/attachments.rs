//! `/{level}/{id}/attachments`: listing, reading (with Orthanc 1.10's ETag
//! `"revision-md5"` and `If-None-Match`), writing and deleting user
//! attachments (`If-Match`), compression and MD5 checks.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::level_of;
use crate::service::attachments::NamedAttachment;
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    full: Option<String>,
}

/// What `GET /{level}/{id}/attachments/{name}` lists (Orthanc 1.10.1 lists
/// `uuid` without serving it, and so does this).
const OPERATIONS: &[&str] = &[
    "compress",
    "compressed-data",
    "compressed-md5",
    "compressed-size",
    "data",
    "info",
    "is-compressed",
    "md5",
    "size",
    "uncompress",
    "verify-md5",
    "uuid",
];

pub async fn list(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let all = archive.attachments(level_of(&collection)?, &id)?;
    if p.full.is_some() {
        let mut sorted: Vec<_> = all
            .iter()
            .map(|a| (a.name.clone(), a.content_type))
            .collect();
        sorted.sort();
        let map: Map<String, Value> = sorted.into_iter().map(|(n, t)| (n, json!(t))).collect();
        return Ok(Json(Value::Object(map)));
    }
    Ok(Json(json!(all.iter().map(|a| &a.name).collect::<Vec<_>>())))
}

/// An ETag or `If-Match` value: `revision-md5`, quoted or not.
fn parse_etag(header_name: &str, value: &str) -> ApiResult<(u64, String)> {
    let v = value.trim().trim_matches('"');
    v.split_once('-')
        .and_then(|(r, md5)| Some((r.parse::<u64>().ok()?, md5.to_owned())))
        .ok_or_else(|| {
            ApiError::with_details(
                OrthancCode::ParameterOutOfRange,
                format!("The \"{header_name}\" HTTP header should contain the ETag (revision followed by MD5 hash), but found: {value}"),
            )
        })
}

fn if_match(headers: &HeaderMap) -> ApiResult<Option<(u64, String)>> {
    headers
        .get(header::IF_MATCH)
        .map(|v| parse_etag("if-match", v.to_str().unwrap_or_default()))
        .transpose()
}

fn etag_value(revision: u64, md5: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}-{md5}\"")).unwrap_or(HeaderValue::from_static(""))
}

/// Answers `render()` with the attachment's ETag, or 304 when the client's
/// `If-None-Match` names the current revision and MD5.
async fn conditional(
    archive: &Archive,
    headers: &HeaderMap,
    a: &NamedAttachment,
    render: impl std::future::Future<Output = ApiResult<Response>>,
) -> ApiResult<Response> {
    let md5 = archive
        .attachment_md5(&a.attachment)
        .await?
        .unwrap_or_default();
    let etag = etag_value(a.attachment.revision, &md5);
    let with_etag = |mut r: Response| {
        r.headers_mut().insert(header::ETAG, etag.clone());
        r
    };
    if let Some(v) = headers.get(header::IF_NONE_MATCH) {
        match parse_etag("If-None-Match", v.to_str().unwrap_or_default()) {
            Err(e) => return Ok(with_etag(e.into_response())),
            Ok((r, m)) if r == a.attachment.revision && m == md5 => {
                return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response()))
            }
            Ok(_) => {}
        }
    }
    Ok(with_etag(match render.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }))
}

pub async fn info(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let a = archive.attachment(level_of(&collection)?, &id, &name)?;
    conditional(&archive, &headers, &a, async {
        Ok(Json(json!(OPERATIONS)).into_response())
    })
    .await
}

pub async fn operation(
    State(archive): State<Archive>,
    Path((collection, id, name, op)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    const OPS: [&str; 8] = [
        "data",
        "compressed-data",
        "size",
        "compressed-size",
        "md5",
        "compressed-md5",
        "is-compressed",
        "info",
    ];
    let level = level_of(&collection)?;
    let a = archive.attachment(level, &id, &name)?;
    if !OPS.contains(&op.as_str()) {
        return Err(ApiError::unknown_resource());
    }
    let render = render(&archive, &a, &op);
    conditional(&archive, &headers, &a, render).await
}

async fn render(archive: &Archive, a: &NamedAttachment, op: &str) -> ApiResult<Response> {
    let att = &a.attachment;
    let text = |s: String| ([(header::CONTENT_TYPE, "text/plain")], s).into_response();
    let no_md5 = || {
        ApiError::with_details(
            OrthancCode::InexistentItem,
            "MD5 is not stored (StoreMD5ForAttachments is false)",
        )
    };
    Ok(match op {
        "data" => {
            let bytes = archive.attachment_data(att).await?;
            let mime = match a.content_type {
                crate::service::attachments::DICOM => Some("application/dicom".to_owned()),
                t => archive.content_mime(t),
            };
            let mime = mime.unwrap_or_else(|| "application/octet-stream".into());
            ([(header::CONTENT_TYPE, mime)], bytes).into_response()
        }
        "compressed-data" => {
            let bytes = archive.read_blob(&att.hash).await?;
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        "size" => text(att.uncompressed_size.to_string()),
        "compressed-size" => text(att.size.to_string()),
        "md5" => text(archive.attachment_md5(att).await?.ok_or_else(no_md5)?),
        "compressed-md5" => text(
            archive
                .attachment_compressed_md5(att)
                .await?
                .ok_or_else(no_md5)?,
        ),
        "is-compressed" => text(if att.compressed { "1" } else { "0" }.into()),
        _ => {
            let md5 = archive.attachment_md5(att).await?.unwrap_or_default();
            let compressed_md5 = archive
                .attachment_compressed_md5(att)
                .await?
                .unwrap_or_default();
            let mut info = json!({
                "CompressedMD5": compressed_md5,
                "CompressedSize": att.size,
                "ContentType": a.content_type,
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
    })
}

pub async fn put(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let level = level_of(&collection)?;
    let expected = if_match(&headers)?;
    let (revision, md5) = archive
        .put_attachment(level, &id, &name, body, expected)
        .await?;
    let mut r = Json(json!({})).into_response();
    r.headers_mut()
        .insert(header::ETAG, etag_value(revision, &md5));
    Ok(r)
}

pub async fn delete(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let level = level_of(&collection)?;
    let expected = if_match(&headers)?;
    if expected.is_none() && archive.revisions_checked() {
        // As Orthanc: the attachment must exist and be writable first.
        let a = archive.attachment(level, &id, &name);
        if let Ok(a) = a {
            if a.content_type >= crate::service::attachments::FIRST_USER_TYPE {
                return Err(ApiError::with_details(
                    OrthancCode::Revision,
                    "HTTP header \"If-Match\" is missing, as \"CheckRevisions\" is \"true\"",
                ));
            }
        }
    }
    archive
        .delete_attachment(level, &id, &name, expected)
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response())
}

pub async fn compress(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    archive
        .set_compression(level_of(&collection)?, &id, &name, true)
        .await?;
    Ok(Json(json!({})))
}

pub async fn uncompress(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    archive
        .set_compression(level_of(&collection)?, &id, &name, false)
        .await?;
    Ok(Json(json!({})))
}

pub async fn verify_md5(
    State(archive): State<Archive>,
    Path((collection, id, name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let a = archive
        .attachment(level_of(&collection)?, &id, &name)?
        .attachment;
    // Reading the blob checks it against its name (SHA-256): a damaged one is
    // an error; so is a compressed one that does not inflate. A recorded MD5
    // is checked as well.
    let bytes = archive.attachment_data(&a).await?;
    if !a.md5.is_empty() && hex::encode(Md5::digest(&bytes)) != a.md5 {
        return Err(ApiError::with_details(
            OrthancCode::CorruptedFile,
            "MD5 mismatch",
        ));
    }
    Ok(Json(json!({})))
}
