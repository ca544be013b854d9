//! `POST /{level}/{id}/reconstruct` and `/tools/reconstruct`, as Orthanc
//! 1.10's `ServerToolbox::ReconstructResource`: each instance below the
//! resource (below every study for the whole archive) is parsed again, and
//! the main tags of the four levels read from it replace those in the index
//! (re-indexed for find), with the instance's `TransferSyntax` and
//! `SopClassUid` metadata; one command per instance.

use std::collections::BTreeMap;

use super::{Archive, Result, ServiceError};
use crate::dicom;
use crate::index::{Command, CommandResponse, Level};

impl Archive {
    /// Reconstructs every instance below `id` (any level).
    pub async fn reconstruct(&self, level: Level, id: &str) -> Result<()> {
        self.resource_at(level, id)?;
        for instance in self.descendants(id, Level::Instance)? {
            self.reconstruct_instance(&instance).await?;
        }
        Ok(())
    }

    /// Reconstructs every instance of the archive.
    pub async fn reconstruct_all(&self) -> Result<()> {
        for study in self.list(Level::Study, 0, None)? {
            for instance in self.descendants(&study, Level::Instance)? {
                self.reconstruct_instance(&instance).await?;
            }
        }
        Ok(())
    }

    async fn reconstruct_instance(&self, id: &str) -> Result<()> {
        let file = self.instance_file(id).await?;
        let parsed = dicom::parse(&file)?;
        let ids = &parsed.ids;
        if ids.instance != id {
            return Err(ServiceError::Internal(format!(
                "the file of instance {id} has the identifiers of instance {}",
                ids.instance
            )));
        }
        let mut metadata =
            BTreeMap::from([("TransferSyntax".to_owned(), parsed.transfer_syntax.clone())]);
        if !parsed.sop_class_uid.is_empty() {
            metadata.insert("SopClassUid".to_owned(), parsed.sop_class_uid.clone());
        }
        let command = Command::ReplaceMainTags {
            instance: id.to_owned(),
            tags: vec![
                (ids.patient.clone(), parsed.patient_tags.clone()),
                (ids.study.clone(), parsed.study_tags.clone()),
                (ids.series.clone(), parsed.series_tags.clone()),
                (ids.instance.clone(), parsed.instance_tags.clone()),
            ],
            metadata,
        };
        match self.node.write(command).await? {
            CommandResponse::UnknownResource => Err(ServiceError::UnknownResource(id.to_owned())),
            _ => Ok(()),
        }
    }
}
