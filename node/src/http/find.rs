//! `/tools/find` and `/tools/lookup`, answered from the secondary tag index.
//!
//! Constraints on main DICOM tags of the requested level or of upper levels
//! are resolved by the index; constraints on other tags are checked against
//! the tags of one instance of each candidate, as Orthanc does. As in Orthanc
//! 1.10, a constraint on a main tag of a lower level matches nothing (except
//! `ModalitiesInStudy` on studies).

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::render;
use crate::dicom::{self, dictionary, Tag};
use crate::index::normalize::Constraint;
use crate::index::query::TagQuery;
use crate::index::{Level, Resource};
use crate::service::Archive;

fn parse_body(body: &Bytes) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request("The body must contain a JSON object")),
    }
}

/// `Limit` and `Since` as Orthanc reads them: integers, not negative.
fn opt_usize(map: &Map<String, Value>, key: &str) -> ApiResult<Option<usize>> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_u64() {
            Some(n) => Ok(Some(n as usize)),
            None => Err(ApiError::with_details(
                OrthancCode::ParameterOutOfRange,
                format!("Field \"{key}\" should be a positive integer"),
            )),
        },
        Some(_) => Err(ApiError::bad_request(format!(
            "Field \"{key}\" should be an integer"
        ))),
    }
}

/// The VR of a queried tag (`ModalitiesInStudy` is a CS).
fn vr_of(name: &str) -> (Option<Tag>, String) {
    if name == "ModalitiesInStudy" {
        return (Some(Tag(0x0008, 0x0061)), "CS".into());
    }
    match dictionary::find_by_name(name) {
        Some(tag) => (
            Some(tag),
            dictionary::implicit_vr(tag, None).as_str().to_owned(),
        ),
        None => (None, "UN".into()),
    }
}

/// VRs on which DICOM (and Orthanc) allow `*` and `?`.
const WILDCARD_VRS: &[&str] = &["AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"];

/// What a query asks, sorted by where it can be answered.
struct Plan {
    indexed: Vec<TagQuery>,
    /// Constraints on tags that are main tags of no level: checked on a file.
    other: Vec<(String, Constraint, bool)>,
    /// A constraint no resource of the level can satisfy: Orthanc matches main
    /// tags of lower levels (and `ModalitiesInStudy` elsewhere than on studies)
    /// against the resource's own tags, which never hold them.
    impossible: bool,
}

/// Orthanc's `/tools/find` rules: `CaseSensitive` (default false) applies to
/// every tag, person names included (`CaseSensitivePN` is for C-FIND only);
/// ranges on DA/DT/TM; wildcards only on text VRs; an empty value is universal.
fn plan(level: Level, query: &Map<String, Value>, case_sensitive: bool) -> ApiResult<Plan> {
    let mut plan = Plan {
        indexed: Vec::new(),
        other: Vec::new(),
        impossible: false,
    };
    for (key, value) in query {
        let name = dicom::tag_name(key).ok_or_else(|| {
            ApiError::with_details(OrthancCode::UnknownResource, format!("unknown tag {key}"))
        })?;
        let value = value.as_str().ok_or_else(|| {
            ApiError::bad_request(format!("Tag \"{key}\" should be associated with a string"))
        })?;
        let (tag, vr) = vr_of(&name);
        if (value.contains('*') || value.contains('?')) && !WILDCARD_VRS.contains(&vr.as_str()) {
            let tag = tag.map(|t| t.format_comma()).unwrap_or_else(|| key.clone());
            return Err(ApiError::with_details(
                OrthancCode::ParameterOutOfRange,
                format!("Wildcards are not allowed on tag {tag}"),
            ));
        }
        if value.is_empty() {
            continue;
        }
        let constraint = Constraint::parse(value, matches!(vr.as_str(), "DA" | "DT" | "TM"));
        if name == "ModalitiesInStudy" {
            if level != Level::Study {
                plan.impossible = true;
            }
            plan.indexed.push(TagQuery {
                level: Level::Series,
                tag: "Modality".into(),
                constraint,
                case_sensitive,
            });
        } else if let Some(tag_level) = dicom::main_tag_level(&name) {
            if tag_level > level {
                plan.impossible = true;
            }
            plan.indexed.push(TagQuery {
                level: tag_level,
                tag: name,
                constraint,
                case_sensitive,
            });
        } else if constraint != Constraint::Any {
            plan.other.push((name, constraint, case_sensitive));
        }
    }
    Ok(plan)
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
        _ => {
            return Err(ApiError::bad_request(
                "Field \"Query\" is missing, or should be a JSON object",
            ))
        }
    };
    let expand = request
        .get("Expand")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let case_sensitive = request
        .get("CaseSensitive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let limit = opt_usize(&request, "Limit")?;
    let since = opt_usize(&request, "Since")?.unwrap_or(0);

    let plan = plan(level, &query, case_sensitive)?;
    if plan.impossible {
        return Ok(Json(Value::Array(Vec::new())));
    }
    let mut found = archive.find(level, &plan.indexed)?;
    if !plan.other.is_empty() {
        let mut kept = Vec::new();
        for r in found {
            if matches_file_tags(&archive, &r, &plan.other).await? {
                kept.push(r);
            }
        }
        found = kept;
    }
    let page = found
        .into_iter()
        .skip(since)
        .take(limit.filter(|l| *l > 0).unwrap_or(usize::MAX));
    let answer: Vec<Value> = if expand {
        page.map(|r| archive.view(level, &r.id).map(|v| render(&archive, &v)))
            .collect::<Result<_, _>>()?
    } else {
        page.map(|r| json!(r.id)).collect()
    };
    Ok(Json(Value::Array(answer)))
}

/// Checks constraints on tags that are not main tags against one instance.
async fn matches_file_tags(
    archive: &Archive,
    r: &Resource,
    constraints: &[(String, Constraint, bool)],
) -> ApiResult<bool> {
    let Some(instance) = archive
        .descendants(&r.id, Level::Instance)?
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    let bytes = archive.instance_file(&instance).await?;
    let parsed = dicom::parse(&bytes)?;
    let tags = dicom::json::simplified(&parsed.object);
    Ok(constraints.iter().all(|(name, constraint, sensitive)| {
        tags.get(name)
            .and_then(Value::as_str)
            .is_some_and(|v| constraint.matches(v, *sensitive))
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
        let q = TagQuery {
            level,
            tag: tag.into(),
            constraint: Constraint::Equal(needle.clone()),
            case_sensitive: true,
        };
        for r in archive.find(level, &[q])? {
            out.push(json!({"ID": r.id, "Path": format!("/{}/{}", level.collection(), r.id), "Type": level.as_str()}));
        }
    }
    Ok(Json(Value::Array(out)))
}
