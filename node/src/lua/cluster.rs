//! The callbacks that run once in the cluster: `OnStableSeries`,
//! `OnStableStudy`, `OnStablePatient` and `OnHeartBeat`, on the leader only.
//!
//! Stable events come from the replicated change log (`StableSeries`...
//! changes, written when `MarkStable` applies). A replicated cursor
//! (`Command::LuaCursor`, in the state machine) records the last change whose
//! callback has run: the leader reads the changes after it in order, calls
//! the callback, then commits the new cursor; a new leader continues from the
//! committed cursor. A leader that dies between a callback and the commit of
//! its cursor leaves that one event to be called again by the next leader
//! (docs/lua.md).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use super::LuaEngine;
use crate::index::ChangeType;
use crate::service::hooks::ScriptHooks;
use crate::service::{Archive, Result, ServiceError};

/// Changes read per pass.
const BATCH: usize = 100;

/// Without stable callbacks, the cursor follows the log every few seconds.
fn cursor_due() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = crate::service::now_stamp().unix_ms;
    if now.saturating_sub(LAST.load(Ordering::Relaxed)) >= 5_000 {
        LAST.store(now, Ordering::Relaxed);
        return true;
    }
    false
}

fn callback_of(change: ChangeType) -> Option<&'static str> {
    match change {
        ChangeType::StableSeries => Some("OnStableSeries"),
        ChangeType::StableStudy => Some("OnStableStudy"),
        ChangeType::StablePatient => Some("OnStablePatient"),
        _ => None,
    }
}

/// Runs the stable-event and heartbeat loops until `stop` flips.
pub async fn run_once_in_cluster(
    engine: LuaEngine,
    archive: Archive,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let period = archive.config().lua.heartbeat_period;
    let mut last_beat = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        if !archive.is_leader() {
            continue;
        }
        if let Err(e) = stable_pass(&engine, &archive).await {
            tracing::warn!(error = %e, "Lua stable-event pass failed");
        }
        if period > 0 && last_beat.elapsed() >= Duration::from_secs(period) {
            last_beat = Instant::now();
            if engine.defines("OnHeartBeat") {
                let _ = engine.call("OnHeartBeat", Vec::new()).await;
            }
        }
    }
}

/// One pass over the changes after the cursor. Returns how many callbacks ran.
pub(super) async fn stable_pass(engine: &LuaEngine, archive: &Archive) -> Result<usize> {
    let Some(cursor) = archive.lua_cursor()? else {
        // First start with Lua: history before it is not replayed.
        archive.save_lua_cursor(archive.last_change_seq()?).await?;
        return Ok(0);
    };
    let (batch, _, _) = archive.changes(cursor, BATCH)?;
    let any_callback = ["OnStableSeries", "OnStableStudy", "OnStablePatient"]
        .iter()
        .any(|n| engine.defines(n));
    if !any_callback && batch.len() < BATCH && !cursor_due() {
        // Nothing to call: move the cursor now and then, not on every pass.
        return Ok(0);
    }
    let mut committed = cursor;
    let mut last = cursor;
    let mut called = 0;
    for change in batch {
        if !archive.is_leader() {
            break;
        }
        last = change.seq;
        let Some(name) = callback_of(change.change_type) else {
            continue;
        };
        if !engine.defines(name) {
            continue;
        }
        // As Orthanc: a resource deleted since it became stable is skipped.
        let resource = match archive.resource(&change.id) {
            Ok(resource) => resource,
            Err(ServiceError::UnknownResource(_)) => continue,
            Err(e) => return Err(e),
        };
        let tags: serde_json::Map<String, Value> = resource
            .main_tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let mut metadata: serde_json::Map<String, Value> = resource
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        metadata.insert(
            "LastUpdate".into(),
            Value::from(resource.last_update.as_str()),
        );
        let args = vec![
            Value::String(change.id.clone()),
            Value::Object(tags),
            Value::Object(metadata),
        ];
        if let Err(e) = engine.call(name, args).await {
            tracing::warn!(callback = name, id = %change.id, error = %e, "Lua callback failed");
        }
        called += 1;
        archive.save_lua_cursor(change.seq).await?;
        committed = change.seq;
    }
    if last > committed {
        archive.save_lua_cursor(last).await?;
    }
    Ok(called)
}
