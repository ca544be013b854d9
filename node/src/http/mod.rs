//! The Orthanc REST API over axum.
pub mod auth;
pub mod error;
pub mod resources;

use axum::routing::get;
use axum::Router;

use crate::service::Archive;

pub fn router(archive: Archive) -> Router {
    Router::new()
        .route("/{collection}", get(resources::list))
        .route("/{collection}/{id}", get(resources::get).delete(resources::delete))
        .route("/{collection}/{id}/statistics", get(resources::statistics))
        .route("/{collection}/{id}/{relative}", get(resources::relative))
        .layer(axum::middleware::from_fn_with_state(archive.clone(), auth::guard))
        .layer(axum::middleware::from_fn(error::render_errors))
        .with_state(archive)
}
