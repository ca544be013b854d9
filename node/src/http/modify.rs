//! `POST /{patients|studies|series|instances}/{id}/modify` (`service::modify`):
//! an instance is answered as the modified DICOM file and not stored (Orthanc
//! 1.10); a series, study or patient is stored under new UIDs, synchronously,
//! and answered as Orthanc's finished job.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::auth::Client;
use super::error::ApiResult;
use super::resources::level_of;
use crate::index::Level;
use crate::service::modify::{ModifyError, ModifyRequest};
use crate::service::{Archive, Origin};

pub async fn modify(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let level = level_of(&collection)?;
    // An unknown resource is answered before a bad body, as Orthanc.
    archive.resource_at(level, &id)?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| ModifyError::BadBody(None))?;
    let request = ModifyRequest::parse(&body, level, level == Level::Instance)?;
    if level == Level::Instance {
        let file = archive.modified_instance(&id, &request).await?;
        return Ok(([(header::CONTENT_TYPE, "application/dicom")], file).into_response());
    }
    let origin = if client.internal {
        Origin::lua()
    } else {
        Origin::rest(client.ip, client.user)
    };
    let outcome = archive
        .modify_resource(level, &id, &request, &origin)
        .await?;
    Ok(Json(json!({
        "Description": "REST API",
        "FailedInstancesCount": 0,
        "ID": outcome.id,
        "InstancesCount": outcome.instances,
        "IsAnonymization": false,
        "Path": format!("/{}/{}", outcome.level.collection(), outcome.id),
        "PatientID": outcome.patient_id,
        "Type": outcome.level.as_str(),
    }))
    .into_response())
}
