//! Orthanc answers its JSON in XML to a client that asks for it
//! (`Accept: application/xml`): `<root>`, an array's members as `<item>`,
//! an object's members as elements named by their keys. The conversion is a
//! dozen lines over `serde_json::Value` with the five XML escapes, so no XML
//! crate is pulled in for it.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

/// Largest JSON answer converted (larger ones stay JSON).
const MAX_JSON: usize = 64 * 1024 * 1024;

pub async fn negotiate(request: Request, next: Next) -> Response {
    let wants_xml = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/xml") && !a.contains("application/json"));
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !wants_xml || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_JSON).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    element(&mut xml, "root", &json, 0);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(xml))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn element(out: &mut String, name: &str, v: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Array(items) => {
            out.push_str(&format!("{pad}<{name}>\n"));
            for i in items {
                element(out, "item", i, depth + 1);
            }
            out.push_str(&format!("{pad}</{name}>\n"));
        }
        Value::Object(members) => {
            out.push_str(&format!("{pad}<{name}>\n"));
            for (k, m) in members {
                element(out, k, m, depth + 1);
            }
            out.push_str(&format!("{pad}</{name}>\n"));
        }
        Value::String(s) => out.push_str(&format!("{pad}<{name}>{}</{name}>\n", escape(s))),
        Value::Null => out.push_str(&format!("{pad}<{name} />\n")),
        other => out.push_str(&format!("{pad}<{name}>{other}</{name}>\n")),
    }
}
