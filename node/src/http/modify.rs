//! `POST /{patients|studies|series|instances}/{id}/modify|anonymize` and
//! `/tools/bulk-modify|bulk-anonymize` (`service::modify`, `service::modify_run`):
//! an instance is answered as the rewritten DICOM file and not stored (Orthanc
//! 1.10); a series, study or patient is stored under new UIDs, synchronously,
//! and answered as Orthanc's finished job; a bulk request lists the new
//! resources. `/tools/bulk-delete` deletes a list of resources (unknown ones
//! skipped, as Orthanc).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Client;
use super::error::{ApiError, ApiResult};
use super::resources::level_of;
use crate::index::Level;
use crate::service::modify::{ModifyError, ModifyRequest};
use crate::service::modify_run::BulkOutcome;
use crate::service::{Archive, Origin};

pub fn origin_of(client: &Client) -> Origin {
    if client.internal {
        Origin::lua()
    } else {
        Origin::rest(client.ip.clone(), client.user.clone())
    }
}

/// The request body as JSON; anything else is Orthanc's bare "Bad file format".
pub(super) fn json_body(body: &Bytes) -> Result<Value, ModifyError> {
    serde_json::from_slice(body).map_err(|_| ModifyError::BadBody(None))
}

pub async fn modify(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let level = level_of(&collection)?;
    // An unknown resource is answered before a bad body, as Orthanc.
    archive.resource_at(level, &id)?;
    let request = ModifyRequest::parse(&json_body(&body)?, level, level == Level::Instance)?;
    run(&archive, &client, level, &id, &request).await
}

pub async fn anonymize(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let level = level_of(&collection)?;
    archive.resource_at(level, &id)?;
    let request = ModifyRequest::parse_anonymization(&json_body(&body)?)?;
    run(&archive, &client, level, &id, &request).await
}

async fn run(
    archive: &Archive,
    client: &Client,
    level: Level,
    id: &str,
    request: &ModifyRequest,
) -> ApiResult<Response> {
    if level == Level::Instance {
        let file = archive.modified_instance(id, request).await?;
        return Ok(([(header::CONTENT_TYPE, "application/dicom")], file).into_response());
    }
    let outcome = archive
        .modify_resource(level, id, request, &origin_of(client))
        .await?;
    Ok(Json(json!({
        "Description": "REST API",
        "FailedInstancesCount": 0,
        "ID": outcome.id,
        "InstancesCount": outcome.instances,
        "IsAnonymization": request.modification.anonymization,
        "Path": format!("/{}/{}", outcome.level.collection(), outcome.id),
        "PatientID": outcome.patient_id,
        "Type": outcome.level.as_str(),
    }))
    .into_response())
}

/// Orthanc's `StringToResourceType` (case-insensitive).
fn level_named(name: &str) -> ApiResult<Level> {
    match name.to_ascii_lowercase().as_str() {
        "patient" => Ok(Level::Patient),
        "study" => Ok(Level::Study),
        "series" => Ok(Level::Series),
        "instance" => Ok(Level::Instance),
        _ => Err(ApiError::with_details(
            super::error::OrthancCode::ParameterOutOfRange,
            format!("Invalid resource type: {name}"),
        )),
    }
}

fn resources(body: &Value) -> Result<Vec<String>, ModifyError> {
    body.get("Resources")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            ModifyError::BadBody(Some(
                "The JSON object must contain an array of strings in field \"Resources\"".into(),
            ))
        })
}

pub async fn bulk_modify(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let request = match body.get("Level") {
        Some(Value::String(level)) => ModifyRequest::parse(&body, level_named(level)?, false)?,
        Some(_) => return Err(ModifyError::BadBody(None).into()),
        None => ModifyRequest::parse(&body, Level::Instance, true)?,
    };
    bulk(&archive, &client, &body, &request).await
}

pub async fn bulk_anonymize(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let request = ModifyRequest::parse_anonymization(&body)?;
    bulk(&archive, &client, &body, &request).await
}

async fn bulk(
    archive: &Archive,
    client: &Client,
    body: &Value,
    request: &ModifyRequest,
) -> ApiResult<Response> {
    let ids = resources(body)?;
    let outcome = archive
        .modify_bulk(&ids, request, &origin_of(client))
        .await?;
    Ok(Json(json!({
        "Description": "REST API",
        "FailedInstancesCount": 0,
        "InstancesCount": outcome.count,
        "IsAnonymization": request.modification.anonymization,
        "Resources": listing(&outcome),
    }))
    .into_response())
}

/// The new resources, instances first, each level sorted, as Orthanc.
fn listing(outcome: &BulkOutcome) -> Vec<Value> {
    [
        (Level::Instance, &outcome.instances),
        (Level::Series, &outcome.series),
        (Level::Study, &outcome.studies),
        (Level::Patient, &outcome.patients),
    ]
    .into_iter()
    .flat_map(|(level, ids)| {
        ids.iter().map(move |id| {
            json!({
                "ID": id,
                "Path": format!("/{}/{}", level.collection(), id),
                "Type": level.as_str(),
            })
        })
    })
    .collect()
}
