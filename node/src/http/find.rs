//! `/tools/find` and `/tools/lookup`, answered from the secondary tag index.
//!
//! Constraints on main DICOM tags (of the requested level or of any other
//! level) are resolved by the index; constraints on other tags are checked
//! against the tags of one instance of each candidate, as Orthanc does.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::render;
use crate::dicom;
use crate::index::normalize::Constraint;
use crate::index::query::TagQuery;
use crate::index::{Level, Resource};
use crate::service::Archive;

/// Tags whose query values may be ranges (`A-B`).
const RANGE_TAGS: &[&str] = &[
    "PatientBirthDate",
    "StudyDate",
    "StudyTime",
    "SeriesDate",
    "SeriesTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentDate",
    "ContentTime",
];

/// Person-name tags: matched case-insensitively unless `CaseSensitivePN`.
const PN_TAGS: &[&str] = &["PatientName", "ReferringPhysicianName", "RequestingPhysician", "OperatorsName", "PerformingPhysicianName"];

fn parse_body(body: &Bytes) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request("The body must contain a JSON object")),
    }
}

fn opt_usize(map: &Map<String, Value>, key: &str) -> ApiResult<Option<usize>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| ApiError::with_details(OrthancCode::BadParameterType, format!("{key} must be a non-negative integer"))),
    }
}

pub async fn find(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<Value>> {
    let request = parse_body(&body)?;
    let level = request
        .get("Level")
        .and_then(Value::as_str)
        .and_then(Level::parse)
        .ok_or_else(|| ApiError::new(OrthancCode::ParameterOutOfRange))?;
    let query = match request.get("Query") {
        Some(Value::Object(q)) => q.clone(),
        _ => return Err(ApiError::bad_request("Field \"Query\" must be a JSON object")),
    };
    let expand = request.get("Expand").and_then(Value::as_bool).unwrap_or(false);
    let case_sensitive = request.get("CaseSensitive").and_then(Value::as_bool).unwrap_or(true);
    let case_sensitive_pn = archive.config().raw.get("CaseSensitivePN").and_then(Value::as_bool).unwrap_or(false);
    let limit = opt_usize(&request, "Limit")?;
    let since = opt_usize(&request, "Since")?.unwrap_or(0);

    let mut indexed = Vec::new();
    let mut other = Vec::new();
    for (key, value) in &query {
        let value = value
            .as_str()
            .ok_or_else(|| ApiError::with_details(OrthancCode::BadParameterType, format!("the value of {key} must be a string")))?;
        let name = dicom::tag_name(key).ok_or_else(|| ApiError::with_details(OrthancCode::UnknownResource, format!("unknown tag {key}")))?;
        let is_pn = PN_TAGS.contains(&name.as_str());
        let sensitive = case_sensitive && (!is_pn || case_sensitive_pn);
        let constraint = Constraint::parse(value, RANGE_TAGS.contains(&name.as_str()));
        if name == "ModalitiesInStudy" {
            indexed.push(TagQuery { level: Level::Series, tag: "Modality".into(), constraint, case_sensitive: sensitive });
        } else if let Some(tag_level) = dicom::main_tag_level(&name) {
            indexed.push(TagQuery { level: tag_level, tag: name, constraint, case_sensitive: sensitive });
        } else if constraint != Constraint::Any {
            other.push((name, constraint, sensitive));
        }
    }
    let mut found = archive.find(level, &indexed)?;
    if !other.is_empty() {
        let mut kept = Vec::new();
        for r in found {
            if matches_file_tags(&archive, &r, &other).await? {
                kept.push(r);
            }
        }
        found = kept;
    }
    let page = found.into_iter().skip(since).take(limit.filter(|l| *l > 0).unwrap_or(usize::MAX));
    let answer: Vec<Value> = if expand {
        page.map(|r| archive.view(level, &r.id).map(|v| render(&archive, &v))).collect::<Result<_, _>>()?
    } else {
        page.map(|r| json!(r.id)).collect()
    };
    Ok(Json(Value::Array(answer)))
}

/// Checks constraints on tags that are not main tags against one instance.
async fn matches_file_tags(archive: &Archive, r: &Resource, constraints: &[(String, Constraint, bool)]) -> ApiResult<bool> {
    let Some(instance) = archive.descendants(&r.id, Level::Instance)?.into_iter().next() else {
        return Ok(false);
    };
    let bytes = archive.instance_file(&instance).await?;
    let parsed = dicom::parse(&bytes)?;
    let tags = dicom::json::simplified(&parsed.object);
    Ok(constraints.iter().all(|(name, constraint, sensitive)| {
        tags.get(name).and_then(Value::as_str).is_some_and(|v| constraint.matches(v, *sensitive))
    }))
}

/// `/tools/lookup`: which resources carry this DICOM identifier.
pub async fn lookup(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<Value>> {
    let needle = String::from_utf8_lossy(&body).trim().to_owned();
    if needle.is_empty() {
        return Err(ApiError::bad_request("POST the identifier to look up"));
    }
    let mut out = Vec::new();
    for (level, tag) in [
        (Level::Patient, "PatientID"),
        (Level::Study, "StudyInstanceUID"),
        (Level::Series, "SeriesInstanceUID"),
        (Level::Instance, "SOPInstanceUID"),
    ] {
        let q = TagQuery { level, tag: tag.into(), constraint: Constraint::Equal(needle.clone()), case_sensitive: true };
        for r in archive.find(level, &[q])? {
            out.push(json!({"ID": r.id, "Path": format!("/{}/{}", level.collection(), r.id), "Type": level.as_str()}));
        }
    }
    Ok(Json(Value::Array(out)))
}
