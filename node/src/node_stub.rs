//! Placeholder for the node runtime, ONLY on the `config` branch so that `main.rs`
//! compiles: replaced at merge by the real `Listeners` and `run` in `lib.rs`.
//! `Listeners::bind` really binds; `run` refuses to start, it serves nothing.

use std::future::Future;

use crate::config::Config;

/// The sockets a node serves, bound by the caller (port 0 in tests).
pub struct Listeners {
    pub http: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds `http_bind:http_port`.
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let http = tokio::net::TcpListener::bind((config.http_bind, config.http_port)).await?;
        Ok(Listeners { http })
    }
}

/// Why the node stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("this build has no node runtime (config branch placeholder, replaced at merge)")]
    NotMerged,
}

/// Placeholder: fails at once instead of pretending to serve.
pub async fn run(
    _config: Config,
    _listeners: Listeners,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    Err(RunError::NotMerged)
}
