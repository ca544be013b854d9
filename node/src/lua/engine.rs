//! The interpreter thread: one Lua state on a dedicated OS thread, fed jobs
//! through a channel, so that script calls are serialized as in Orthanc.
//!
//! Every top-level job gets a deadline (`Isengard.LuaTimeout`), enforced by an
//! instruction-count hook: a script that loops forever is stopped with an
//! error. A call made while the thread is itself inside a script (a script's
//! `RestApiPost('/instances')` reaching `ReceivedInstanceFilter`) runs
//! re-entrantly on the same state instead of queueing behind itself.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::{mpsc, Arc, RwLock};
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, MultiValue, Value as LuaValue, VmState};
use serde_json::Value;

use super::{json, CALLBACKS};
use crate::service::hooks::ScriptError;

/// A unit of work for the interpreter thread.
pub(super) type Job = Box<dyn FnOnce(&Lua) + Send>;

/// Instructions between two checks of the deadline.
const HOOK_EVERY: u32 = 10_000;

thread_local! {
    /// The state of the interpreter thread, while it runs a job.
    static CURRENT: RefCell<Option<Lua>> = const { RefCell::new(None) };
}

/// What `print` wrote during the current top-level job.
pub(super) struct Printed(pub String);

/// When the current top-level job must stop.
struct Deadline(Cell<Option<Instant>>);

/// Names of the callbacks the script defines, refreshed after every job.
pub(super) type Defined = Arc<RwLock<HashSet<&'static str>>>;

/// The sending side of the interpreter thread.
#[derive(Clone)]
pub(super) struct Thread {
    jobs: mpsc::Sender<Job>,
    pub defined: Defined,
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Thread {
    /// Starts the thread; `setup` runs first on it (registers functions, loads
    /// scripts) and its result is returned once it is done.
    pub fn start(
        timeout: Duration,
        setup: impl FnOnce(&Lua) -> Result<(), String> + Send + 'static,
    ) -> Result<(Thread, std::thread::JoinHandle<()>), String> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let defined: Defined = Arc::default();
        let (ready_tx, ready_rx) = mpsc::channel();
        let defined_in = defined.clone();
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping_in = stopping.clone();
        let handle = std::thread::Builder::new()
            .name("lua".into())
            .spawn(move || {
                let lua = Lua::new();
                lua.set_app_data(Printed(String::new()));
                lua.set_app_data(Deadline(Cell::new(None)));
                lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |lua, _| {
                    let expired = lua
                        .app_data_ref::<Deadline>()
                        .and_then(|d| d.0.get())
                        .is_some_and(|deadline| Instant::now() >= deadline);
                    if expired {
                        return Err(mlua::Error::runtime(format!(
                            "the Lua script was stopped after running for more than {} s (Isengard.LuaTimeout)",
                            timeout.as_secs()
                        )));
                    }
                    Ok(VmState::Continue)
                });
                let ready = run_job(&lua, timeout, |lua| setup(lua));
                refresh(&lua, &defined_in);
                let failed = ready.is_err();
                let _ = ready_tx.send(ready);
                if failed {
                    return;
                }
                while let Ok(job) = rx.recv() {
                    run_job(&lua, timeout, |lua| job(lua));
                    if stopping_in.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    refresh(&lua, &defined_in);
                }
                // Dropping the state drops what the functions hold (the archive).
            })
            .map_err(|e| format!("cannot start the Lua thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok((
                Thread {
                    jobs,
                    defined,
                    stopping,
                },
                handle,
            )),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => Err("the Lua thread stopped during its start".into()),
        }
    }

    /// Runs `f` on the interpreter: queued behind other jobs, or at once when
    /// called from the interpreter thread itself (re-entrant call).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Lua) -> T + Send + 'static,
    ) -> Result<T, ScriptError> {
        match self.submit(f) {
            Ok(result) => Ok(result),
            Err(rx) => rx?
                .await
                .map_err(|_| ScriptError("the Lua engine dropped the call".into())),
        }
    }

    /// The result at once (re-entrant call), or the receiver of a queued job.
    #[allow(clippy::type_complexity)]
    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Lua) -> T + Send + 'static,
    ) -> Result<T, Result<tokio::sync::oneshot::Receiver<T>, ScriptError>> {
        let current = CURRENT.with(|c| c.borrow().clone());
        if let Some(lua) = current {
            return Ok(f(&lua));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |lua| {
            let _ = tx.send(f(lua));
        });
        match self.jobs.send(job) {
            Ok(()) => Err(Ok(rx)),
            Err(_) => Err(Err(ScriptError("the Lua engine has stopped".into()))),
        }
    }

    /// Runs `last` as the final job, then ends the thread.
    pub fn stop(&self, last: impl FnOnce(&Lua) + Send + 'static) {
        let stopping = self.stopping.clone();
        self.spawn(move |lua| {
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            last(lua);
        });
    }

    /// Queues `f` without waiting for it.
    pub fn spawn(&self, f: impl FnOnce(&Lua) + Send + 'static) {
        if self.jobs.send(Box::new(f)).is_err() {
            tracing::warn!("the Lua engine has stopped: event dropped");
        }
    }
}

/// Runs one top-level job with its deadline, with `CURRENT` set for re-entrant calls.
fn run_job<T>(lua: &Lua, timeout: Duration, f: impl FnOnce(&Lua) -> T) -> T {
    if let Some(d) = lua.app_data_ref::<Deadline>() {
        d.0.set(Some(Instant::now() + timeout));
    }
    if let Some(mut p) = lua.app_data_mut::<Printed>() {
        p.0.clear();
    }
    CURRENT.with(|c| *c.borrow_mut() = Some(lua.clone()));
    let out = f(lua);
    CURRENT.with(|c| *c.borrow_mut() = None);
    if let Some(d) = lua.app_data_ref::<Deadline>() {
        d.0.set(None);
    }
    out
}

fn refresh(lua: &Lua, defined: &Defined) {
    let globals = lua.globals();
    let now: HashSet<&'static str> = CALLBACKS
        .iter()
        .copied()
        .filter(|name| {
            matches!(
                globals.raw_get::<LuaValue>(*name),
                Ok(LuaValue::Function(_))
            )
        })
        .collect();
    if let Ok(mut d) = defined.write() {
        *d = now;
    }
}

/// A script error as one readable line: the Lua message with its chunk and
/// line, without mlua's wrapping and traceback.
pub(super) fn describe(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => return describe(cause),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(message) => message.clone(),
        mlua::Error::WithContext { cause, .. } => return describe(cause),
        other => other.to_string(),
    };
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Calls the global function `name` with JSON arguments; `Ok(None)` when the
/// script does not define it.
pub(super) fn call(lua: &Lua, name: &str, args: &[Value]) -> Result<Option<LuaValue>, ScriptError> {
    let function = match lua.globals().raw_get::<LuaValue>(name) {
        Ok(LuaValue::Function(f)) => f,
        _ => return Ok(None),
    };
    let mut values = MultiValue::new();
    for arg in args {
        values.push_back(json::to_lua(lua, arg).map_err(|e| ScriptError(describe(&e)))?);
    }
    match function.call::<MultiValue>(values) {
        Ok(mut out) => Ok(Some(out.pop_front().unwrap_or(LuaValue::Nil))),
        Err(e) => {
            let message = describe(&e);
            tracing::error!(callback = name, error = %message, "Lua error");
            Err(ScriptError(message))
        }
    }
}

/// Runs a chunk named `name` (`@path` for files: errors then read `path:line:`).
pub(super) fn exec(lua: &Lua, source: &[u8], name: &str) -> Result<String, ScriptError> {
    let result = lua.load(source).set_name(name).exec();
    let printed = lua
        .app_data_mut::<Printed>()
        .map(|mut p| std::mem::take(&mut p.0))
        .unwrap_or_default();
    match result {
        Ok(()) => Ok(printed),
        Err(e) => Err(ScriptError(describe(&e))),
    }
}
