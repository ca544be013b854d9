//! `GET /cluster`: members, leader, term, last applied and each member's
//! health as this node sees it (Isengard-specific, not in Orthanc).

use axum::extract::State;
use axum::Json;

use crate::cluster::status::ClusterStatus;
use crate::service::Archive;

pub async fn status(State(archive): State<Archive>) -> Json<ClusterStatus> {
    Json(archive.index().cluster_status())
}
