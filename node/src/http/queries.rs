//! `/queries`: the results of `POST /modalities/{m}/query` kept on this node
//! (see [`crate::service::remote_query`]), their answers in Orthanc's JSON forms,
//! retrieval of answers by C-MOVE, and queries of an answer's children
//! (`query-studies|series|instances`).

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

/// `POST /queries/{id}/answers/{i}/query-{studies,series,instances}`: a
/// C-FIND at the child level, to the same modality with the same AET and
/// timeout, for `{"Query", "Normalize"}` restricted to the answer (its
/// identifying keys, as Orthanc's `QueryAnswerChildren`).
pub async fn query_children(
    State(archive): State<Archive>,
    Path((id, index, children)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    use crate::index::Level;
    let level = match children.as_str() {
        "query-studies" => Level::Study,
        "query-series" => Level::Series,
        "query-instances" => Level::Instance,
        _ => return Err(ApiError::unrouted()),
    };
    let parent = archive.queries().get(&id)?;
    let i = answer_index(&parent, &index)?;
    if level <= parent.level {
        return Err(ApiError::with_details(
            OrthancCode::BadRequest,
            format!(
                "cannot query the {} below an answer at the {} level",
                level.as_str(),
                parent.level.as_str()
            ),
        ));
    }
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ if body.iter().all(u8::is_ascii_whitespace) => json!({}),
        _ => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "Must provide a JSON object",
            ))
        }
    };
    let keys = match request.get("Query") {
        None => queries::Keys::new(),
        Some(Value::Object(q)) => queries::parse_keys(q)?,
        Some(_) => {
            return Err(ApiError::with_details(
                OrthancCode::BadFileFormat,
                "The field Query must contain a JSON object",
            ))
        }
    };
    let normalize = request
        .get("Normalize")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let answer = &parent.answers[i];
    let identifying: &[crate::dicom::Tag] = match parent.level {
        Level::Patient => &[queries::PATIENT_ID],
        Level::Study => &[queries::STUDY_UID],
        _ => &[queries::STUDY_UID, queries::SERIES_UID],
    };
    let mut fixed = queries::Keys::new();
    for &tag in identifying {
        if let Some(v) = queries::answer_value(answer, tag) {
            queries::set(&mut fixed, tag, v.to_owned());
        }
    }
    let peer = Peer {
        modality: archive.modality(&parent.modality)?,
        local_aet: Some(parent.local_aet.clone()),
        timeout: parent.timeout,
    };
    let name = parent.modality.clone();
    let answer =
        super::modalities::submit_query(&archive, name, &peer, level, keys, &fixed, normalize)
            .await?;
    Ok(answer.into_response())
}
