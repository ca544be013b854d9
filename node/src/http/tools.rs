//! The `/tools` that work on many resources or on no resource:
//! `generate-uid`, `dicom-conformance`, `invalidate-tags`, `bulk-content`,
//! `bulk-delete`, `dicom-echo`; and `/plugins` (Isengard loads no plugin:
//! what Orthanc without plugins answers).

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::modalities::json_body;
use crate::dicom::modify::new_uid;
use crate::index::Level;
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct UidParams {
    level: Option<String>,
}

/// `GET /tools/generate-uid?level=patient|study|series|instance`: a new
/// UID (under `2.25`). Without a known level, Orthanc answers a bare 404.
pub async fn generate_uid(Query(p): Query<UidParams>) -> ApiResult<Response> {
    p.level
        .as_deref()
        .and_then(Level::parse)
        .ok_or_else(ApiError::unrouted)?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], new_uid()).into_response())
}

/// `GET /tools/dicom-conformance`: the SOP classes and transfer syntaxes the
/// DICOM server of this node negotiates.
pub async fn dicom_conformance(State(archive): State<Archive>) -> ApiResult<Response> {
    use isengard_dimse::uids;
    let accepted = archive.accepted_transfer_syntaxes()?;
    let mut out = String::new();
    let title = "DICOM Conformance Statement of Isengard";
    out.push_str(&format!(
        "{}\n{title}\n{}\n\n",
        "=".repeat(title.len()),
        "=".repeat(title.len())
    ));
    let mut section = |name: &str, intro: &str, classes: &[&str]| {
        out.push_str(&format!(
            "\n{}\n{name}\n{}\n\n{intro}\n\n",
            "-".repeat(name.len()),
            "-".repeat(name.len())
        ));
        for uid in classes {
            out.push_str(&format!("  {uid}\n"));
        }
        out.push('\n');
    };
    section(
        "Echo SCP Conformance",
        "Isengard supports the following SOP Classes as an SCP for C-Echo:",
        &[uids::VERIFICATION],
    );
    section(
        "Store SCP Conformance",
        "Isengard supports the following SOP Classes as an SCP for C-Store:",
        uids::STORAGE_SOP_CLASSES,
    );
    section(
        "Query/Retrieve SCP Conformance",
        "Isengard supports the following SOP Classes as an SCP for C-Find, C-Move and C-Get:",
        uids::QUERY_RETRIEVE,
    );
    let mut syntaxes: Vec<&str> = uids::UNCOMPRESSED.to_vec();
    for ts in &accepted {
        if !syntaxes.contains(ts) {
            syntaxes.push(ts);
        }
    }
    section(
        "Transfer Syntaxes",
        "Isengard accepts the following transfer syntaxes (AcceptedTransferSyntaxes, /tools/accepted-transfer-syntaxes):",
        &syntaxes,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain")], out).into_response())
}

/// `POST /tools/invalidate-tags`: Orthanc drops the tags it cached beside
/// each file (`dicom-as-json`). Isengard caches no rendering of the tags (it
/// renders them from the file at each request), so there is nothing to drop.
pub async fn invalidate_tags() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

/// The `Resources` of a bulk request.
fn resources(body: &Value) -> ApiResult<Vec<String>> {
    let bad = || {
        ApiError::with_details(
            OrthancCode::BadFileFormat,
            "The body must contain a \"Resources\" field with an array of strings",
        )
    };
    body.get("Resources")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect()
}

/// `POST /tools/bulk-content`: `Resources` (of any levels; unknown ones are
/// skipped), optionally climbed or descended to `Level`, each as its
/// `/{level}/{id}` answer with its `Metadata` unless `"Metadata": false`.
pub async fn bulk_content(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?.unwrap_or_else(|| json!({}));
    let ids = resources(&body)?;
    let level = match body.get("Level") {
        None => None,
        Some(Value::String(s)) => Some(Level::parse(s).ok_or_else(|| {
            ApiError::with_details(
                OrthancCode::ParameterOutOfRange,
                format!("Unknown resource level: {s}"),
            )
        })?),
        Some(_) => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "\"Level\" must be a string",
            ))
        }
    };
    let metadata = match body.get("Metadata") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "\"Metadata\" must be a Boolean",
            ))
        }
    };
    let mut selected: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for id in ids {
        let Ok(r) = archive.resource(&id) else {
            continue;
        };
        let at_level = match level {
            None => vec![r.id.clone()],
            Some(l) if l <= r.level => archive
                .ancestor(&r.id, l)
                .map(|a| vec![a.id])
                .unwrap_or_default(),
            Some(l) => archive.descendants(&r.id, l)?,
        };
        for i in at_level {
            if seen.insert(i.clone()) {
                selected.push(i);
            }
        }
    }
    let mut out = Vec::new();
    for id in selected {
        let Ok(r) = archive.resource(&id) else {
            continue;
        };
        let view = archive.view(r.level, &id)?;
        let mut item = super::resources::render(&archive, &view);
        if metadata {
            item["Metadata"] = Value::Object(super::metadata::metadata_of(&r));
        }
        out.push(item);
    }
    Ok(Json(Value::Array(out)))
}

/// `POST /tools/bulk-delete`: deletes the `Resources` that exist.
pub async fn bulk_delete(State(archive): State<Archive>, body: Bytes) -> ApiResult<Response> {
    let body = json_body(&body)?.unwrap_or_else(|| json!({}));
    for id in resources(&body)? {
        // A resource may be gone already (below one deleted before it).
        if let Ok(r) = archive.resource(&id) {
            match archive.delete(r.level, &id).await {
                Ok(_) | Err(crate::service::ServiceError::UnknownResource(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response())
}

/// `GET /plugins`: Orthanc lists its built-in `explorer.js` and the loaded
/// plugins; Isengard loads none.
pub async fn plugins() -> Json<Value> {
    Json(json!(["explorer.js"]))
}

/// `GET /plugins/{id}`: no plugin is loaded, so every name is unknown.
pub async fn plugin(Path(_id): Path<String>) -> ApiError {
    ApiError::unrouted()
}

/// `GET /plugins/explorer.js`: the extensions of the plugins to Orthanc
/// Explorer, none here.
pub async fn explorer_js() -> Response {
    (
        [(header::CONTENT_TYPE, "application/javascript")],
        "// Extensions to Orthanc Explorer by the registered plugins\n\n",
    )
        .into_response()
}
