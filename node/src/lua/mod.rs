//! Lua scripting as Orthanc users write it (docs/lua.md): one interpreter
//! (mlua, vendored Lua 5.4) on its own thread, the configured `LuaScripts`
//! loaded in order at start, Orthanc's callbacks and functions.
//!
//! - [`engine`]: the interpreter thread, the runaway-script deadline, calls;
//! - [`functions`]: `print`, `PrintRecursive`, `ParseJson`, `DumpJson`, ...;
//! - [`rest`]: `RestApi*` (in-process), `Http*`, `Delete`, `SendToModality`, `SendToPeer`,
//!   `ModifyInstance`;
//! - [`json`]: JSON ⇄ Lua conversion;
//! - [`cluster`]: `OnStable*` and `OnHeartBeat`, once in the cluster (leader,
//!   replicated cursor over the change log).
//!
//! [`LuaEngine`] implements `service::hooks::ScriptHooks`, so the use cases
//! call scripts without depending on this module.

mod cluster;
mod engine;
mod functions;
mod json;
mod rest;

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlua::Value as LuaValue;
use serde_json::Value;

use crate::service::hooks::{HookFuture, ScriptError, ScriptHooks};
use crate::service::Archive;

pub use cluster::run_once_in_cluster;

/// Every callback Isengard calls (`OnJob*` exist in Orthanc but Isengard has
/// no jobs, so they are never called).
pub const CALLBACKS: &[&str] = &[
    "Initialize",
    "Finalize",
    "OnStoredInstance",
    "OnStablePatient",
    "OnStableStudy",
    "OnStableSeries",
    "OnHeartBeat",
    "ReceivedInstanceFilter",
    "IncomingHttpRequestFilter",
    "IncomingFindRequestFilter",
    "OutgoingFindRequestFilter",
];

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum LuaError {
    #[error("cannot read the Lua script {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("error in the Lua script {}: {message}", path.display())]
    Script { path: PathBuf, message: String },
    #[error("Lua engine: {0}")]
    Engine(String),
}

/// The node's Lua interpreter. Cheap to clone.
#[derive(Clone)]
pub struct LuaEngine {
    thread: engine::Thread,
    join: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl LuaEngine {
    /// Starts the interpreter: registers Orthanc's functions, loads
    /// `LuaScripts` in order (a missing file or an error is a start error
    /// naming the file and line), then calls `Initialize()`. `rest_api` is
    /// the REST API that `RestApiGet` and its siblings call in-process, as in
    /// Orthanc (handed in by `isengard::run`, so this edge does not import
    /// the HTTP one).
    pub async fn start(archive: Archive, rest_api: axum::Router) -> Result<LuaEngine, LuaError> {
        let runtime = tokio::runtime::Handle::current();
        let config = archive.config().lua.clone();
        let mut scripts = Vec::new();
        for path in &config.scripts {
            let source = std::fs::read(path).map_err(|source| LuaError::Read {
                path: path.clone(),
                source,
            })?;
            scripts.push((path.clone(), source));
        }
        let document = archive.config().document().clone();
        let router = rest_api;
        let setup = move |lua: &mlua::Lua| -> Result<(), String> {
            let ctx = rest::Ctx {
                archive,
                router,
                runtime,
                http: reqwest::Client::new(),
            };
            functions::register(lua, document)
                .map_err(|e| format!("\u{0}{}", engine::describe(&e)))?;
            rest::register(lua, Rc::new(ctx))
                .map_err(|e| format!("\u{0}{}", engine::describe(&e)))?;
            for (path, source) in scripts {
                tracing::info!(path = %path.display(), "installing the Lua script");
                engine::exec(lua, &source, &format!("@{}", path.display()))
                    .map_err(|e| format!("{}\u{0}{}", path.display(), e.0))?;
            }
            if let Err(e) = engine::call(lua, "Initialize", &[]) {
                tracing::error!(error = %e, "Initialize() failed");
            }
            Ok(())
        };
        let timeout = Duration::from_secs(config.timeout_secs);
        // Off the runtime's threads: a script may call the REST API while loading.
        let started = tokio::task::spawn_blocking(move || engine::Thread::start(timeout, setup))
            .await
            .map_err(|e| LuaError::Engine(e.to_string()))?;
        let (thread, join) = started.map_err(|e| match e.split_once('\u{0}') {
            Some(("", message)) => LuaError::Engine(message.to_owned()),
            Some((path, message)) => LuaError::Script {
                path: path.into(),
                message: message.to_owned(),
            },
            None => LuaError::Engine(e),
        })?;
        Ok(LuaEngine {
            thread,
            join: Arc::new(Mutex::new(Some(join))),
        })
    }

    /// Calls `Finalize()`, stops the interpreter thread and waits for it (the
    /// state holds the archive, which must be released before the node stops).
    pub async fn shutdown(&self) {
        self.thread.stop(|lua| {
            let _ = engine::call(lua, "Finalize", &[]);
        });
        let join = self.join.lock().ok().and_then(|mut j| j.take());
        if let Some(join) = join {
            let _ = tokio::task::spawn_blocking(move || join.join()).await;
        }
    }

    /// Whether Lua is configured at all (scripts, or `/tools/execute-script`).
    pub fn wanted(config: &crate::config::Config) -> bool {
        !config.lua.scripts.is_empty() || config.lua.execute_enabled
    }

    /// Calls a callback with JSON arguments; `Ok(None)` if it is not defined.
    async fn call(
        &self,
        name: &'static str,
        args: Vec<Value>,
    ) -> Result<Option<Value>, ScriptError> {
        self.thread
            .run(move |lua| {
                let out = engine::call(lua, name, &args)?;
                out.map(|v| json::from_lua(&v, true).map_err(|e| ScriptError(engine::describe(&e))))
                    .transpose()
            })
            .await?
    }

    /// Calls a predicate callback: a boolean answer, `true` when undefined.
    async fn predicate(&self, name: &'static str, args: Vec<Value>) -> Result<bool, ScriptError> {
        self.thread
            .run(move |lua| match engine::call(lua, name, &args)? {
                None => Ok(true),
                Some(LuaValue::Boolean(b)) => Ok(b),
                Some(other) => Err(ScriptError(format!(
                    "{name} must return a boolean, not a {}",
                    other.type_name()
                ))),
            })
            .await?
    }

    /// Calls a query filter: the returned table, `None` when undefined.
    async fn query_filter(
        &self,
        name: &'static str,
        args: Vec<Value>,
    ) -> Result<Option<Value>, ScriptError> {
        match self.call(name, args).await? {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v)),
            Some(Value::Array(a)) if a.is_empty() => Ok(Some(Value::Object(Default::default()))),
            Some(other) => Err(ScriptError(format!(
                "{name} must return a table, not {other}"
            ))),
        }
    }
}

impl ScriptHooks for LuaEngine {
    fn defines(&self, name: &str) -> bool {
        self.thread.defined.read().is_ok_and(|d| d.contains(name))
    }

    fn filter_instance(
        &self,
        tags: Value,
        origin: Value,
        info: Value,
    ) -> HookFuture<'_, Result<bool, ScriptError>> {
        Box::pin(self.predicate("ReceivedInstanceFilter", vec![tags, origin, info]))
    }

    fn stored_instance(&self, id: String, tags: Value, metadata: Value, origin: Value) {
        self.thread.spawn(move |lua| {
            let _ = engine::call(
                lua,
                "OnStoredInstance",
                &[Value::String(id), tags, metadata, origin],
            );
        });
    }

    fn filter_http_request(
        &self,
        method: String,
        uri: String,
        ip: String,
        username: String,
        headers: Value,
    ) -> HookFuture<'_, Result<bool, ScriptError>> {
        let args = vec![
            method.into(),
            uri.into(),
            ip.into(),
            username.into(),
            headers,
        ];
        Box::pin(self.predicate("IncomingHttpRequestFilter", args))
    }

    fn filter_incoming_find(
        &self,
        query: Value,
        origin: Value,
    ) -> HookFuture<'_, Result<Option<Value>, ScriptError>> {
        Box::pin(self.query_filter("IncomingFindRequestFilter", vec![query, origin]))
    }

    fn filter_outgoing_find(
        &self,
        query: Value,
        modality: Value,
    ) -> HookFuture<'_, Result<Option<Value>, ScriptError>> {
        Box::pin(self.query_filter("OutgoingFindRequestFilter", vec![query, modality]))
    }

    fn execute(&self, source: String) -> HookFuture<'_, Result<String, ScriptError>> {
        Box::pin(async move {
            self.thread
                .run(move |lua| engine::exec(lua, source.as_bytes(), "line"))
                .await?
        })
    }
}
