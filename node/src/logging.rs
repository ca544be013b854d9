//! Logging through `tracing`, with the level changeable at run time as
//! Orthanc's `/tools/log-level` does (`default`, `verbose`, `trace`).

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

type Handle = reload::Handle<EnvFilter, Registry>;

static HANDLE: OnceLock<Handle> = OnceLock::new();
static LEVEL: Mutex<&'static str> = Mutex::new("default");

fn filter_for(level: &str) -> Option<EnvFilter> {
    // openraft's per-election chatter stays one level quieter than ours.
    let spec = match level {
        "default" => "info,openraft=warn",
        "verbose" => "debug,openraft=info",
        "trace" => "trace",
        _ => return None,
    };
    EnvFilter::try_new(spec).ok()
}

/// Installs the global subscriber (stdout) at `default`, `verbose` or `trace`.
/// At `default`, `RUST_LOG` applies when set.
pub fn init(level: &str) {
    let from_env = (level == "default")
        .then(|| std::env::var("RUST_LOG").ok())
        .flatten()
        .and_then(|spec| EnvFilter::try_new(spec).ok());
    let filter = from_env
        .or_else(|| filter_for(level))
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (layer, handle) = reload::Layer::new(filter);
    // Colours only on a terminal, not in log files or CI output.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_ansi(ansi);
    if tracing_subscriber::registry()
        .with(layer)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set(handle);
        if let Ok(mut l) = LEVEL.lock() {
            *l = canonical(level).unwrap_or("default");
        }
    }
}

fn canonical(level: &str) -> Option<&'static str> {
    ["default", "verbose", "trace"]
        .into_iter()
        .find(|l| *l == level)
}

/// The current level name.
pub fn level() -> &'static str {
    LEVEL.lock().map(|l| *l).unwrap_or("default")
}

/// Changes the level; `Err` names the accepted values.
pub fn set_level(level: &str) -> Result<(), &'static str> {
    const ACCEPTED: &str = "the log level must be default, verbose or trace";
    let canonical = canonical(level).ok_or(ACCEPTED)?;
    let filter = filter_for(canonical).ok_or(ACCEPTED)?;
    if let Some(handle) = HANDLE.get() {
        handle
            .reload(filter)
            .map_err(|_| "the logger cannot be reconfigured")?;
    }
    if let Ok(mut l) = LEVEL.lock() {
        *l = canonical;
    }
    Ok(())
}
