//! `/tools/find` and `/tools/lookup`: the JSON body becomes a
//! [`FindRequest`] under REST's rules (`CaseSensitive` on every tag,
//! wildcards on text VRs only, a main tag of a lower level matching nothing,
//! `Limit` and `Since`), planned and run by [`crate::service::find`]; the
//! matches are rendered as ids or, with `Expand`, as resources.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::render;
use crate::index::Level;
use crate::service::find::{FindKey, FindRequest};
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

pub async fn find(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<Value>> {
    let request = parse_body(&body)?;
    let level = request
        .get("Level")
        .and_then(Value::as_str)
        .and_then(Level::parse)
        .ok_or_else(|| ApiError::new(OrthancCode::ParameterOutOfRange))?;
    let query = match request.get("Query") {
        Some(Value::Object(q)) => q,
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

    let mut find = FindRequest::rest(level, case_sensitive);
    find.since = since;
    find.limit = limit.unwrap_or(0);
    for (key, value) in query {
        let named = FindKey::named(key)?;
        let value = value.as_str().ok_or_else(|| {
            ApiError::bad_request(format!("Tag \"{key}\" should be associated with a string"))
        })?;
        find.add(named, value)?;
    }
    let found = archive
        .find(&find)
        .await?
        .matches
        .into_iter()
        .map(|m| m.resource);
    let answer: Vec<Value> = if expand {
        found
            .map(|r| archive.view(level, &r.id).map(|v| render(&archive, &v)))
            .collect::<Result<_, _>>()?
    } else {
        found.map(|r| json!(r.id)).collect()
    };
    Ok(Json(Value::Array(answer)))
}

/// `/tools/lookup`: which resources carry this DICOM identifier.
pub async fn lookup(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<Value>> {
    let needle = String::from_utf8_lossy(&body).trim().to_owned();
    if needle.is_empty() {
        return Err(ApiError::bad_request("POST the identifier to look up"));
    }
    let out: Vec<Value> = archive
        .lookup(&needle)?
        .into_iter()
        .map(|r| json!({"ID": r.id, "Path": format!("/{}/{}", r.level.collection(), r.id), "Type": r.level.as_str()}))
        .collect();
    Ok(Json(Value::Array(out)))
}
