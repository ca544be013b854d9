//! Tags across the instances of a resource: `/shared-tags`, `/module`,
//! `/studies/{id}/module-patient`, `/instances-tags`, and
//! `/series/{id}/ordered-slices`. As in Orthanc, the collection of the URI
//! picks the route and the module, and the resource may be of any level
//! (`/patients/{study}/instances-tags` lists the study's instances).

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult, OrthancCode};
use super::resources::{flag, level_of};
use crate::dicom::model::Tag;
use crate::dicom::modules::{Module, SharedTags};
use crate::dicom::{self, dictionary};
use crate::index::Level;
use crate::service::Archive;

#[derive(Debug, Default, Deserialize)]
pub struct TagParams {
    simplify: Option<String>,
    short: Option<String>,
    #[serde(rename = "ignore-length")]
    ignore_length: Option<String>,
}

impl TagParams {
    /// The rendering `?short` / `?simplify` ask for, from the full form.
    fn render(&self, full: Value) -> Value {
        if flag(&self.short) {
            dicom::json::simplify(&full, true)
        } else if flag(&self.simplify) {
            dicom::json::simplify(&full, false)
        } else {
            full
        }
    }

    /// `ignore-length`: tags by name or `gggg,eeee`, separated by `;` or `,`
    /// between names (a `gggg,eeee` stays whole).
    fn ignore_length(&self) -> ApiResult<BTreeSet<Tag>> {
        let mut out = BTreeSet::new();
        let Some(list) = &self.ignore_length else {
            return Ok(out);
        };
        let mut parts: Vec<String> = Vec::new();
        for piece in list
            .split([',', ';'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            // Re-join `gggg` `,` `eeee`.
            let hex4 = |s: &str| s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit());
            match parts.last_mut() {
                Some(last) if hex4(last) && hex4(piece) => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => parts.push(piece.to_owned()),
            }
        }
        for p in parts {
            let tag = Tag::parse(&p)
                .or_else(|| dictionary::find_by_name(&p))
                .ok_or_else(|| {
                    ApiError::with_details(OrthancCode::UnknownDicomTag, format!("unknown tag {p}"))
                })?;
            out.insert(tag);
        }
        Ok(out)
    }
}

/// The full rendering of one instance.
async fn full_tags(archive: &Archive, id: &str, ignore: &BTreeSet<Tag>) -> ApiResult<Value> {
    let bytes = archive.instance_file(id).await?;
    let encoding = archive.default_encoding()?;
    let parsed = dicom::parse_with(&bytes, encoding)?;
    Ok(dicom::json::full_ignoring_length(&parsed.object, encoding, ignore))
}

/// The instances below (or equal to) any resource.
fn child_instances(archive: &Archive, id: &str) -> ApiResult<Vec<String>> {
    Ok(archive.descendants(id, Level::Instance)?)
}

fn no_instances_route(collection: &str) -> ApiResult<()> {
    match level_of(collection)? {
        Level::Instance => Err(ApiError::unrouted()),
        _ => Ok(()),
    }
}

pub async fn shared_tags(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(p): Query<TagParams>,
) -> ApiResult<Json<Value>> {
    no_instances_route(&collection)?;
    let mut shared = SharedTags::default();
    for i in child_instances(&archive, &id)? {
        shared.add(&full_tags(&archive, &i, &BTreeSet::new()).await?);
    }
    Ok(Json(p.render(shared.finish())))
}

pub async fn instances_tags(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(p): Query<TagParams>,
) -> ApiResult<Json<Value>> {
    no_instances_route(&collection)?;
    let ignore = p.ignore_length()?;
    let mut out = Map::new();
    for i in child_instances(&archive, &id)? {
        let full = full_tags(&archive, &i, &ignore).await?;
        out.insert(i, p.render(full));
    }
    Ok(Json(Value::Object(out)))
}

async fn module_of(
    archive: &Archive,
    level: Level,
    module: Module,
    id: &str,
    p: &TagParams,
) -> ApiResult<Json<Value>> {
    let ignore = p.ignore_length()?;
    let instance = if level == Level::Instance {
        archive.resource_at(Level::Instance, id)?;
        id.to_owned()
    } else {
        match child_instances(archive, id)?.into_iter().next() {
            Some(i) => i,
            None => return Err(ApiError::unknown_resource()),
        }
    };
    let full = full_tags(archive, &instance, &ignore).await?;
    Ok(Json(p.render(module.filter(&full))))
}

pub async fn module(
    State(archive): State<Archive>,
    Path((collection, id)): Path<(String, String)>,
    Query(p): Query<TagParams>,
) -> ApiResult<Json<Value>> {
    let level = level_of(&collection)?;
    let module = match level {
        Level::Patient => Module::Patient,
        Level::Study => Module::Study,
        Level::Series => Module::Series,
        Level::Instance => Module::Instance,
    };
    module_of(&archive, level, module, &id, &p).await
}

pub async fn module_patient(
    State(archive): State<Archive>,
    Path(id): Path<String>,
    Query(p): Query<TagParams>,
) -> ApiResult<Json<Value>> {
    module_of(&archive, Level::Study, Module::Patient, &id, &p).await
}

pub async fn ordered_slices(
    State(archive): State<Archive>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ordered = archive.ordered_slices(&id)?;
    let mut dicom = Vec::new();
    let mut slices = Vec::new();
    let mut short = Vec::new();
    for (instance, frames) in &ordered.instances {
        dicom.push(json!(format!("/instances/{instance}/file")));
        for f in 0..*frames {
            slices.push(json!(format!("/instances/{instance}/frames/{f}")));
        }
        short.push(json!([instance, 0, frames]));
    }
    Ok(Json(json!({
        "Dicom": dicom,
        "Slices": slices,
        "SlicesShort": short,
        "Type": ordered.kind,
    })))
}
