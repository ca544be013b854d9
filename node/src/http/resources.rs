//! `/patients`, `/studies`, `/series`, `/instances`: listings, one resource,
//! its children and parents, statistics and deletion, in Orthanc's shapes.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};
use crate::dicom;
use crate::index::{Level, Resource};
use crate::service::read::ResourceView;
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    expand: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

/// The level of a collection segment; any other segment names no route.
pub fn level_of(collection: &str) -> ApiResult<Level> {
    Level::from_collection(collection).ok_or_else(ApiError::unrouted)
}

fn number(name: &str, value: &Option<String>) -> ApiResult<Option<usize>> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer"))
            })
        })
        .transpose()
}

fn missing(argument: &str, collection: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Missing \"{argument}\" argument for GET request against: /{collection}/"
    ))
}

/// Orthanc's flag parameters: present (`?expand`) or any value but `false`/`0`.
pub fn flag(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| v != "false" && v != "0")
}

pub async fn list(
    State(archive): State<Archive>,
    Path(collection): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let level = level_of(&collection)?;
    let since = number("since", &params.since)?;
    let limit = number("limit", &params.limit)?;
    // As Orthanc: `since` and `limit` come together or not at all.
    match (since, limit) {
        (Some(_), None) => return Err(missing("limit", &collection)),
        (None, Some(_)) => return Err(missing("since", &collection)),
        _ => {}
    }
    let ids = archive.list(level, since.unwrap_or(0), limit)?;
    if flag(&params.expand) {
        let expanded = ids
            .iter()
            .map(|id| archive.view(level, id).map(|v| render(&archive, &v)))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Json(Value::Array(expanded)));
    }
    Ok(Json(json!(ids)))
}

pub async fn get(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let level = level_of(&collection)?;
    Ok(Json(render(&archive, &archive.view(level, &id)?)))
}

pub async fn delete(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let level = level_of(&collection)?;
    let outcome = archive.delete(level, &id).await?;
    let remaining = outcome.remaining_ancestor.map(|(level, id)| {
        json!({"ID": id, "Path": format!("/{}/{}", level.collection(), id), "Type": level.as_str()})
    });
    Ok(Json(json!({ "RemainingAncestor": remaining })))
}

#[derive(Debug, Default, Deserialize)]
pub struct ExpandParams {
    pub expand: Option<String>,
}

/// `/{collection}/{id}/{relative}`: children lists (`/studies/{id}/instances`) and
/// parents (`/instances/{id}/patient`).
pub async fn relative(
    State(archive): State<Archive>,
    Path((collection, id, relative)): Path<(String, String, String)>,
    Query(params): Query<ExpandParams>,
) -> ApiResult<Json<Value>> {
    let level = level_of(&collection)?;
    let child = Level::from_collection(&relative).filter(|t| *t > level);
    let parent = match relative.as_str() {
        "patient" => Some(Level::Patient),
        "study" => Some(Level::Study),
        "series" => Some(Level::Series),
        _ => None,
    }
    .filter(|p| *p < level);
    if child.is_none() && parent.is_none() {
        return Err(ApiError::unrouted());
    }
    archive.resource_at(level, &id)?;
    // `series` names both a child list (`/studies/{id}/series`) and a parent
    // (`/instances/{id}/series`): a level below is a child list.
    if let Some(target) = child {
        let ids = archive.descendants(&id, target)?;
        let views = ids
            .iter()
            .map(|i| archive.view(target, i))
            .collect::<Result<Vec<_>, _>>()?;
        let _ = params.expand; // Orthanc always expands these lists.
        return Ok(Json(Value::Array(
            views.iter().map(|v| render(&archive, v)).collect(),
        )));
    }
    let parent_level = parent.ok_or_else(ApiError::unrouted)?;
    let ancestor = archive.ancestor(&id, parent_level)?;
    Ok(Json(render(
        &archive,
        &archive.view(parent_level, &ancestor.id)?,
    )))
}

pub async fn statistics(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let level = level_of(&collection)?;
    let s = archive.resource_statistics(level, &id)?;
    let mb = |b: u64| b / (1024 * 1024);
    let mut out = Map::new();
    if level == Level::Patient {
        out.insert("CountStudies".into(), json!(s.studies));
    }
    if level <= Level::Study {
        out.insert("CountSeries".into(), json!(s.series));
    }
    if level <= Level::Series {
        out.insert("CountInstances".into(), json!(s.instances));
    }
    for (prefix, disk, uncompressed) in [
        ("Dicom", s.disk_size, s.uncompressed_size),
        ("", s.disk_size, s.uncompressed_size),
    ] {
        out.insert(format!("{prefix}DiskSize"), json!(disk.to_string()));
        out.insert(format!("{prefix}DiskSizeMB"), json!(mb(disk)));
        out.insert(
            format!("{prefix}UncompressedSize"),
            json!(uncompressed.to_string()),
        );
        out.insert(
            format!("{prefix}UncompressedSizeMB"),
            json!(mb(uncompressed)),
        );
    }
    let mut sorted: Vec<(String, Value)> = out.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Json(Value::Object(sorted.into_iter().collect())))
}

/// One resource as Orthanc's `GET /{level}/{id}` shows it (keys in Orthanc's order).
pub fn render(archive: &Archive, view: &ResourceView) -> Value {
    let r = &view.resource;
    let mut out = Map::new();
    match r.level {
        Level::Patient => {
            out.insert("ID".into(), json!(r.id));
            out.insert("IsStable".into(), json!(r.is_stable));
            out.insert("LastUpdate".into(), json!(r.last_update));
            out.insert("MainDicomTags".into(), json!(r.main_tags));
            out.insert("Studies".into(), json!(view.children));
        }
        Level::Study => {
            out.insert("ID".into(), json!(r.id));
            out.insert("IsStable".into(), json!(r.is_stable));
            out.insert("LastUpdate".into(), json!(r.last_update));
            out.insert("MainDicomTags".into(), json!(r.main_tags));
            out.insert("ParentPatient".into(), json!(r.parent));
            out.insert(
                "PatientMainDicomTags".into(),
                json!(view.patient_tags.clone().unwrap_or_default()),
            );
            out.insert("Series".into(), json!(view.children));
        }
        Level::Series => {
            let expected = dicom::expected_number_of_instances(&r.main_tags);
            out.insert("ExpectedNumberOfInstances".into(), json!(expected));
            out.insert("ID".into(), json!(r.id));
            out.insert("Instances".into(), json!(view.children));
            out.insert("IsStable".into(), json!(r.is_stable));
            out.insert("LastUpdate".into(), json!(r.last_update));
            out.insert("MainDicomTags".into(), json!(r.main_tags));
            out.insert("ParentStudy".into(), json!(r.parent));
            out.insert(
                "Status".into(),
                json!(series_status(archive, expected, &view.children)),
            );
        }
        Level::Instance => {
            let att = r.attachments.get("dicom");
            out.insert("FileSize".into(), json!(att.map(|a| a.uncompressed_size).unwrap_or(0)));
            out.insert(
                "FileUuid".into(),
                json!(att.map(|a| a.hash.clone()).unwrap_or_default()),
            );
            out.insert("ID".into(), json!(r.id));
            out.insert("IndexInSeries".into(), index_in_series(r));
            out.insert("MainDicomTags".into(), json!(r.main_tags));
            out.insert("ParentSeries".into(), json!(r.parent));
        }
    }
    out.insert("Type".into(), json!(r.level.as_str()));
    // A modified or anonymized copy names its source, as in Orthanc.
    let mut sources = false;
    for key in ["AnonymizedFrom", "ModifiedFrom"] {
        if let Some(source) = r.metadata.get(key) {
            out.insert(key.into(), json!(source));
            sources = true;
        }
    }
    if sources {
        out.sort_keys();
    }
    Value::Object(out)
}

fn index_in_series(r: &Resource) -> Value {
    r.metadata
        .get("IndexInSeries")
        .and_then(|v| v.parse::<i64>().ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

/// Orthanc's series status: `Unknown` without an expected count or without an
/// index for some instance, `Inconsistent` on out-of-range or repeated indexes,
/// else `Complete` or `Missing`.
fn series_status(archive: &Archive, expected: Option<u32>, instances: &[String]) -> &'static str {
    let Some(expected) = expected else {
        return "Unknown";
    };
    let mut seen = std::collections::HashSet::new();
    for id in instances {
        let Ok(r) = archive.resource(id) else {
            return "Unknown";
        };
        let Some(index) = r
            .metadata
            .get("IndexInSeries")
            .and_then(|v| v.parse::<i64>().ok())
        else {
            return "Unknown";
        };
        if index < 1 || index > i64::from(expected) || !seen.insert(index) {
            return "Inconsistent";
        }
    }
    if seen.len() == expected as usize {
        "Complete"
    } else {
        "Missing"
    }
}

/// `GET /instances` (the POST of the same path is the upload).
pub async fn list_instances(
    state: State<Archive>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    list(state, Path("instances".to_owned()), Query(params)).await
}
