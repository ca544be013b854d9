//! `/queries`: the results of `POST /modalities/{m}/query` kept on this node
//! (see [`crate::service::remote_query`]), their answers in Orthanc's JSON forms,
//! and retrieval of answers by C-MOVE.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::modalities::Peer;
use super::resources::flag;
use crate::dicom::json as tag_json;
use crate::service::remote_query::{self as queries, StoredQuery};
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct FormatParams {
    expand: Option<String>,
    simplify: Option<String>,
    short: Option<String>,
}

impl FormatParams {
    /// An answer (full JSON form) in the requested form.
    fn render(&self, full: &Value) -> Value {
        if flag(&self.short) {
            tag_json::simplify(full, true)
        } else if flag(&self.simplify) {
            tag_json::simplify(full, false)
        } else {
            full.clone()
        }
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

fn answer_index(query: &StoredQuery, index: &str) -> ApiResult<usize> {
    let i: usize = index.parse().map_err(|_| {
        ApiError::with_details(
            OrthancCode::BadParameterType,
            "Syntax error in some user-supplied data",
        )
    })?;
    if i >= query.answers.len() {
        return Err(crate::service::ServiceError::NoSuchAnswer {
            index: i,
            count: query.answers.len(),
        }
        .into());
    }
    Ok(i)
}

pub async fn list(State(archive): State<Archive>) -> Json<Value> {
    Json(json!(archive.queries().list()))
}

pub async fn operations(
    State(archive): State<Archive>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    archive.queries().get(&id)?;
    Ok(Json(json!([
        "answers", "level", "modality", "query", "retrieve"
    ])))
}

/// Orthanc answers 200 even for a query it does not know.
pub async fn delete(State(archive): State<Archive>, Path(id): Path<String>) -> Response {
    let _ = archive.queries().remove(&id);
    text(String::new())
}

pub async fn answers(
    State(archive): State<Archive>,
    Path(id): Path<String>,
    Query(p): Query<FormatParams>,
) -> ApiResult<Json<Value>> {
    let query = archive.queries().get(&id)?;
    if flag(&p.expand) {
        return Ok(Json(Value::Array(
            query.answers.iter().map(|a| p.render(a)).collect(),
        )));
    }
    Ok(Json(json!((0..query.answers.len())
        .map(|i| i.to_string())
        .collect::<Vec<_>>())))
}

pub async fn answer(
    State(archive): State<Archive>,
    Path((id, index)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let query = archive.queries().get(&id)?;
    answer_index(&query, &index)?;
    Ok(Json(json!(["content", "retrieve"])))
}

pub async fn content(
    State(archive): State<Archive>,
    Path((id, index)): Path<(String, String)>,
    Query(p): Query<FormatParams>,
) -> ApiResult<Json<Value>> {
    let query = archive.queries().get(&id)?;
    let i = answer_index(&query, &index)?;
    Ok(Json(p.render(&query.answers[i])))
}

pub async fn level(State(archive): State<Archive>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(text(archive.queries().get(&id)?.level.as_str().to_owned()))
}

pub async fn modality(
    State(archive): State<Archive>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(text(archive.queries().get(&id)?.modality.clone()))
}

pub async fn query(
    State(archive): State<Archive>,
    Path(id): Path<String>,
    Query(p): Query<FormatParams>,
) -> ApiResult<Json<Value>> {
    let query = archive.queries().get(&id)?;
    Ok(Json(p.render(&queries::keys_to_full_json(&query.query))))
}

pub async fn retrieve_all(
    State(archive): State<Archive>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let query = archive.queries().get(&id)?;
    let all: Vec<usize> = (0..query.answers.len()).collect();
    retrieve(&archive, &query, &all, &body).await
}

pub async fn retrieve_one(
    State(archive): State<Archive>,
    Path((id, index)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let query = archive.queries().get(&id)?;
    let i = answer_index(&query, &index)?;
    retrieve(&archive, &query, &[i], &body).await
}

/// C-MOVEs the chosen answers to the target: the body is the target AET as
/// text, or `{"TargetAet", "Timeout", "Synchronous"}`; the default target is
/// the AET the query was made with. Always synchronous (no jobs yet).
async fn retrieve(
    archive: &Archive,
    query: &StoredQuery,
    indices: &[usize],
    body: &Bytes,
) -> ApiResult<Json<Value>> {
    let mut target_aet = query.local_aet.clone();
    let mut timeout = query.timeout;
    match serde_json::from_slice::<Value>(body) {
        Ok(request @ Value::Object(_)) => {
            if let Some(t) = request.get("TargetAet").and_then(Value::as_str) {
                target_aet = t.to_owned();
            }
            if let Some(t) = request.get("Timeout").and_then(Value::as_u64) {
                timeout = Some(t);
            }
        }
        _ => {
            let given = String::from_utf8_lossy(body).trim().to_owned();
            if !given.is_empty() {
                target_aet = given;
            }
        }
    }
    let peer = Peer {
        modality: archive.modality(&query.modality)?,
        local_aet: Some(query.local_aet.clone()),
        timeout,
    };
    let target = peer.target(archive);
    let mut described = Vec::new();
    for &i in indices {
        let answer = &query.answers[i];
        let level = queries::answer_level(answer, query.level);
        let keys = queries::move_identifier(level, |tag| {
            queries::answer_value(answer, tag).map(str::to_owned)
        })
        .map_err(|tag| {
            ApiError::with_details(
                OrthancCode::BadRequest,
                format!("the answer has no {}", tag.format_comma()),
            )
        })?;
        archive
            .move_on_modality(&target, level, &keys, &target_aet)
            .await?;
        described.push(queries::retrieve_description(answer));
    }
    Ok(Json(json!({
        "Description": "REST API",
        "LocalAet": query.local_aet,
        "Query": described,
        "RemoteAet": peer.modality.aet,
    })))
}
