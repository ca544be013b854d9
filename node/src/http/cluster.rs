//! The cluster resource (Isengard-specific, not in Orthanc):
//!
//! - `GET /cluster`: members, leader, term, last applied, snapshot and purge
//!   points, and each member's health as this node sees it;
//! - `GET /cluster/members`: the members only;
//! - `POST /cluster/members` with `{"NodeId": 4, "Address": "host:4300"}`
//!   (optional `"Timeout"`: seconds the node may take to catch up, default
//!   600): adds the node as a learner, waits until it has caught up, promotes
//!   it to voter, and answers the leader's `GET /cluster` body;
//! - `DELETE /cluster/members/{id}`: removes the node, answers the same body.
//!
//! Both changes work on any member (they are handed to the leader).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::error::{ApiError, ApiResult, OrthancCode};
use crate::cluster::membership::{MembershipError, MembershipRequest, DEFAULT_CATCH_UP};
use crate::cluster::status::{ClusterStatus, MemberStatus};
use crate::service::Archive;

pub async fn status(State(archive): State<Archive>) -> Json<ClusterStatus> {
    Json(archive.cluster_status())
}

pub async fn members(State(archive): State<Archive>) -> Json<Vec<MemberStatus>> {
    Json(archive.cluster_status().members)
}

/// Parses the body of `POST /cluster/members`.
fn add_request(body: &[u8]) -> ApiResult<MembershipRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::with_details(
            OrthancCode::BadJson,
            format!("the body must be a JSON object: {e}"),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::with_details(
            OrthancCode::BadJson,
            "the body must be a JSON object",
        ));
    };
    let node_id = object
        .get("NodeId")
        .and_then(Value::as_u64)
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("\"NodeId\" must be a positive integer"))?;
    let address = object
        .get("Address")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::bad_request(
                "\"Address\" must be the host:port string of the node's gRPC port",
            )
        })?;
    let catch_up_secs = match object.get("Timeout") {
        None => DEFAULT_CATCH_UP.as_secs(),
        Some(v) => v.as_u64().filter(|s| *s > 0).ok_or_else(|| {
            ApiError::bad_request("\"Timeout\" must be a positive number of seconds")
        })?,
    };
    Ok(MembershipRequest::Add {
        node_id,
        address: address.to_owned(),
        catch_up_secs,
    })
}

pub async fn add(State(archive): State<Archive>, body: Bytes) -> ApiResult<Json<ClusterStatus>> {
    let request = add_request(&body)?;
    Ok(Json(archive.change_membership(request).await?))
}

pub async fn remove(
    State(archive): State<Archive>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterStatus>> {
    let node_id = id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!("{id:?} is not a node id (a positive integer)"))
    })?;
    Ok(Json(
        archive
            .change_membership(MembershipRequest::Remove { node_id })
            .await?,
    ))
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> Self {
        use MembershipError::*;
        let code = match &e {
            NotClustered
            | BadNodeId
            | BadAddress(_)
            | LastVoter(_)
            | AddressConflict { .. }
            | Unreachable { .. }
            | WrongNode { .. }
            | Refused(_) => OrthancCode::BadRequest,
            UnknownNode(_) => OrthancCode::InexistentItem,
            NotCaughtUp { .. } | Busy | NoLeader | ShuttingDown => OrthancCode::DatabaseUnavailable,
            Failed(_) => OrthancCode::InternalError,
        };
        ApiError::with_details(code, e.to_string())
    }
}
