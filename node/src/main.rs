//! The `isengard` binary: parse the command line, initialize tracing, load the
//! configuration, bind the listeners and hand everything to [`isengard::run`].
//! `isengard cluster ...` instead runs a REST client ([`isengard::cli`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use isengard::config::{is_orthanc_unimplemented, unimplemented_reason, Config};
use tracing::{error, info, warn};

/// Isengard, an Orthanc-compatible DICOM archive.
#[derive(Debug, Parser)]
#[command(name = "isengard", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Orthanc-style configuration file, or a directory whose *.json files are merged.
    /// Without one, the defaults apply (see docs/configuration.md).
    #[arg(value_name = "CONFIG.json|DIR", conflicts_with = "config")]
    config_path: Option<PathBuf>,
    /// Same as the positional argument.
    #[arg(long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log at debug level (instead of info); overrides RUST_LOG.
    #[arg(long)]
    verbose: bool,
    /// Log at trace level; overrides RUST_LOG and --verbose.
    #[arg(long)]
    trace: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show, add or remove the members of a cluster (through a node's REST API).
    Cluster(isengard::cli::cluster::ClusterArgs),
}

fn main() -> ExitCode {
    // Before any thread starts: glibc creates its arenas as threads need them.
    isengard::memory::limit_arenas();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(async_main()),
        Err(e) => {
            eprintln!("isengard: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Cluster(args)) = cli.command {
        return match isengard::cli::cluster::run(args).await {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("isengard cluster: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_tracing(&cli);

    let path = cli.config.or(cli.config_path);
    isengard::memory::spawn_idle_trim();
    // `/tools/reset` stops the node and starts it again on the configuration
    // read anew, as Orthanc restarts its server.
    let mut shutdown = Box::pin(shutdown_signal());
    loop {
        let config = match Config::load(path.as_deref()) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("isengard: configuration error: {e}");
                return ExitCode::from(2);
            }
        };
        match serve(config, shutdown.as_mut()).await {
            Ok(isengard::service::Stop::Reset) => info!("restarting on the configuration read anew"),
            Ok(isengard::service::Stop::Shutdown) => {
                info!("stopped");
                return ExitCode::SUCCESS;
            }
            Err(code) => return code,
        }
    }
}

/// Binds the configured ports and runs the node until it stops.
async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<isengard::service::Stop, ExitCode> {
    log_unsupported_keys(&config);

    let listeners = match isengard::Listeners::bind(&config).await {
        Ok(listeners) => listeners,
        Err(e) => {
            error!(bind = %config.http_bind, http_port = config.http_port, dicom_port = config.dicom_port, error = %e, "cannot bind");
            return Err(ExitCode::FAILURE);
        }
    };
    info!(
        name = %config.name,
        http = %listeners.http.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        dicom = %listeners.dicom.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        aet = %config.dicom_aet,
        storage = %config.storage_directory.display(),
        blobs = %config.blob_location(),
        "starting isengard {}",
        env!("CARGO_PKG_VERSION"),
    );
    isengard::run(config, listeners, shutdown).await.map_err(|e| {
        error!(error = %e, "node failed");
        ExitCode::FAILURE
    })
}

/// Logs to stdout at the level the flags choose (see [`isengard::logging`]).
fn init_tracing(cli: &Cli) {
    let level = if cli.trace {
        "trace"
    } else if cli.verbose {
        "verbose"
    } else {
        "default"
    };
    isengard::logging::init(level);
}

/// One warning per Orthanc option that is not implemented, with the reason;
/// one for unknown keys.
fn log_unsupported_keys(config: &Config) {
    let (orthanc, unknown): (Vec<&str>, Vec<&str>) = config
        .unsupported_keys
        .iter()
        .map(String::as_str)
        .partition(|key| is_orthanc_unimplemented(key));
    for key in orthanc {
        let reason = unimplemented_reason(key);
        warn!(key, reason, "orthanc option accepted but not supported: it has no effect");
    }
    if !unknown.is_empty() {
        warn!(keys = ?unknown, "unknown configuration keys ignored");
    }
}

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    info!("shutdown requested");
}
