//! Functions that reach out of the interpreter: `RestApiGet/Post/Put/Delete`
//! (Isengard's own routes, in-process, without access control nor
//! `IncomingHttpRequestFilter`), `HttpGet/Post/Put/Delete` with
//! `SetHttpCredentials` and `SetHttpTimeout`, and the classic commands
//! `Delete`, `SendToModality`, `SendToPeer`, `ModifyInstance`.
//!
//! The interpreter thread is not a runtime thread: each call is spawned on the
//! node's runtime and the thread waits for its answer.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use mlua::{Lua, Table, Value as LuaValue};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::index::Peer;
use crate::index::Level;
use crate::service::modify::ModifyRequest;
use crate::service::send::SendOptions;
use crate::service::{Archive, Origin};

/// What the REST and HTTP functions need.
pub(super) struct Ctx {
    pub archive: Archive,
    pub router: axum::Router,
    pub runtime: tokio::runtime::Handle,
    pub http: reqwest::Client,
}

/// `SetHttpCredentials` / `SetHttpTimeout`, kept in the state.
#[derive(Default)]
struct HttpSettings {
    credentials: Option<(String, String)>,
    timeout: Option<Duration>,
}

/// Runs `fut` on the node's runtime and waits for it on this (non-runtime) thread.
fn wait<F>(runtime: &tokio::runtime::Handle, fut: F) -> mlua::Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| mlua::Error::runtime("the node is shutting down"))
}

/// One in-process REST call: `(status, body)`.
async fn rest(
    router: axum::Router,
    method: Method,
    uri: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
) -> Result<(u16, Vec<u8>), String> {
    let uri = if uri.starts_with('/') {
        uri
    } else {
        format!("/{uri}")
    };
    let mut request = Request::builder().method(method).uri(&uri);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let request = request
        .body(Body::from(body))
        .map_err(|e| format!("bad request to {uri}: {e}"))?;
    let response = router.oneshot(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

fn headers_of(table: Option<Table>) -> mlua::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(t) = table {
        for pair in t.pairs::<mlua::String, mlua::String>() {
            let (k, v) = pair?;
            out.push((
                k.to_string_lossy().to_ascii_lowercase(),
                v.to_string_lossy(),
            ));
        }
    }
    Ok(out)
}

pub(super) fn register(lua: &Lua, ctx: Rc<Ctx>) -> mlua::Result<()> {
    lua.set_app_data(HttpSettings::default());
    let globals = lua.globals();

    for (name, method) in [
        ("RestApiGet", Method::GET),
        ("RestApiDelete", Method::DELETE),
    ] {
        let c = ctx.clone();
        let f = lua.create_function(
            move |lua, (uri, _builtin, headers): (String, Option<LuaValue>, Option<Table>)| {
                let call = rest(
                    c.router.clone(),
                    method.clone(),
                    uri.clone(),
                    Vec::new(),
                    headers_of(headers)?,
                );
                answer(
                    lua,
                    name,
                    &uri,
                    wait(&c.runtime, call)?,
                    method == Method::DELETE,
                )
            },
        )?;
        globals.set(name, f)?;
    }
    for (name, method) in [("RestApiPost", Method::POST), ("RestApiPut", Method::PUT)] {
        let c = ctx.clone();
        let f = lua.create_function(
            move |lua,
                  (uri, body, _builtin, headers): (
                String,
                mlua::String,
                Option<LuaValue>,
                Option<Table>,
            )| {
                let call = rest(
                    c.router.clone(),
                    method.clone(),
                    uri.clone(),
                    body.as_bytes().to_vec(),
                    headers_of(headers)?,
                );
                answer(lua, name, &uri, wait(&c.runtime, call)?, false)
            },
        )?;
        globals.set(name, f)?;
    }

    for (name, method, has_body) in [
        ("HttpGet", Method::GET, false),
        ("HttpPost", Method::POST, true),
        ("HttpPut", Method::PUT, true),
        ("HttpDelete", Method::DELETE, false),
    ] {
        let c = ctx.clone();
        let f = lua.create_function(move |lua, args: mlua::MultiValue| {
            let mut args = args.into_iter();
            let url: String = lua.unpack(args.next().unwrap_or(LuaValue::Nil))?;
            let body: Vec<u8> = match (has_body, args.next()) {
                (true, Some(LuaValue::String(s))) => s.as_bytes().to_vec(),
                (true, _) => Vec::new(),
                (false, Some(LuaValue::Table(t))) => {
                    return http_call(lua, &c, name, method.clone(), url, Vec::new(), Some(t))
                }
                (false, _) => Vec::new(),
            };
            let headers = match args.next() {
                Some(LuaValue::Table(t)) => Some(t),
                _ => None,
            };
            http_call(lua, &c, name, method.clone(), url, body, headers)
        })?;
        globals.set(name, f)?;
    }
    globals.set(
        "SetHttpCredentials",
        lua.create_function(|lua, (user, password): (String, String)| {
            if let Some(mut s) = lua.app_data_mut::<HttpSettings>() {
                s.credentials = Some((user, password));
            }
            Ok(())
        })?,
    )?;
    globals.set(
        "SetHttpTimeout",
        lua.create_function(|lua, seconds: f64| {
            if let Some(mut s) = lua.app_data_mut::<HttpSettings>() {
                s.timeout = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
            }
            Ok(())
        })?,
    )?;

    let c = ctx.clone();
    globals.set(
        "Delete",
        lua.create_function(move |_, id: Option<String>| {
            let id =
                id.ok_or_else(|| mlua::Error::runtime("Cannot delete a nonexistent resource"))?;
            let archive = c.archive.clone();
            let done = wait(&c.runtime, async move {
                let r = archive.resource(&id)?;
                archive.delete(r.level, &id).await
            })?;
            done.map_err(|e| mlua::Error::runtime(format!("Delete: {e}")))?;
            Ok(LuaValue::Nil)
        })?,
    )?;

    let c = ctx.clone();
    globals.set(
        "SendToModality",
        lua.create_function(
            move |_,
                  (id, modality, local_aet, timeout): (
                Option<String>,
                String,
                Option<String>,
                Option<u64>,
            )| {
                let id =
                    id.ok_or_else(|| mlua::Error::runtime("Cannot send a nonexistent resource"))?;
                let options = SendOptions {
                    local_aet,
                    timeout,
                    ..Default::default()
                };
                let (archive, sent, name) = (c.archive.clone(), id.clone(), modality.clone());
                let sent = wait(&c.runtime, async move {
                    let modality = archive.modality(&name)?;
                    let instances = archive.instances_of(&[sent])?;
                    archive
                        .send_to_modality(&modality, &instances, &options)
                        .await
                })?;
                match sent {
                    Ok(_) => Ok(id),
                    Err(e) => Err(mlua::Error::runtime(format!(
                        "SendToModality({id}, {modality}) failed: {e}"
                    ))),
                }
            },
        )?,
    )?;

    let c = ctx.clone();
    globals.set(
        "SendToPeer",
        lua.create_function(move |_, (id, peer): (Option<String>, String)| {
            let id =
                id.ok_or_else(|| mlua::Error::runtime("Cannot send a nonexistent resource"))?;
            let target = c
                .archive
                .peer(&peer)
                .map_err(|e| mlua::Error::runtime(e.to_string()))?;
            let (archive, http, sent_id) = (c.archive.clone(), c.http.clone(), id.clone());
            wait(&c.runtime, async move {
                send_to_peer(&archive, &http, &target, &sent_id).await
            })?
            .map_err(|e| mlua::Error::runtime(format!("SendToPeer({id}, {peer}) failed: {e}")))?;
            Ok(id)
        })?,
    )?;

    let c = ctx.clone();
    globals.set(
        "ModifyInstance",
        lua.create_function(
            move |_,
                  (id, replacements, removals, remove_private): (
                Option<String>,
                LuaValue,
                LuaValue,
                Option<bool>,
            )| {
                let id =
                    id.ok_or_else(|| mlua::Error::runtime("Cannot modify a nonexistent instance"))?;
                if id.is_empty() {
                    return Err(mlua::Error::runtime("Cannot modify twice an instance"));
                }
                let body = modify_body(&replacements, &removals, remove_private.unwrap_or(false))?;
                let (archive, modified) = (c.archive.clone(), id.clone());
                let new_id = wait(&c.runtime, async move {
                    let request = ModifyRequest::parse(&body, Level::Instance, false)?;
                    archive
                        .store_modified_instance(&modified, &request, &Origin::lua())
                        .await
                })?
                .map_err(|e| mlua::Error::runtime(format!("ModifyInstance({id}) failed: {e}")))?;
                Ok(new_id)
            },
        )?,
    )?;
    Ok(())
}

/// The modification request of `ModifyInstance(id, replacements, removals,
/// removePrivateTags)`, as Orthanc's `Command.lua` builds it. An empty table
/// is read as an empty object or array as needed (Lua cannot tell them
/// apart), and numbers given as replacement values are taken as text.
fn modify_body(
    replacements: &LuaValue,
    removals: &LuaValue,
    remove_private: bool,
) -> mlua::Result<Value> {
    let mut body = json!({ "RemovePrivateTags": remove_private });
    match super::json::from_lua(replacements, true)? {
        Value::Null => {}
        Value::Array(a) if a.is_empty() => body["Replace"] = json!({}),
        Value::Object(mut map) => {
            for value in map.values_mut() {
                if let Value::Number(n) = value {
                    *value = Value::String(n.to_string());
                }
            }
            body["Replace"] = Value::Object(map);
        }
        other => body["Replace"] = other,
    }
    match super::json::from_lua(removals, true)? {
        Value::Null => {}
        Value::Object(map) if map.is_empty() => body["Remove"] = json!([]),
        other => body["Remove"] = other,
    }
    Ok(body)
}

/// Orthanc's answers: the body (or `true` for DELETE) on 200, else `nil` and a log line.
fn answer(
    lua: &Lua,
    name: &str,
    uri: &str,
    result: Result<(u16, Vec<u8>), String>,
    boolean: bool,
) -> mlua::Result<LuaValue> {
    match result {
        Ok((200, _)) if boolean => Ok(LuaValue::Boolean(true)),
        Ok((200, body)) => Ok(LuaValue::String(lua.create_string(&body)?)),
        Ok((status, body)) => {
            tracing::error!(target: "lua", uri, status, details = %error_details(&body), "Lua: error in {name}()");
            Ok(LuaValue::Nil)
        }
        Err(e) => {
            tracing::error!(target: "lua", uri, error = %e, "Lua: error in {name}()");
            Ok(LuaValue::Nil)
        }
    }
}

fn error_details(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => v
            .get("Details")
            .or_else(|| v.get("Message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

fn http_call(
    lua: &Lua,
    c: &Ctx,
    name: &str,
    method: Method,
    url: String,
    body: Vec<u8>,
    headers: Option<Table>,
) -> mlua::Result<LuaValue> {
    let (credentials, timeout) = match lua.app_data_ref::<HttpSettings>() {
        Some(s) => (s.credentials.clone(), s.timeout),
        None => (None, None),
    };
    let mut request = c.http.request(method.clone(), &url).body(body);
    for (k, v) in headers_of(headers)? {
        request = request.header(k, v);
    }
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(t) = timeout {
        request = request.timeout(t);
    }
    let sent = wait(&c.runtime, async move {
        let response = request.send().await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.bytes().await?))
    })?;
    match sent {
        Ok((status, _)) if status.is_success() && method == Method::DELETE => {
            Ok(LuaValue::String(lua.create_string("SUCCESS")?))
        }
        Ok((status, body)) if status.is_success() => {
            Ok(LuaValue::String(lua.create_string(&body)?))
        }
        Ok((status, _)) => {
            tracing::error!(target: "lua", %url, status = status.as_u16(), "Lua: error in {name}()");
            Ok(LuaValue::Nil)
        }
        Err(e) => {
            tracing::error!(target: "lua", %url, error = %e, "Lua: error in {name}()");
            Ok(LuaValue::Nil)
        }
    }
}

/// Posts every instance of `id` to the peer's `/instances`.
async fn send_to_peer(
    archive: &Archive,
    http: &reqwest::Client,
    peer: &Peer,
    id: &str,
) -> Result<(), String> {
    let instances = archive
        .descendants(id, Level::Instance)
        .map_err(|e| e.to_string())?;
    for instance in instances {
        let file = archive
            .instance_file(&instance)
            .await
            .map_err(|e| e.to_string())?;
        let mut request = http.post(format!("{}instances", peer.url)).body(file);
        if let Some(user) = &peer.username {
            request = request.basic_auth(user, peer.password.as_ref());
        }
        for (k, v) in &peer.http_headers {
            request = request.header(k, v);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!(
                "the peer answered HTTP {} for instance {instance}",
                response.status().as_u16()
            ));
        }
    }
    Ok(())
}
