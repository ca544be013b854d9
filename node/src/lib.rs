//! Isengard: an Orthanc-compatible DICOM archive whose index is a Raft-replicated
//! state machine on RocksDB and whose files are content-addressed blobs.
//!
//! Layers, data flowing one way:
//! - edges: [`http`] (Orthanc REST API) and [`dimse`] (DICOM network: SCP and SCU);
//! - [`service`]: protocol-neutral use cases (ingest, read, find, delete, lifecycle);
//! - [`index`] (Raft log + state machine on RocksDB, secondary indexes, queries)
//!   and [`blob`] (content-addressed store over `object_store`);
//! - [`dicom`]: parsing, Orthanc identifiers, main tags, tag JSON;
//! - [`config`]: the Orthanc-style JSON configuration;
//! - [`cli`]: command-line clients of a node's REST API (`isengard cluster ...`).
//! - [`lua`]: Orthanc's Lua scripting (callbacks, REST from scripts), plugged
//!   into the use cases through `service::hooks`.
//! - [`memory`]: the process's heap (malloc arenas, giving memory back when idle).
//!
//! [`run`] starts a node from a configuration and listeners handed in by the
//! caller, so tests start nodes in-process on port 0.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod dimse;
pub mod http;
pub mod logging;
pub mod lua;
pub mod memory;
pub mod service;

pub use isengard_blob as blob;
pub use isengard_dicom as dicom;
pub use isengard_index as index;

use std::future::Future;
use std::sync::Arc;

use config::Config;
use tokio::net::TcpListener;

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot bind {what}: {source}")]
    Bind {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Index(#[from] index::IndexError),
    #[error(transparent)]
    Blob(#[from] blob::BlobError),
    #[error("invalid configuration: {0}")]
    Config(#[from] service::ServiceError),
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error(transparent)]
    Lua(#[from] lua::LuaError),
}

/// The sockets a node serves on, bound before [`run`] so that callers (tests)
/// can bind port 0 and learn the port.
pub struct Listeners {
    pub http: TcpListener,
    /// The DICOM (DIMSE) port, `DicomPort`.
    pub dicom: TcpListener,
    /// The node-to-node gRPC port (cluster only); `None` with a cluster
    /// configuration: [`run`] binds `GrpcListen` itself.
    pub grpc: Option<TcpListener>,
}

impl Listeners {
    /// Binds the ports named by the configuration.
    pub async fn bind(config: &Config) -> Result<Listeners, RunError> {
        let http = TcpListener::bind((config.http_bind, config.http_port))
            .await
            .map_err(|source| RunError::Bind {
                what: "the HTTP port",
                source,
            })?;
        let dicom = TcpListener::bind((config.http_bind, config.dicom_port))
            .await
            .map_err(|source| RunError::Bind {
                what: "the DICOM port",
                source,
            })?;
        let grpc = match &config.cluster {
            None => None,
            Some(cluster) => Some(bind_grpc(cluster.grpc_listen).await?),
        };
        Ok(Listeners { http, dicom, grpc })
    }
}

async fn bind_grpc(addr: std::net::SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind {
            what: "the cluster gRPC port",
            source,
        })
}

/// What [`run`] wires together: the Raft node, the blob store, and the use
/// cases over both.
pub struct Opened {
    pub node: cluster::Node,
    pub blobs: blob::BlobStore,
    pub archive: service::Archive,
}

/// Opens the archive described by `config` (index + blobs).
pub async fn open_archive(config: Arc<Config>) -> Result<Opened, RunError> {
    let dir = config.index_directory.join("index");
    let node = match &config.cluster {
        None => cluster::Node::open_single(&dir).await?,
        Some(cluster) => cluster::Node::open_cluster(&dir, cluster).await?,
    };
    let blobs = blob::BlobStore::from_url(
        config.blobs.url.as_deref(),
        &config.storage_directory.join("blobs"),
        config.blobs.fsync,
    )?;
    let archive = service::Archive::new(node.clone(), blobs.clone(), config);
    Ok(Opened {
        node,
        blobs,
        archive,
    })
}

/// Serves the node-to-node gRPC (`Raft` service, and `Blobs` in the
/// replicated blob mode) until `stop` turns true.
fn serve_grpc(
    opened: &Opened,
    listener: TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, RunError> {
    let addr = listener.local_addr().map_err(RunError::Http)?;
    let node = opened.node.node_id();
    tracing::info!(%addr, node, "isengard is serving the cluster gRPC");
    let service = cluster::RaftService::new(opened.node.raft().clone()).into_server();
    let blobs = opened
        .archive
        .replicated()
        .then(|| cluster::BlobService::new(opened.blobs.clone()).into_server());
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    Ok(tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .add_service(service)
            .add_optional_service(blobs)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "cluster gRPC server failed");
        }
    }))
}

/// Starts the Lua engine when the configuration asks for it, installs it as
/// the archive's script hooks and spawns its once-in-the-cluster loop.
async fn start_lua(
    archive: &service::Archive,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<Option<(lua::LuaEngine, tokio::task::JoinHandle<()>)>, RunError> {
    if !lua::LuaEngine::wanted(archive.config()) {
        return Ok(None);
    }
    let rest_api = http::internal_router(archive.clone());
    let engine = lua::LuaEngine::start(archive.clone(), rest_api).await?;
    archive.install_hooks(Arc::new(engine.clone()));
    let task = tokio::spawn(lua::run_once_in_cluster(
        engine.clone(),
        archive.clone(),
        stop.clone(),
    ));
    Ok(Some((engine, task)))
}

/// Runs a node until `shutdown` completes (then answers [`service::Stop::Shutdown`])
/// or a stop is requested over the API (`/tools/shutdown`, `/tools/reset`).
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<service::Stop, RunError> {
    let config = Arc::new(config);
    let opened = open_archive(config.clone()).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grpc = match &config.cluster {
        None => None,
        Some(cluster) => {
            let listener = match listeners.grpc {
                Some(listener) => listener,
                None => bind_grpc(cluster.grpc_listen).await?,
            };
            Some(serve_grpc(&opened, listener, stop_rx.clone())?)
        }
    };
    let Opened { node, archive, .. } = opened;
    if grpc.is_none() {
        archive.seed_modalities().await?;
        archive.seed_peers().await?;
    } else {
        // A cluster member can only write once a leader exists.
        let (archive, node) = (archive.clone(), node.clone());
        tokio::spawn(async move {
            let seeded = match node.wait_for_leader().await {
                Ok(()) => match archive.seed_modalities().await {
                    Ok(_) => archive.seed_peers().await.map(|_| ()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e.into()),
            };
            if let Err(e) = seeded {
                tracing::warn!(error = %e, "cannot seed the configured modalities and peers");
            }
        });
    }
    let settings = {
        let archive = archive.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { archive.follow_settings(stop).await })
    };
    let scripting = match start_lua(&archive, &stop_rx).await {
        Ok(s) => s,
        Err(e) => {
            node.shutdown().await;
            return Err(e);
        }
    };
    let lifecycle = {
        let archive = archive.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { archive.run_lifecycle(stop).await })
    };
    let dicom_addr = listeners.dicom.local_addr().map_err(RunError::Http)?;
    tracing::info!(addr = %dicom_addr, aet = %config.dicom_aet, "isengard is serving DICOM");
    let dicom = tokio::spawn(dimse::serve(
        archive.clone(),
        listeners.dicom,
        stop_rx.clone(),
    ));
    let addr = listeners.http.local_addr().map_err(RunError::Http)?;
    tracing::info!(%addr, name = %config.name, "isengard is serving the REST API");
    let app = http::service(archive.clone());
    let mut http_stop = stop_rx.clone();
    // Orthanc's `TcpNoDelay` (true by default): without it the last segment
    // of an answer can wait for the client's delayed ACK.
    let no_delay = config.tcp_no_delay;
    let http_listener = axum::serve::ListenerExt::tap_io(listeners.http, move |tcp| {
        if let Err(e) = tcp.set_nodelay(no_delay) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a REST connection");
        }
    });
    let server = axum::serve(
        http_listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
            std::net::SocketAddr,
        >(app),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|stopped| *stopped).await;
    });
    let server = tokio::spawn(async move { server.await });
    let stop = tokio::select! {
        _ = shutdown => service::Stop::Shutdown,
        stop = archive.stop_requested() => stop,
    };
    tracing::info!(?stop, "shutting down");
    let _ = stop_tx.send(true);
    let served = server.await;
    let _ = dicom.await;
    let _ = lifecycle.await;
    let _ = settings.await;
    if let Some((engine, task)) = scripting {
        let _ = task.await;
        engine.shutdown().await;
    }
    node.shutdown().await;
    if let Some(grpc) = grpc {
        let _ = grpc.await;
    }
    match served {
        Ok(Ok(())) => Ok(stop),
        Ok(Err(e)) => Err(RunError::Http(e)),
        Err(e) => Err(RunError::Http(std::io::Error::other(e))),
    }
}
