//! Script hooks: the seam through which a scripting layer (Lua, `crate::lua`)
//! takes part in the use cases without `service` depending on it. The archive
//! holds at most one [`ScriptHooks`], installed once at start.
//!
//! Arguments travel as JSON values in Orthanc's shapes (simplified tags,
//! metadata by name, the `origin` table), so the implementation only converts.

use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};

use super::Origin;

pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a script call failed (the script's own error message, with its line).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ScriptError(pub String);

/// What a scripting layer provides. Every method is cheap when the script does
/// not define the matching callback (see [`ScriptHooks::defines`]).
pub trait ScriptHooks: Send + Sync + 'static {
    /// Whether the script currently defines the global function `name`.
    fn defines(&self, name: &str) -> bool;

    /// `ReceivedInstanceFilter(dicom, origin, info)`: `Ok(false)` refuses the
    /// instance. Called before anything is stored.
    fn filter_instance(
        &self,
        tags: Value,
        origin: Value,
        info: Value,
    ) -> HookFuture<'_, Result<bool, ScriptError>>;

    /// `OnStoredInstance(instanceId, tags, metadata, origin)`: queued, never
    /// awaited by the ingest.
    fn stored_instance(&self, id: String, tags: Value, metadata: Value, origin: Value);

    /// `IncomingHttpRequestFilter(method, uri, ip, username, headers)`.
    fn filter_http_request(
        &self,
        method: String,
        uri: String,
        ip: String,
        username: String,
        headers: Value,
    ) -> HookFuture<'_, Result<bool, ScriptError>>;

    /// `IncomingFindRequestFilter(query, origin)`: the query (tags as
    /// `gggg,eeee` keys), possibly modified; `None` when the callback is absent.
    fn filter_incoming_find(
        &self,
        query: Value,
        origin: Value,
    ) -> HookFuture<'_, Result<Option<Value>, ScriptError>>;

    /// `OutgoingFindRequestFilter(query, modality)`, same shapes.
    fn filter_outgoing_find(
        &self,
        query: Value,
        modality: Value,
    ) -> HookFuture<'_, Result<Option<Value>, ScriptError>>;

    /// Runs a chunk of source in the scripts' state; the answer is what it printed.
    fn execute(&self, source: String) -> HookFuture<'_, Result<String, ScriptError>>;
}

/// Orthanc's `origin` table (`DicomInstanceOrigin::Format`).
pub fn origin_json(origin: &Origin) -> Value {
    match origin.kind {
        "RestApi" => json!({
            "RequestOrigin": "RestApi",
            "RemoteIp": origin.remote_ip,
            "Username": origin.http_username,
        }),
        "DicomProtocol" => json!({
            "RequestOrigin": "DicomProtocol",
            "RemoteIp": origin.remote_ip,
            "RemoteAet": origin.remote_aet,
            "CalledAet": origin.called_aet,
        }),
        kind => json!({ "RequestOrigin": kind }),
    }
}
