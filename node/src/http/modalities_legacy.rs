//! The deprecated C-FIND routes of `/modalities/{name}`, in Orthanc 1.10.1's
//! shapes: `find-patient`, `find-study`, `find-series`, `find-instance` (a
//! body of tags merged into the level's template, simplified answers) and
//! `find` (patients with their studies and series, all filtered by one body).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::error::{ApiError, ApiResult, OrthancCode};
use super::modalities::Peer;
use crate::dicom::json as tag_json;
use crate::dicom::model::Tag;
use crate::index::Level;
use crate::service::remote_query::{self as queries, Keys};
use crate::service::Archive;

/// The body of the deprecated `find-*` routes merged into the level's template.
fn legacy_fields(level: Level, body: &Bytes) -> ApiResult<Keys> {
    let request: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::new(OrthancCode::BadRequest))?;
    let object = request
        .as_object()
        .ok_or_else(|| ApiError::new(OrthancCode::BadRequest))?;
    let mut fields = queries::find_template(level);
    for (key, value) in object {
        let tag = queries::parse_tag(key)?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        queries::set(&mut fields, tag, text);
    }
    Ok(fields)
}

async fn legacy_find(
    archive: &Archive,
    peer: &Peer,
    level: Level,
    fields: &Keys,
) -> ApiResult<Vec<Value>> {
    let filter = queries::legacy_filter(level, fields);
    let identifier = queries::find_identifier(level, &filter, true, &peer.modality.manufacturer);
    let target = peer.target(archive);
    Ok(archive.find_on_modality(&target, level, identifier).await?)
}

fn human(answers: &[Value]) -> Value {
    Value::Array(
        answers
            .iter()
            .map(|a| tag_json::simplify(a, false))
            .collect(),
    )
}

async fn legacy_route(
    archive: Archive,
    name: String,
    level: Level,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let peer = Peer {
        modality: archive.modality(&name)?,
        local_aet: None,
        timeout: None,
    };
    let fields = legacy_fields(level, &body)?;
    Ok(Json(human(
        &legacy_find(&archive, &peer, level, &fields).await?,
    )))
}

pub async fn find_patient(
    State(a): State<Archive>,
    Path(n): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    legacy_route(a, n, Level::Patient, body).await
}

pub async fn find_study(
    State(a): State<Archive>,
    Path(n): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    legacy_route(a, n, Level::Study, body).await
}

pub async fn find_series(
    State(a): State<Archive>,
    Path(n): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    legacy_route(a, n, Level::Series, body).await
}

pub async fn find_instance(
    State(a): State<Archive>,
    Path(n): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    legacy_route(a, n, Level::Instance, body).await
}

/// The deprecated `POST /modalities/{m}/find`: patients, each with its
/// `Studies`, each with its `Series`, all filtered by the same body.
pub async fn find_tree(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let peer = Peer {
        modality: archive.modality(&name)?,
        local_aet: None,
        timeout: None,
    };
    let copy = |fields: &mut Keys, answer: &Value, tag: Tag| {
        if let Some(v) = queries::answer_value(answer, tag) {
            queries::set(fields, tag, v.to_owned());
        }
    };
    let patients = legacy_find(
        &archive,
        &peer,
        Level::Patient,
        &legacy_fields(Level::Patient, &body)?,
    )
    .await?;
    let mut result = Vec::new();
    for patient in &patients {
        let mut fields = legacy_fields(Level::Study, &body)?;
        copy(&mut fields, patient, queries::PATIENT_ID);
        let studies = legacy_find(&archive, &peer, Level::Study, &fields).await?;
        let mut study_list = Vec::new();
        for study in &studies {
            let mut fields = legacy_fields(Level::Series, &body)?;
            copy(&mut fields, study, queries::PATIENT_ID);
            copy(&mut fields, study, queries::STUDY_UID);
            let series = legacy_find(&archive, &peer, Level::Series, &fields).await?;
            let mut s = tag_json::simplify(study, false);
            s["Series"] = human(&series);
            study_list.push(s);
        }
        let mut p = tag_json::simplify(patient, false);
        p["Studies"] = Value::Array(study_list);
        result.push(p);
    }
    Ok(Json(Value::Array(result)))
}
