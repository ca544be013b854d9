//! The bodies `POST /instances` accepts besides a plain DICOM file or ZIP:
//! `Content-Encoding: gzip` (Orthanc 1.6), and `multipart/form-data` as
//! Orthanc Explorer's upload button sends it, parsed as leniently as Orthanc
//! does (spaces around `:`, `;` and `=`), including jQuery File Upload's
//! chunks (`X-File-Name`, `X-File-Size`: a file arrives in several requests
//! and is ingested once whole).
//!
//! Chunks are kept on the node that receives them (a client sends the chunks
//! of one file to one server), bounded by [`MAX_PENDING_BYTES`] and
//! [`MAX_PENDING_FILES`]: beyond, the oldest partial file is dropped.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::HeaderMap;

use super::error::{ApiError, ApiResult, OrthancCode};

/// Bytes of partial files kept at once.
pub const MAX_PENDING_BYTES: usize = 512 << 20;
/// Partial files kept at once.
pub const MAX_PENDING_FILES: usize = 100;

/// The body once its `Content-Encoding` is undone.
pub fn decode(headers: &HeaderMap, body: Bytes) -> ApiResult<Bytes> {
    let Some(encoding) = headers.get("content-encoding") else {
        return Ok(body);
    };
    let encoding = encoding.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let bad = |e: std::io::Error| {
        ApiError::with_details(OrthancCode::BadFileFormat, format!("bad {encoding} body: {e}"))
    };
    let mut out = Vec::new();
    match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_err(bad)?,
        "deflate" => flate2::read::ZlibDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_err(bad)?,
        other => {
            return Err(ApiError::with_details(
                OrthancCode::BadRequest,
                format!("Unsupported HTTP Content-Encoding: {other}"),
            ))
        }
    };
    Ok(Bytes::from(out))
}

/// The boundary of a `multipart/form-data` content type; `None` for any other.
pub fn boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("content-type")?.to_str().ok()?;
    let mut parts = value.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The contents of the parts of a multipart body, in order.
pub fn parts(body: &[u8], boundary: &str) -> ApiResult<Vec<Bytes>> {
    let delimiter = format!("--{boundary}").into_bytes();
    let bad = || ApiError::with_details(OrthancCode::BadFileFormat, "bad multipart body");
    let mut out = Vec::new();
    let mut rest = &body[find(body, &delimiter).ok_or_else(bad)? + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") || rest.iter().all(u8::is_ascii_whitespace) {
            return Ok(out);
        }
        let rest_after_crlf = rest.strip_prefix(b"\r\n").ok_or_else(bad)?;
        let headers_end = find(rest_after_crlf, b"\r\n\r\n").ok_or_else(bad)?;
        let content = &rest_after_crlf[headers_end + 4..];
        // The part ends at CRLF + delimiter, or at the body's end (a chunk
        // whose closing delimiter is the last bytes, without CRLF after it).
        let mut marker = b"\r\n".to_vec();
        marker.extend_from_slice(&delimiter);
        let end = find(content, &marker).ok_or_else(bad)?;
        out.push(Bytes::copy_from_slice(&content[..end]));
        rest = &content[end + marker.len()..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Partial files of chunked uploads, by name and announced size.
#[derive(Default)]
pub struct Chunks {
    pending: Mutex<VecDeque<(String, usize, Vec<u8>)>>,
}

impl Chunks {
    /// Adds a chunk of the file `name` of `size` bytes; answers the whole file
    /// once its last chunk arrived.
    pub fn add(&self, name: &str, size: usize, chunk: &[u8]) -> Option<Bytes> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let at = pending.iter().position(|(n, s, _)| n == name && *s == size);
        let mut entry = match at {
            Some(i) => pending.remove(i)?,
            None => (name.to_owned(), size, Vec::new()),
        };
        entry.2.extend_from_slice(chunk);
        if entry.2.len() >= size {
            return Some(Bytes::from(entry.2));
        }
        pending.push_back(entry);
        while pending.len() > MAX_PENDING_FILES
            || pending.iter().map(|(_, _, d)| d.len()).sum::<usize>() > MAX_PENDING_BYTES
        {
            pending.pop_front();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_multipart_as_orthanc_explorer_sends_it() {
        let body = b"--B\r\nContent-Disposition  :  form-data ; name =\"files[]\"\r\n\r\nab\r\nc\r\n--B\r\nContent-Disposition: form-data\r\n\r\nxyz\r\n--B--";
        let parts = parts(body, "B").unwrap();
        assert_eq!(parts, [Bytes::from_static(b"ab\r\nc"), Bytes::from_static(b"xyz")]);
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "multipart/form-data   ;  boundary  =  B  ".parse().unwrap());
        assert_eq!(boundary(&headers).as_deref(), Some("B"));
        assert!(super::parts(b"garbage", "B").is_err());
    }

    #[test]
    fn chunks_make_a_file_once_whole() {
        let chunks = Chunks::default();
        assert_eq!(chunks.add("a", 5, b"ab"), None);
        assert_eq!(chunks.add("b", 1, b"z"), Some(Bytes::from_static(b"z")));
        assert_eq!(chunks.add("a", 5, b"cde"), Some(Bytes::from_static(b"abcde")));
    }
}
