//! `POST /studies/{id}/split`, `/studies/{id}/merge` (`service::split_merge`,
//! answered as Orthanc's finished job) and the reconstructions
//! `POST /{level}/{id}/reconstruct`, `/tools/reconstruct`
//! (`service::reconstruct`, an empty answer).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::auth::Client;
use super::error::ApiResult;
use super::modify::{json_body, origin_of};
use super::resources::level_of;
use crate::service::split_merge::SplitMergeOutcome;
use crate::service::Archive;

fn answer(outcome: SplitMergeOutcome) -> Response {
    let mut body = json!({
        "Description": "REST API",
        "FailedInstancesCount": 0,
        "InstancesCount": outcome.instances,
    });
    if let Some(study) = outcome.target_study {
        body["TargetStudy"] = json!(study);
    }
    if let Some(uid) = outcome.target_study_uid {
        body["TargetStudyUID"] = json!(uid);
    }
    Json(body).into_response()
}

pub async fn split(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let outcome = archive.split_study(&id, &body, &origin_of(&client)).await?;
    Ok(answer(outcome))
}

pub async fn merge(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let outcome = archive.merge_study(&id, &body, &origin_of(&client)).await?;
    Ok(answer(outcome))
}

fn empty() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

pub async fn reconstruct(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    archive.reconstruct(level_of(&collection)?, &id).await?;
    Ok(empty())
}

pub async fn reconstruct_all(State(archive): State<Archive>) -> ApiResult<Response> {
    archive.reconstruct_all().await?;
    Ok(empty())
}
