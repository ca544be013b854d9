//! `/modalities`: the DICOM peers (list, define, delete) and the SCU
//! operations on one of them, in Orthanc 1.10.1's shapes: `echo`, `store`,
//! `store-straight`, `query` (results under `/queries`, see
//! [`super::queries`]) and `move`; the
//! deprecated `find-*` routes are in [`super::modalities_legacy`].
//!
//! Each operation is a use case of `service` (`send`, `remote`); this module
//! parses Orthanc's request bodies and shapes its answers. Orthanc runs
//! `store`, `move` and retrieves as jobs when asked to be
//! asynchronous; Isengard has no jobs yet and always runs them synchronously
//! (docs/networking.md).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::{flag, ExpandParams};
use crate::index::Modality;
use crate::service::modalities::{modality_from_json, modality_to_json};
use crate::service::remote_query::{self as queries, Keys, StoredQuery};
use crate::service::send::SendOptions;
use crate::service::Archive;
use isengard_dimse::scu::Target;

/// What `GET /modalities/{name}` lists, as Orthanc 1.10.1 does.
const OPERATIONS: [&str; 13] = [
    "configuration",
    "echo",
    "find",
    "find-instance",
    "find-patient",
    "find-series",
    "find-study",
    "find-worklist",
    "move",
    "query",
    "storage-commitment",
    "store",
    "store-straight",
];

/// The answer Orthanc gives to `PUT`/`DELETE`: 200, empty `text/plain`.
fn empty_ok() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

/// The body as JSON; `None` when empty.
pub(super) fn json_body(body: &Bytes) -> ApiResult<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|_| {
        ApiError::with_details(OrthancCode::BadFileFormat, "Cannot parse the JSON body")
    })
}

fn bad_format(details: impl Into<String>) -> ApiError {
    ApiError::with_details(OrthancCode::BadFileFormat, details)
}

/// An optional unsigned field of a request object.
pub(super) fn unsigned(body: &Value, key: &str) -> ApiResult<Option<u64>> {
    match body.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad_format(format!("{key} must be a positive integer"))),
    }
}

/// An optional string field of a request object.
fn string(body: &Value, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_format(format!("The field {key} must contain a string"))),
    }
}

/// The association parameters: the modality's (or the request's) local AET
/// and timeout.
pub struct Peer {
    pub modality: Modality,
    pub local_aet: Option<String>,
    pub timeout: Option<u64>,
}

impl Peer {
    pub fn target(&self, archive: &Archive) -> Target {
        archive.scu_target(&self.modality, self.local_aet.as_deref(), self.timeout)
    }
}

pub async fn list(
    State(archive): State<Archive>,
    Query(p): Query<ExpandParams>,
) -> ApiResult<Json<Value>> {
    let modalities = archive.modalities()?;
    if flag(&p.expand) {
        let all: Map<String, Value> = modalities
            .iter()
            .map(|m| (m.name.clone(), modality_to_json(m)))
            .collect();
        return Ok(Json(Value::Object(all)));
    }
    Ok(Json(json!(modalities
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>())))
}

/// `GET /modalities/{name}`: Orthanc answers an unknown name with an empty 404.
pub async fn operations(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    match archive.modality(&name) {
        Ok(_) => Ok(Json(json!(OPERATIONS)).into_response()),
        Err(crate::service::ServiceError::UnknownModality(_)) => {
            Ok(StatusCode::NOT_FOUND.into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn configuration(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(modality_to_json(&archive.modality(&name)?)))
}

pub async fn put(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let value: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::new(OrthancCode::BadFileFormat))?;
    archive
        .put_modality(modality_from_json(&name, &value)?)
        .await?;
    Ok(empty_ok())
}

pub async fn delete(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    archive.delete_modality(&name).await?;
    Ok(empty_ok())
}

/// Operations Orthanc 1.10.1 has and Isengard does not (yet).
pub async fn not_implemented(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    archive.modality(&name)?;
    Err(ApiError::with_details(
        OrthancCode::NotImplemented,
        "not implemented by Isengard",
    ))
}

pub async fn echo(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?.unwrap_or_else(|| json!({}));
    let peer = Peer {
        modality: archive.modality(&name)?,
        local_aet: None,
        timeout: unsigned(&body, "Timeout")?,
    };
    echo_peer(&archive, &peer, &body).await
}

/// C-ECHO, then with `"CheckFind": true` a C-FIND of every study (its
/// answers dropped) to check that the modality serves C-FIND.
async fn echo_peer(archive: &Archive, peer: &Peer, body: &Value) -> ApiResult<Json<Value>> {
    let target = peer.target(archive);
    archive.echo_modality(&target).await?;
    let check_find = match body.get("CheckFind") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad_format("The field CheckFind must contain a Boolean")),
    };
    if check_find {
        let level = crate::index::Level::Study;
        let identifier =
            queries::find_identifier(level, &Keys::new(), true, &peer.modality.manufacturer);
        archive.find_on_modality(&target, level, identifier).await?;
    }
    Ok(Json(json!({})))
}

/// `POST /tools/dicom-echo`: C-ECHO to a modality given in the body, as
/// `PUT /modalities/{name}` takes it (an array `[AET, host, port]` or an
/// object, with an optional `Timeout`); answers `{}`.
pub async fn echo_unnamed(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?.ok_or_else(|| bad_format("Must provide a JSON value"))?;
    let timeout = if body.is_object() {
        unsigned(&body, "Timeout")?
    } else {
        None
    };
    let peer = Peer {
        modality: modality_from_json("dicom-echo", &body)?,
        local_aet: None,
        timeout,
    };
    echo_peer(&archive, &peer, &body).await
}

/// Looks like an Orthanc identifier (SHA-1 in 5 groups of 8 hex digits).
fn is_orthanc_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn id_list(value: &Value) -> ApiResult<Vec<String>> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad_format("Resources must be strings"))
            })
            .collect(),
        _ => Err(bad_format("Must provide a JSON value")),
    }
}

/// The instances below the given resources, in order, without duplicates.
/// `POST /modalities/{m}/store`: body one ID, an array of IDs, or
/// `{"Resources", "Synchronous", "LocalAet", "Timeout", "Permissive",
/// "MoveOriginatorAet", "MoveOriginatorID"}`.
pub async fn store(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let modality = archive.modality(&name)?;
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            if !is_orthanc_id(&text) {
                return Err(bad_format("Must provide a JSON value"));
            }
            Value::String(text)
        }
    };
    let (ids, options) = match &request {
        Value::Object(o) => {
            let resources = o
                .get("Resources")
                .ok_or_else(|| bad_format("Missing field in JSON: \"Resources\""))?;
            if !resources.is_array() {
                return Err(bad_format("JSON field \"Resources\" must contain an array"));
            }
            (id_list(resources)?, request.clone())
        }
        other => (id_list(other)?, json!({})),
    };
    let instances = archive.instances_of(&ids)?;
    let originator = match (
        string(&options, "MoveOriginatorAet")?,
        unsigned(&options, "MoveOriginatorID")?,
    ) {
        (Some(aet), id) => Some((aet, id.unwrap_or(0) as u16)),
        (None, Some(id)) => Some((String::new(), id as u16)),
        (None, None) => None,
    };
    let options = SendOptions {
        local_aet: string(&options, "LocalAet")?,
        timeout: unsigned(&options, "Timeout")?,
        move_originator: originator.clone(),
        permissive: options
            .get("Permissive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let report = archive
        .send_to_modality(&modality, &instances, &options)
        .await?;
    let mut answer = Map::new();
    answer.insert("Description".into(), json!("REST API"));
    answer.insert("FailedInstancesCount".into(), json!(report.failed));
    answer.insert("InstancesCount".into(), json!(instances.len()));
    answer.insert("LocalAet".into(), json!(report.local_aet));
    if let Some((aet, id)) = &originator {
        answer.insert("MoveOriginatorAET".into(), json!(aet));
        answer.insert("MoveOriginatorID".into(), json!(id));
    }
    if !ids.is_empty() {
        answer.insert("ParentResources".into(), json!(ids));
    }
    answer.insert("RemoteAet".into(), json!(modality.aet));
    Ok(Json(Value::Object(answer)))
}

/// `POST /modalities/{m}/move`: `{"Level", "Resources": [{keys}], "TargetAet",
/// "Timeout", "LocalAet"}`; answers `{}` once every C-MOVE is done.
pub async fn move_(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let modality = archive.modality(&name)?;
    let request = json_body(&body)?.unwrap_or(Value::Null);
    let missing = || bad_format("Must provide a JSON body containing fields Resources and Level");
    let level = request
        .get("Level")
        .and_then(Value::as_str)
        .ok_or_else(missing)?;
    let level = queries::parse_level(level)?;
    let resources = request
        .get("Resources")
        .and_then(Value::as_array)
        .ok_or_else(missing)?;
    let peer = Peer {
        modality,
        local_aet: string(&request, "LocalAet")?,
        timeout: unsigned(&request, "Timeout")?,
    };
    let target = peer.target(&archive);
    let destination = string(&request, "TargetAet")?.unwrap_or_else(|| target.local_aet.clone());
    let mut moves = Vec::new();
    for resource in resources {
        let object = resource
            .as_object()
            .ok_or_else(|| bad_format("Resources must be JSON objects"))?;
        let keys = queries::parse_keys(object)?;
        let ident = queries::move_identifier(level, |tag| {
            keys.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.clone())
        })
        .map_err(|tag| {
            ApiError::with_details(
                OrthancCode::BadRequest,
                format!("missing {}", tag.format_comma()),
            )
        })?;
        moves.push(ident);
    }
    for keys in &moves {
        archive
            .move_on_modality(&target, level, keys, &destination)
            .await?;
    }
    Ok(Json(json!({})))
}

/// `POST /modalities/{m}/query`: `{"Level", "Query", "Normalize", "LocalAet",
/// "Timeout"}` → `{"ID", "Path"}` of the stored result.
pub async fn query(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let modality = archive.modality(&name)?;
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(bad_format("Must provide a JSON object")),
    };
    let level = match request.get("Level") {
        Some(Value::String(l)) => queries::parse_level(l)?,
        _ => return Err(bad_format("The JSON body must contain field Level")),
    };
    let normalize = match request.get("Normalize") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad_format("The field Normalize must contain a Boolean")),
    };
    let keys = match request.get("Query") {
        None => Keys::new(),
        Some(Value::Object(q)) => queries::parse_keys(q).map_err(|_| {
            bad_format("Associative array of DICOM tags to strings expected in field: Query")
        })?,
        Some(_) => return Err(bad_format("The field Query must contain a JSON object")),
    };
    let peer = Peer {
        modality,
        local_aet: string(&request, "LocalAet")?,
        timeout: unsigned(&request, "Timeout")?,
    };
    submit_query(&archive, name, &peer, level, keys, &Keys::new(), normalize).await
}

/// Runs a C-FIND for `keys` (plus `fixed`, the keys of a parent answer, that
/// normalisation keeps) and keeps its answers under `/queries`: `{"ID", "Path"}`.
pub(super) async fn submit_query(
    archive: &Archive,
    name: String,
    peer: &Peer,
    level: crate::index::Level,
    keys: Keys,
    fixed: &Keys,
    normalize: bool,
) -> ApiResult<Json<Value>> {
    let mut identifier =
        queries::find_identifier(level, &keys, normalize, &peer.modality.manufacturer);
    let mut query = keys;
    for (tag, value) in fixed {
        queries::set(&mut identifier, *tag, value.clone());
        queries::set(&mut query, *tag, value.clone());
    }
    let target = peer.target(archive);
    let answers = archive.find_on_modality(&target, level, identifier).await?;
    let local_aet = target.local_aet;
    let id = archive.queries().add(StoredQuery {
        id: String::new(),
        modality: name,
        level,
        query,
        answers,
        local_aet,
        timeout: peer.timeout,
    });
    Ok(Json(json!({"ID": id, "Path": format!("/queries/{id}")})))
}

/// `POST /modalities/{m}/store-straight`: the body, a DICOM file, sent as it
/// is by C-STORE; answers its SOP class and instance UIDs.
pub async fn store_straight(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let modality = archive.modality(&name)?;
    let (sop_class, sop_instance) = archive.store_straight(&modality, body).await?;
    Ok(Json(
        json!({"SOPClassUID": sop_class, "SOPInstanceUID": sop_instance}),
    ))
}
