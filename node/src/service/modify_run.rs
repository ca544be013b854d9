//! Running checked modifications and anonymizations ([`super::modify`]), as
//! Orthanc 1.10's `ResourceModificationJob` does, synchronously:
//!
//! - one instance, answered and not stored (`POST /instances/{id}/modify|anonymize`);
//! - a series, study or patient, or a set of resources (`/tools/bulk-*`):
//!   every instance below them modified with one [`UidMap`] and stored under
//!   its new UIDs, with `ModifiedFrom` or `AnonymizedFrom` on the new instance
//!   and on each new series, study, patient whose ID changed; an error
//!   part-way deletes the copies already stored, so nothing is half-written;
//!   `KeepSource: false` then deletes the source instances;
//! - one instance for Lua's `ModifyInstance`, stored with origin `Lua`.
//!
//! An anonymization without its own PatientName gets `AnonymizedN`, `N` from a
//! cluster-wide sequence (Orthanc's `AnonymizationSequence`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use bytes::Bytes;

use super::modify::{ModifyError, ModifyOutcome, ModifyRequest};
use super::{Archive, Origin, Result, ServiceError};
use crate::dicom::modify::{self, UidMap};
use crate::dicom::ResourceIds;
use crate::index::{Command, CommandResponse, Level, StoreStatus};

/// The new resources of a bulk modification, per level (Orthanc lists them sorted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkOutcome {
    pub instances: BTreeSet<String>,
    pub series: BTreeSet<String>,
    pub studies: BTreeSet<String>,
    pub patients: BTreeSet<String>,
    /// How many source instances were modified.
    pub count: usize,
}

impl Archive {
    /// The next value of a cluster-wide counter (1 the first time).
    pub async fn next_sequence(&self, name: &str) -> Result<u64> {
        let command = Command::NextSequence {
            name: name.to_owned(),
        };
        match self.node.write(command).await? {
            CommandResponse::Sequence(n) => Ok(n),
            other => Err(ServiceError::Internal(format!(
                "unexpected answer to NextSequence: {other:?}"
            ))),
        }
    }

    /// Gives an anonymization its `AnonymizedN` PatientName when it needs one.
    async fn prepare(&self, request: &ModifyRequest) -> Result<ModifyRequest> {
        let mut request = request.clone();
        if request.needs_patient_name {
            let n = self.next_sequence("AnonymizationSequence").await?;
            request.set_patient_name(format!("Anonymized{n}"));
        }
        Ok(request)
    }

    /// The modified (or anonymized) file of one instance, not stored.
    pub async fn modified_instance(&self, id: &str, request: &ModifyRequest) -> Result<Vec<u8>> {
        let file = self.instance_file(id).await?;
        let request = self.prepare(request).await?;
        Ok(modify::apply(
            &file,
            &request.modification,
            &mut UidMap::default(),
        )?)
    }

    /// Lua's `ModifyInstance`: stores the modified copy of one instance
    /// (origin `Lua`, `ModifiedFrom`) and answers its ID.
    pub async fn store_modified_instance(
        &self,
        id: &str,
        request: &ModifyRequest,
        origin: &Origin,
    ) -> Result<String> {
        self.resource_at(Level::Instance, id)?;
        let request = self.prepare(request).await?;
        let ids = self
            .store_modified(
                id,
                &request,
                &mut UidMap::default(),
                origin,
                &mut HashSet::new(),
            )
            .await?;
        Ok(ids.instance)
    }

    /// `POST /{series|studies|patients}/{id}/modify|anonymize`.
    pub async fn modify_resource(
        &self,
        level: Level,
        id: &str,
        request: &ModifyRequest,
        origin: &Origin,
    ) -> Result<ModifyOutcome> {
        self.resource_at(level, id)?;
        let instances = self.descendants(id, Level::Instance)?;
        let created = self.modify_instances(&instances, request, origin).await?;
        let first = created
            .first()
            .ok_or_else(|| ServiceError::UnknownResource(id.to_owned()))?;
        let new_id = match level {
            Level::Patient => &first.patient,
            Level::Study => &first.study,
            Level::Series => &first.series,
            Level::Instance => &first.instance,
        };
        Ok(ModifyOutcome {
            level,
            id: new_id.clone(),
            patient_id: first.patient.clone(),
            instances: instances.len(),
        })
    }

    /// `POST /tools/bulk-modify|bulk-anonymize`: the instances below every
    /// resource of `resources` (each at any level), modified together.
    pub async fn modify_bulk(
        &self,
        resources: &[String],
        request: &ModifyRequest,
        origin: &Origin,
    ) -> Result<BulkOutcome> {
        let mut instances = Vec::new();
        let mut seen = HashSet::new();
        for id in resources {
            for instance in self.descendants(id, Level::Instance)? {
                if seen.insert(instance.clone()) {
                    instances.push(instance);
                }
            }
        }
        let created = self.modify_instances(&instances, request, origin).await?;
        let mut outcome = BulkOutcome {
            count: instances.len(),
            ..BulkOutcome::default()
        };
        for ids in created {
            outcome.instances.insert(ids.instance);
            outcome.series.insert(ids.series);
            outcome.studies.insert(ids.study);
            outcome.patients.insert(ids.patient);
        }
        Ok(outcome)
    }

    /// Modifies and stores `instances` with one UID map; rolls back on error;
    /// deletes the sources afterwards unless `KeepSource`.
    async fn modify_instances(
        &self,
        instances: &[String],
        request: &ModifyRequest,
        origin: &Origin,
    ) -> Result<Vec<ResourceIds>> {
        let request = self.prepare(request).await?;
        let mut uids = UidMap::default();
        let mut parents_done = HashSet::new();
        let mut created: Vec<ResourceIds> = Vec::with_capacity(instances.len());
        for instance in instances {
            match self
                .store_modified(instance, &request, &mut uids, origin, &mut parents_done)
                .await
            {
                Ok(ids) => created.push(ids),
                Err(e) => {
                    let ids: Vec<String> = created.into_iter().map(|c| c.instance).collect();
                    self.roll_back(&ids).await;
                    return Err(e);
                }
            }
        }
        if !request.keep_source {
            self.delete_sources(instances).await?;
        }
        Ok(created)
    }

    /// Deletes source instances after a modification (`KeepSource: false`);
    /// one already gone is not an error.
    pub(super) async fn delete_sources(&self, instances: &[String]) -> Result<()> {
        for id in instances {
            match self.delete(Level::Instance, id).await {
                Ok(_) | Err(ServiceError::UnknownResource(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Modifies and stores one instance with `ModifiedFrom` (or
    /// `AnonymizedFrom`); sets it on its new parents once (`parents_done`).
    /// Answers the new IDs.
    async fn store_modified(
        &self,
        id: &str,
        request: &ModifyRequest,
        uids: &mut UidMap,
        origin: &Origin,
        parents_done: &mut HashSet<String>,
    ) -> Result<ResourceIds> {
        let file = self.instance_file(id).await?;
        let modified = modify::apply(&file, &request.modification, uids)?;
        let name = if request.modification.anonymization {
            "AnonymizedFrom"
        } else {
            "ModifiedFrom"
        };
        self.store_copy(id, modified, Some(name), origin, parents_done)
            .await
    }

    /// Stores the rewritten copy of instance `id`, with the metadata `name`
    /// (the source's ID) on it and on each new parent (once per parent).
    pub(super) async fn store_copy(
        &self,
        id: &str,
        modified: Vec<u8>,
        name: Option<&str>,
        origin: &Origin,
        parents_done: &mut HashSet<String>,
    ) -> Result<ResourceIds> {
        let metadata = name
            .map(|n| BTreeMap::from([(n.to_owned(), id.to_owned())]))
            .unwrap_or_default();
        let stored = self
            .ingest_with_metadata(Bytes::from(modified), origin, metadata)
            .await?;
        if stored.status == StoreStatus::AlreadyStored {
            return Err(ServiceError::Modify(ModifyError::AlreadyStored(
                id.to_owned(),
            )));
        }
        let (Some(name), new) = (name, &stored.ids) else {
            return Ok(stored.ids);
        };
        for (level, new_id) in [
            (Level::Series, &new.series),
            (Level::Study, &new.study),
            (Level::Patient, &new.patient),
        ] {
            let old = self.ancestor(id, level)?.id;
            if old != *new_id && parents_done.insert(new_id.clone()) {
                self.set_metadata(level, new_id, name, &old).await?;
            }
        }
        Ok(stored.ids)
    }

    /// Deletes the modified copies stored before an error (best effort: a
    /// failure is logged, the original error is what the caller sees).
    pub(super) async fn roll_back(&self, created: &[String]) {
        for id in created {
            if let Err(e) = self.delete(Level::Instance, id).await {
                tracing::error!(instance = %id, error = %e, "cannot delete a modified copy after a failed modification");
            }
        }
    }
}
