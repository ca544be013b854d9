//! WebDAV at `/webdav` (`WebDavEnabled`), as Orthanc 1.10.1 serves it
//! (`HttpServer.cpp`'s `HandleWebDav`, `IWebDavBucket`): PROPFIND at depth 0
//! or 1 answers a `D:multistatus` (207); GET and HEAD a file; PUT and MKCOL
//! only below `uploads/` (`WebDavUploadAllowed`), answered 201 or 403; DELETE
//! of DICOM resources with `WebDavDeleteAllowed` (204, else 403); PROPPATCH,
//! LOCK and UNLOCK are faked for the clients that need them; OPTIONS on
//! `/webdav` tells the methods. Other methods (MOVE, COPY...) are a 400, as
//! Orthanc's HTTP server answers a method it does not know. The folders are
//! [`tree`]'s.

pub mod tree;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Utc};

use super::auth::Client;
use super::error::{ApiError, ApiResult, OrthancCode};
use crate::service::{Archive, Origin};

/// The URI of the WebDAV folder.
pub const ROOT: &str = "/webdav";

/// The path below `/webdav`, decoded, as components.
fn components(uri: &Uri) -> Vec<String> {
    let path = uri.path().strip_prefix(ROOT).unwrap_or("");
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(|c| percent_decode(c))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Orthanc's `Toolbox::UriEncode`: unreserved characters and `/` kept.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One `D:response`: `file` is the size and MIME type of a file, `None` for a folder.
fn response(
    out: &mut String,
    href: &str,
    name: &str,
    time: &DateTime<Utc>,
    file: Option<(u64, &str)>,
) {
    out.push_str(&format!(
        "<D:response><D:href>{}</D:href><D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop>\
         <D:displayname>{}</D:displayname><D:creationdate>{}</D:creationdate>\
         <D:getlastmodified>{}</D:getlastmodified>",
        xml_escape(&uri_encode(href)),
        xml_escape(name),
        iso(time),
        iso(time)
    ));
    match file {
        None => out.push_str("<D:resourcetype><D:collection /></D:resourcetype>"),
        Some((size, mime)) => out.push_str(&format!(
            "<D:resourcetype /><D:getcontentlength>{size}</D:getcontentlength>\
             <D:getcontenttype>{mime}</D:getcontenttype>"
        )),
    }
    out.push_str("</D:prop></D:propstat></D:response>");
}

/// `IWebDavBucket::Collection::Format`: the folder `parent` (components of
/// the URI) itself, then `entries`.
fn multistatus(parent: &[&str], entries: &[tree::Entry]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">",
    );
    let folder = format!("/{}/", parent.join("/")).replace("//", "/");
    let now = Utc::now();
    response(
        &mut out,
        &folder,
        parent.last().copied().unwrap_or(""),
        &now,
        None,
    );
    for e in entries {
        let href = format!("{folder}{}", e.name);
        response(&mut out, &href, &e.name, &e.time, e.file);
    }
    out.push_str("</D:multistatus>\n");
    out
}

fn status(code: StatusCode) -> Response {
    code.into_response()
}

fn xml(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/xml; charset=UTF-8")],
        body,
    )
        .into_response()
}

/// Every method on `/webdav` and below.
pub async fn handle(
    State(archive): State<Archive>,
    Extension(client): Extension<Client>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let config = archive.config();
    if !config.webdav.enabled {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    let uploads = config.webdav.upload_allowed;
    let delete_allowed = config.webdav.delete_allowed;
    let path = components(&uri);
    let mut uri_parts: Vec<String> = vec![ROOT.trim_start_matches('/').to_owned()];
    uri_parts.extend(path.iter().cloned());
    let in_uploads = uploads && path.first().map(String::as_str) == Some(tree::UPLOADS);
    match method.as_str() {
        "OPTIONS" if path.is_empty() => Ok((
            [
                ("DAV", "1,2"),
                (
                    "Allow",
                    "GET, PUT, DELETE, OPTIONS, PROPFIND, HEAD, LOCK, UNLOCK, PROPPATCH, MKCOL",
                ),
            ],
            StatusCode::OK,
        )
            .into_response()),
        "OPTIONS" => Ok(status(StatusCode::NOT_FOUND)),
        "PROPFIND" => {
            let depth = headers
                .get("depth")
                .and_then(|d| d.to_str().ok())
                .ok_or_else(|| {
                    ApiError::with_details(
                        OrthancCode::NetworkProtocol,
                        "WebDAV PROPFIND without depth",
                    )
                })?;
            let depth: u32 =
                match depth.trim() {
                    "0" => 0,
                    "1" => 1,
                    other => return Err(ApiError::with_details(
                        OrthancCode::NetworkProtocol,
                        format!(
                            "WebDAV PROPFIND at unsupported depth (can only be 0 or 1): {other}"
                        ),
                    )),
                };
            let parts: Vec<&str> = uri_parts.iter().map(String::as_str).collect();
            if let Some(entries) = tree::list(&archive, &path, uploads)? {
                let entries = if depth == 0 { Vec::new() } else { entries };
                return Ok(xml(StatusCode::MULTI_STATUS, multistatus(&parts, &entries)));
            }
            match tree::file(&archive, &path, uploads).await? {
                Some(f) if !path.is_empty() => {
                    let entry = tree::Entry {
                        name: path.last().cloned().unwrap_or_default(),
                        file: Some((f.bytes.len() as u64, f.mime)),
                        time: f.time,
                    };
                    let parent = &parts[..parts.len() - 1];
                    Ok(xml(StatusCode::MULTI_STATUS, multistatus(parent, &[entry])))
                }
                _ => Ok(status(StatusCode::NOT_FOUND)),
            }
        }
        "GET" | "HEAD" => match tree::file(&archive, &path, uploads).await? {
            Some(f) => {
                let headers = [
                    (header::CONTENT_TYPE, f.mime.to_owned()),
                    (
                        header::LAST_MODIFIED,
                        f.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    ),
                ];
                let body = if method == Method::HEAD {
                    Body::empty()
                } else {
                    Body::from(f.bytes)
                };
                Ok((headers, body).into_response())
            }
            None => Ok(status(StatusCode::NOT_FOUND)),
        },
        "PUT" if in_uploads => {
            let origin = Origin {
                kind: "WebDav",
                remote_ip: client.ip,
                http_username: client.user,
                ..Default::default()
            };
            let stored = archive.webdav_upload(path[1..].to_vec(), body, origin);
            Ok(status(if stored {
                StatusCode::CREATED
            } else {
                StatusCode::FORBIDDEN
            }))
        }
        "MKCOL" if in_uploads => {
            let created = archive.webdav_uploads().create_folder(&path[1..]);
            Ok(status(if created {
                StatusCode::CREATED
            } else {
                StatusCode::FORBIDDEN
            }))
        }
        "PUT" | "MKCOL" => Ok(status(StatusCode::FORBIDDEN)),
        "DELETE" if in_uploads => {
            let deleted = archive.webdav_uploads().delete(&path[1..]);
            Ok(status(if deleted {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::FORBIDDEN
            }))
        }
        "DELETE" => {
            let dicom = matches!(
                path.first().map(String::as_str),
                Some(tree::BY_UIDS | tree::BY_PATIENTS | tree::BY_STUDIES | tree::BY_DATES)
            );
            if !dicom || !delete_allowed || path.len() < 2 {
                return Ok(status(StatusCode::FORBIDDEN));
            }
            if let Some(r) = tree::target(&archive, &path)? {
                match archive.delete(r.level, &r.id).await {
                    Ok(_) | Err(crate::service::ServiceError::UnknownResource(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(status(StatusCode::NO_CONTENT))
        }
        "PROPPATCH" => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>{}</D:href><D:propstat /></D:response></D:multistatus>\n",
                xml_escape(uri.path())
            );
            Ok(xml(StatusCode::MULTI_STATUS, body))
        }
        "LOCK" => {
            let token = format!("opaquelocktoken:0x{:032x}", rand::random::<u128>());
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery><D:activelock>\
                 <D:locktype><D:write /></D:locktype><D:lockscope><D:exclusive /></D:lockscope><D:depth>0</D:depth>\
                 <D:timeout>Second-3599</D:timeout><D:lockroot><D:href>{}</D:href></D:lockroot><D:owner />\
                 <D:locktoken><D:href>{token}</D:href></D:locktoken></D:activelock></D:lockdiscovery></D:prop>\n",
                xml_escape(uri.path())
            );
            let mut r = xml(StatusCode::CREATED, body);
            if let Ok(v) = token.parse() {
                r.headers_mut().insert("Lock-Token", v);
            }
            Ok(r)
        }
        "UNLOCK" => Ok(status(StatusCode::NO_CONTENT)),
        _ => Ok(status(StatusCode::BAD_REQUEST)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_hrefs() {
        let uri: Uri = "/webdav/by-uids/1.2%203/".parse().unwrap();
        assert_eq!(components(&uri), ["by-uids", "1.2 3"]);
        assert!(components(&"/webdav".parse().unwrap()).is_empty());
        assert_eq!(uri_encode("/webdav/a b/é"), "/webdav/a%20b/%C3%A9");
        let x = multistatus(&["webdav"], &[]);
        assert!(
            x.contains("<D:href>/webdav/</D:href>")
                && x.contains("<D:displayname>webdav</D:displayname>")
        );
    }
}
