//! Logging through `tracing`, with levels changeable at run time as Orthanc's
//! `/tools/log-level` and `/tools/log-level-{category}` do (`default`,
//! `verbose`, `trace`). A category is a set of `tracing` targets; `generic`
//! is everything no other category claims.

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

type Handle = reload::Handle<EnvFilter, Registry>;

static HANDLE: OnceLock<Handle> = OnceLock::new();
static LEVELS: Mutex<[&'static str; 7]> = Mutex::new(["default"; 7]);

/// Orthanc's log categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Generic,
    Http,
    Dicom,
    Lua,
    Jobs,
    Plugins,
    Sqlite,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Generic,
        Category::Http,
        Category::Dicom,
        Category::Lua,
        Category::Jobs,
        Category::Plugins,
        Category::Sqlite,
    ];

    /// Orthanc's name (`/tools/log-level-{name}`).
    pub fn name(self) -> &'static str {
        match self {
            Category::Generic => "generic",
            Category::Http => "http",
            Category::Dicom => "dicom",
            Category::Lua => "lua",
            Category::Jobs => "jobs",
            Category::Plugins => "plugins",
            Category::Sqlite => "sqlite",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The `tracing` targets of the category. Isengard loads no plugins and
    /// has no SQLite: those two categories own no target.
    fn targets(self) -> &'static [&'static str] {
        match self {
            Category::Generic | Category::Plugins | Category::Sqlite => &[],
            Category::Http => &["isengard::http", "tower_http", "hyper"],
            Category::Dicom => &["isengard::dimse", "isengard_dimse", "dicom_ul"],
            Category::Lua => &["isengard::lua", "lua"],
            Category::Jobs => &["isengard::service::jobs"],
        }
    }

    fn index(self) -> usize {
        Category::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

fn directive(level: &str) -> &'static str {
    match level {
        "verbose" => "debug",
        "trace" => "trace",
        _ => "info",
    }
}

fn filter_for(levels: &[&'static str; 7]) -> Option<EnvFilter> {
    let generic = levels[Category::Generic.index()];
    // openraft's per-election chatter stays one level quieter than ours.
    let mut spec = match generic {
        "verbose" => "debug,openraft=info".to_owned(),
        "trace" => "trace".to_owned(),
        _ => "info,openraft=warn".to_owned(),
    };
    for category in Category::ALL {
        let level = levels[category.index()];
        if category != Category::Generic && level != generic {
            for target in category.targets() {
                spec.push_str(&format!(",{target}={}", directive(level)));
            }
        }
    }
    EnvFilter::try_new(spec).ok()
}

/// Installs the global subscriber (stdout) with every category at `default`,
/// `verbose` or `trace`. At `default`, `RUST_LOG` applies when set.
pub fn init(level: &str) {
    let level = canonical(level).unwrap_or("default");
    let from_env = (level == "default")
        .then(|| std::env::var("RUST_LOG").ok())
        .flatten();
    let levels = [level; 7];
    let filter = from_env
        .as_deref()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .or_else(|| filter_for(&levels))
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
        if let Ok(mut l) = LEVELS.lock() {
            *l = levels;
        }
    }
}

fn canonical(level: &str) -> Option<&'static str> {
    ["default", "verbose", "trace"]
        .into_iter()
        .find(|l| *l == level)
}

/// The global level, as Orthanc reports it: the most verbose of the categories.
pub fn level() -> &'static str {
    let levels = LEVELS.lock().map(|l| *l).unwrap_or(["default"; 7]);
    ["trace", "verbose"]
        .into_iter()
        .find(|l| levels.contains(l))
        .unwrap_or("default")
}

/// The level of one category.
pub fn category_level(category: Category) -> &'static str {
    LEVELS
        .lock()
        .map(|l| l[category.index()])
        .unwrap_or("default")
}

const ACCEPTED: &str = "the log level must be default, verbose or trace";

fn install(update: impl FnOnce(&mut [&'static str; 7])) -> Result<(), &'static str> {
    let mut levels = LEVELS.lock().map_err(|_| "the logger is poisoned")?;
    update(&mut levels);
    let filter = filter_for(&levels).ok_or(ACCEPTED)?;
    if let Some(handle) = HANDLE.get() {
        handle
            .reload(filter)
            .map_err(|_| "the logger cannot be reconfigured")?;
    }
    Ok(())
}

/// Changes the level of every category; `Err` names the accepted values.
pub fn set_level(level: &str) -> Result<(), &'static str> {
    let canonical = canonical(level).ok_or(ACCEPTED)?;
    install(|levels| *levels = [canonical; 7])
}

/// Changes the level of one category.
pub fn set_category_level(category: Category, level: &str) -> Result<(), &'static str> {
    let canonical = canonical(level).ok_or(ACCEPTED)?;
    install(|levels| levels[category.index()] = canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_category_adds_directives_for_its_targets_only() {
        let mut levels = ["default"; 7];
        levels[Category::Http.index()] = "verbose";
        let spec = filter_for(&levels).unwrap().to_string();
        assert!(spec.contains("isengard::http=debug"), "{spec}");
        assert!(!spec.contains("isengard::dimse"), "{spec}");
        assert_eq!(Category::from_name("sqlite"), Some(Category::Sqlite));
        assert_eq!(Category::from_name("nope"), None);
    }
}
