//! What is inside one instance: the file, its tags in Orthanc's three JSON
//! forms, the meta header, and `/content/...` navigation.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiResult;
use super::resources::flag;
use crate::dicom::charset::Encoding;
use crate::dicom::{self, Content};
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct TagParams {
    simplify: Option<String>,
    short: Option<String>,
}

pub async fn file(State(archive): State<Archive>, Path(id): Path<String>) -> ApiResult<Response> {
    let bytes = archive.instance_file(&id).await?;
    Ok(([(header::CONTENT_TYPE, "application/dicom")], bytes).into_response())
}

async fn parsed(archive: &Archive, id: &str) -> ApiResult<dicom::ParsedDicom> {
    let bytes = archive.instance_file(id).await?;
    Ok(dicom::parse_with(&bytes, archive.default_encoding()?)?)
}

/// One of Orthanc's three renderings, as `?short` / `?simplify` choose.
type Render = fn(&dicom::DicomFile) -> Value;

/// One of the renderings of the tags, strings of files without (0008,0005)
/// read in the default encoding.
type RenderWith = fn(&dicom::DicomFile, Encoding) -> Value;

fn render_as(
    p: &TagParams,
    file: &dicom::DicomFile,
    short: Render,
    simplified: Render,
    full: Render,
) -> Value {
    if flag(&p.short) {
        short(file)
    } else if flag(&p.simplify) {
        simplified(file)
    } else {
        full(file)
    }
}

pub async fn tags(
    State(archive): State<Archive>,
    Path(id): Path<String>,
    Query(p): Query<TagParams>,
) -> ApiResult<Json<Value>> {
    let parsed = parsed(&archive, &id).await?;
    let encoding = archive.default_encoding()?;
    let render: RenderWith = if flag(&p.short) {
        dicom::json::short_with
    } else if flag(&p.simplify) {
        dicom::json::simplified_with
    } else {
        dicom::json::full_with
    };
    Ok(Json(render(&parsed.object, encoding)))
}

pub async fn simplified_tags(
    State(archive): State<Archive>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let parsed = parsed(&archive, &id).await?;
    let encoding = archive.default_encoding()?;
    Ok(Json(dicom::json::simplified_with(&parsed.object, encoding)))
}

pub async fn header(
    State(archive): State<Archive>,
    Path(id): Path<String>,
    Query(p): Query<TagParams>,
) -> ApiResult<Json<Value>> {
    let parsed = parsed(&archive, &id).await?;
    let (short, simplified, full): (Render, Render, Render) = (
        dicom::json::header_short,
        dicom::json::header_simplified,
        dicom::json::header_full,
    );
    Ok(Json(render_as(&p, &parsed.object, short, simplified, full)))
}

pub async fn content_root(
    State(archive): State<Archive>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    content_at(&archive, &id, "").await
}

pub async fn content(
    State(archive): State<Archive>,
    Path((id, path)): Path<(String, String)>,
) -> ApiResult<Response> {
    content_at(&archive, &id, &path).await
}

async fn content_at(archive: &Archive, id: &str, path: &str) -> ApiResult<Response> {
    let parsed = parsed(archive, id).await?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    Ok(match dicom::content(&parsed.object, &segments)? {
        Content::Children(keys) => Json(keys).into_response(),
        Content::Value(bytes) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
    })
}
