//! `/peers`: the Orthanc peers (list, define, delete, show), in Orthanc
//! 1.10.1's shapes. The list is replicated (`service::peers`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::{flag, ExpandParams};
use crate::service::peers::{peer_from_json, peer_to_json};
use crate::service::Archive;

/// What `GET /peers/{name}` lists, as Orthanc 1.10.1 does.
const OPERATIONS: [&str; 4] = ["configuration", "store", "store-straight", "system"];

pub async fn list(
    State(archive): State<Archive>,
    Query(p): Query<ExpandParams>,
) -> ApiResult<Json<Value>> {
    let peers = archive.peers()?;
    Ok(Json(if flag(&p.expand) {
        Value::Object(
            peers
                .iter()
                .map(|peer| (peer.name.clone(), peer_to_json(peer)))
                .collect::<Map<_, _>>(),
        )
    } else {
        peers.into_iter().map(|peer| Value::String(peer.name)).collect()
    }))
}

pub async fn operations(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Json<[&'static str; 4]>> {
    // Orthanc: an unknown peer is an unknown URI.
    archive.peer(&name).map_err(|_| ApiError::unrouted())?;
    Ok(Json(OPERATIONS))
}

pub async fn configuration(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let peer = archive.peer(&name).map_err(|_| {
        ApiError::with_details(
            OrthancCode::UnknownResource,
            format!("No peer with symbolic name: {name}"),
        )
    })?;
    Ok(Json(peer_to_json(&peer)))
}

pub async fn put(
    State(archive): State<Archive>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::with_details(OrthancCode::BadFileFormat, "Cannot parse the JSON body"))?;
    archive.put_peer(peer_from_json(&name, &value)?).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response())
}

pub async fn delete(
    State(archive): State<Archive>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    archive.delete_peer(&name).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain")], "").into_response())
}
