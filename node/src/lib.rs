//! Isengard: an Orthanc-compatible DICOM archive whose index is a Raft-replicated
//! state machine on RocksDB and whose files are content-addressed blobs.
//!
//! Layers, data flowing one way:
//! - edges: [`http`] (Orthanc REST API) and [`dimse`] (DICOM network: SCP and SCU);
//! - [`service`]: protocol-neutral use cases (ingest, read, find, delete, lifecycle);
//! - [`index`] (Raft log + state machine on RocksDB, secondary indexes, queries)
//!   and [`blob`] (content-addressed store over `object_store`);
//! - [`dicom`]: parsing, Orthanc identifiers, main tags, tag JSON;
//! - [`config`]: the Orthanc-style JSON configuration.
//!
//! [`run`] starts a node from a configuration and listeners handed in by the
//! caller, so tests start nodes in-process on port 0.

pub mod blob;
pub mod config;
pub mod dicom;
pub mod dimse;
pub mod http;
pub mod index;
pub mod logging;
pub mod service;
pub mod synth;

use std::future::Future;
use std::sync::Arc;

use config::Config;
use tokio::net::TcpListener;

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot bind {what}: {source}")]
    Bind { what: &'static str, source: std::io::Error },
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Blob(#[from] blob::BlobError),
    #[error("invalid configuration: {0}")]
    Config(#[from] service::ServiceError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// The sockets a node serves on, bound before [`run`] so that callers (tests)
/// can bind port 0 and learn the port.
pub struct Listeners {
    pub http: TcpListener,
    /// The DICOM (DIMSE) port, `DicomPort`.
    pub dicom: TcpListener,
}

impl Listeners {
    /// Binds the ports named by the configuration.
    pub async fn bind(config: &Config) -> Result<Listeners, RunError> {
        let http = TcpListener::bind((config.http_bind, config.http_port))
            .await
            .map_err(|source| RunError::Bind { what: "the HTTP port", source })?;
        let dicom = TcpListener::bind((config.http_bind, config.dicom_port))
            .await
            .map_err(|source| RunError::Bind { what: "the DICOM port", source })?;
        Ok(Listeners { http, dicom })
    }
}

/// Opens the archive described by `config` (index + blobs).
pub async fn open_archive(config: Arc<Config>) -> Result<service::Archive, RunError> {
    let index = index::Index::open_single(&config.index_directory.join("index")).await?;
    let blobs = blob::BlobStore::from_url(
        config.blobs.url.as_deref(),
        &config.storage_directory.join("blobs"),
        config.blobs.fsync,
    )?;
    Ok(service::Archive::new(index, blobs, config))
}

/// Runs a node until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let config = Arc::new(config);
    let archive = open_archive(config.clone()).await?;
    archive.seed_modalities().await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let lifecycle = {
        let archive = archive.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { archive.run_lifecycle(stop).await })
    };
    let dicom_addr = listeners.dicom.local_addr().map_err(RunError::Http)?;
    tracing::info!(addr = %dicom_addr, aet = %config.dicom_aet, "isengard is serving DICOM");
    let dicom = tokio::spawn(dimse::serve(archive.clone(), listeners.dicom, stop_rx.clone()));
    let addr = listeners.http.local_addr().map_err(RunError::Http)?;
    tracing::info!(%addr, name = %config.name, "isengard is serving the REST API");
    let app = http::router(archive.clone());
    let mut http_stop = stop_rx.clone();
    let server = axum::serve(
        listeners.http,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|stopped| *stopped).await;
    });
    let server = tokio::spawn(async move { server.await });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let served = server.await;
    let _ = dicom.await;
    let _ = lifecycle.await;
    archive.index().shutdown().await;
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RunError::Http(e)),
        Err(e) => Err(RunError::Http(std::io::Error::other(e))),
    }
}
