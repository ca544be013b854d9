//! Ingest: one DICOM file in, one instance stored. Used by `POST /instances`
//! (and its ZIP form) and by the DICOM C-STORE service alike.
//!
//! Order matters for crash safety: the blob is written and made durable first
//! (in the replicated blob mode: on every node that will hold it, see
//! `replication`), then the index command is proposed; the answer is given only after the
//! command is committed and applied. A crash in between leaves an unreferenced
//! blob, which the garbage collector removes later; never an index entry
//! without its blob.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use super::{now_stamp, Archive, Result, ServiceError};
use crate::dicom::{self, ResourceIds};
use crate::index::{Attachment, Command, CommandResponse, NewInstance, StoreStatus};

/// Who sent the instance: Orthanc's `Origin` metadata and its companions.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `RestApi`, `DicomProtocol`, `Lua`, `Plugins`...
    pub kind: &'static str,
    pub remote_ip: String,
    pub remote_aet: String,
    pub called_aet: String,
    pub http_username: String,
}

impl Origin {
    pub fn rest(remote_ip: String, http_username: String) -> Origin {
        Origin {
            kind: "RestApi",
            remote_ip,
            http_username,
            ..Default::default()
        }
    }

    /// An instance uploaded by a Lua script (`RestApiPost('/instances', ...)`).
    pub fn lua() -> Origin {
        Origin {
            kind: "Lua",
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub ids: ResourceIds,
    pub status: StoreStatus,
}

/// How many times an ingest waits for a garbage collection of its blob.
const BLOB_BUSY_RETRIES: usize = 50;

impl Archive {
    /// Parses, stores and indexes one DICOM file.
    pub async fn ingest(&self, bytes: Bytes, origin: &Origin) -> Result<IngestOutcome> {
        let start = std::time::Instant::now();
        let outcome = self
            .ingest_with_metadata(bytes, origin, BTreeMap::new())
            .await;
        self.metrics.stored(start.elapsed());
        outcome
    }

    /// [`Archive::ingest`], with more instance metadata (`ModifiedFrom`...).
    pub async fn ingest_with_metadata(
        &self,
        bytes: Bytes,
        origin: &Origin,
        extra: BTreeMap<String, String>,
    ) -> Result<IngestOutcome> {
        let encoding = self.default_encoding()?;
        let parsed = dicom::parse_with(&bytes, encoding)?;
        let ids = parsed.ids.clone();
        if let Some(hooks) = self.hook("ReceivedInstanceFilter") {
            let info = serde_json::json!({
                "HasPixelData": parsed.pixel_data_offset.is_some(),
                "TransferSyntaxUID": parsed.transfer_syntax,
            });
            let tags = dicom::json::simplified_with(&parsed.object, encoding);
            match hooks
                .filter_instance(tags, super::hooks::origin_json(origin), info)
                .await
            {
                Ok(true) => {}
                Ok(false) => return Err(ServiceError::FilteredOut(ids.instance)),
                Err(e) => {
                    tracing::warn!(error = %e, instance = %ids.instance, "ReceivedInstanceFilter failed: the instance is refused");
                    return Err(ServiceError::FilteredOut(ids.instance));
                }
            }
        }
        let mut metadata = extra;
        metadata.insert("Origin".to_owned(), origin.kind.to_owned());
        metadata.insert("RemoteIP".to_owned(), origin.remote_ip.clone());
        metadata.insert("RemoteAET".to_owned(), origin.remote_aet.clone());
        if origin.kind == "RestApi" {
            metadata.insert("HttpUsername".to_owned(), origin.http_username.clone());
        }
        if origin.kind == "DicomProtocol" {
            metadata.insert("CalledAET".to_owned(), origin.called_aet.clone());
        }
        metadata.insert("TransferSyntax".to_owned(), parsed.transfer_syntax.clone());
        metadata.insert("SopClassUid".to_owned(), parsed.sop_class_uid.clone());
        if let Some(offset) = parsed.pixel_data_offset {
            metadata.insert("PixelDataOffset".to_owned(), offset.to_string());
        }
        // As Orthanc: the stripped InstanceNumber (else ImageIndex) whenever the
        // tag is present, even empty or not a number; readers parse it.
        let index_in_series = parsed
            .instance_tags
            .get("InstanceNumber")
            .or_else(|| parsed.instance_tags.get("ImageIndex"));
        if let Some(i) = index_in_series {
            metadata.insert("IndexInSeries".to_owned(), i.trim().to_owned());
        }
        let mut new = NewInstance {
            patient_id: ids.patient.clone(),
            study_id: ids.study.clone(),
            series_id: ids.series.clone(),
            instance_id: ids.instance.clone(),
            patient_tags: parsed.patient_tags,
            study_tags: parsed.study_tags,
            series_tags: parsed.series_tags,
            instance_tags: parsed.instance_tags,
            metadata,
            attachment: Attachment {
                hash: String::new(),
                size: 0,
                uncompressed_size: 0,
                md5: String::new(),
                ..Default::default()
            },
        };
        // Without overwrite, a known instance is answered without touching storage.
        if !self.config.overwrite_instances && self.node.reader().resource(&ids.instance)?.is_some()
        {
            return Ok(IngestOutcome {
                ids,
                status: StoreStatus::AlreadyStored,
            });
        }
        for _ in 0..BLOB_BUSY_RETRIES {
            let (stored, holders) = self.store_blob(bytes.clone()).await?;
            new.attachment = Attachment {
                hash: stored.hash,
                size: stored.size,
                uncompressed_size: stored.size,
                // Computed when asked for (ADR 006).
                md5: String::new(),
                ..Default::default()
            };
            let stamp = now_stamp();
            new.metadata
                .insert("ReceptionDate".to_owned(), stamp.date.clone());
            let command = Command::StoreInstance {
                instance: Box::new(new.clone()),
                overwrite: self.config.overwrite_instances,
                stamp,
                holders,
            };
            match self.node.write(command).await? {
                CommandResponse::Stored(outcome) => {
                    if outcome.status == StoreStatus::Success {
                        self.signal_stored(&ids.instance, &parsed.object, &new.metadata, origin);
                    }
                    return Ok(IngestOutcome {
                        ids,
                        status: outcome.status,
                    });
                }
                CommandResponse::BlobBusy => tokio::time::sleep(Duration::from_millis(100)).await,
                other => unreachable_response(other)?,
            }
        }
        Err(ServiceError::BlobBusy(ids.instance))
    }
}

impl Archive {
    /// Queues `OnStoredInstance` once the instance is durable and indexed.
    fn signal_stored(
        &self,
        id: &str,
        file: &dicom::DicomFile,
        metadata: &BTreeMap<String, String>,
        origin: &Origin,
    ) {
        if let Some(hooks) = self.hook("OnStoredInstance") {
            let metadata = metadata
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
                .collect();
            let encoding = self.default_encoding().unwrap_or(dicom::charset::Encoding::Latin1);
            let tags = dicom::json::simplified_with(file, encoding);
            hooks.stored_instance(
                id.to_owned(),
                tags,
                serde_json::Value::Object(metadata),
                super::hooks::origin_json(origin),
            );
        }
    }
}

fn unreachable_response(response: CommandResponse) -> Result<()> {
    Err(ServiceError::Index(crate::index::IndexError::Corrupt(
        format!("unexpected answer to StoreInstance: {response:?}"),
    )))
}
