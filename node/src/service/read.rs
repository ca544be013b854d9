//! Reading the archive: resources with their relatives, files, statistics, the
//! change log. The writes the REST API exposes directly are in [`super::write`].

use bytes::Bytes;

use super::{Archive, Result, ServiceError};
use crate::index::{Change, Counters, Level, Resource};

/// A resource with what Orthanc shows next to it.
#[derive(Debug, Clone)]
pub struct ResourceView {
    pub resource: Resource,
    /// Child ids in creation order (empty for instances).
    pub children: Vec<String>,
    /// For studies: the patient's main tags (`PatientMainDicomTags`).
    pub patient_tags: Option<crate::index::MainTags>,
}

/// Sizes and counts below a resource (`/{level}/{id}/statistics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceStatistics {
    pub studies: u64,
    pub series: u64,
    pub instances: u64,
    pub disk_size: u64,
    pub uncompressed_size: u64,
}

impl Archive {
    /// Any resource by id, whatever its level.
    pub fn resource(&self, id: &str) -> Result<Resource> {
        self.node
            .reader()
            .resource(id)?
            .ok_or_else(|| ServiceError::UnknownResource(id.to_owned()))
    }

    /// A resource that must be at `level`: a wrong level is "unknown" as in Orthanc.
    pub fn resource_at(&self, level: Level, id: &str) -> Result<Resource> {
        let r = self.resource(id)?;
        if r.level != level {
            return Err(ServiceError::UnknownResource(id.to_owned()));
        }
        Ok(r)
    }

    pub fn view(&self, level: Level, id: &str) -> Result<ResourceView> {
        let resource = self.resource_at(level, id)?;
        let reader = self.node.reader();
        let children = if level == Level::Instance {
            Vec::new()
        } else {
            reader.children(id)?
        };
        let patient_tags = match (level, &resource.parent) {
            (Level::Study, Some(p)) => reader.resource(p)?.map(|p| p.main_tags),
            _ => None,
        };
        Ok(ResourceView {
            resource,
            children,
            patient_tags,
        })
    }

    pub fn list(&self, level: Level, since: usize, limit: Option<usize>) -> Result<Vec<String>> {
        Ok(self.node.reader().list(level, since, limit)?)
    }

    pub fn children(&self, id: &str) -> Result<Vec<String>> {
        self.resource(id)?;
        Ok(self.node.reader().children(id)?)
    }

    /// Every resource of `level` below (or equal to) the resource `id`.
    pub fn descendants(&self, id: &str, level: Level) -> Result<Vec<String>> {
        let root = self.resource(id)?;
        let reader = self.node.reader();
        let mut current = vec![root.id.clone()];
        let mut at = root.level;
        while at < level {
            let mut next = Vec::new();
            for c in &current {
                next.extend(reader.children(c)?);
            }
            current = next;
            at = at.child().unwrap_or(level);
        }
        Ok(current)
    }

    /// The ancestor of `id` at `level` (the resource itself if already there).
    pub fn ancestor(&self, id: &str, level: Level) -> Result<Resource> {
        let mut r = self.resource(id)?;
        while r.level > level {
            let parent = r
                .parent
                .clone()
                .ok_or_else(|| ServiceError::UnknownResource(id.to_owned()))?;
            r = self.resource(&parent)?;
        }
        if r.level != level {
            return Err(ServiceError::UnknownResource(id.to_owned()));
        }
        Ok(r)
    }

    /// The stored DICOM file of an instance, checked against its hash (in the
    /// replicated blob mode, fetched from a holder if this node has no copy).
    pub async fn instance_file(&self, id: &str) -> Result<Bytes> {
        self.file_of(&self.resource_at(Level::Instance, id)?).await
    }

    /// The DICOM file of an instance already read from the index.
    pub(super) async fn file_of(&self, r: &Resource) -> Result<Bytes> {
        let att = r
            .attachments
            .get("dicom")
            .ok_or_else(|| ServiceError::UnknownAttachment("dicom".into()))?;
        self.attachment_data(att).await
    }

    pub fn statistics(&self) -> Result<Counters> {
        Ok(self.node.reader().counters()?)
    }

    pub fn resource_statistics(&self, level: Level, id: &str) -> Result<ResourceStatistics> {
        self.resource_at(level, id)?;
        let mut stats = ResourceStatistics::default();
        if level < Level::Series {
            stats.series = self.descendants(id, Level::Series)?.len() as u64;
        }
        if level < Level::Study {
            stats.studies = self.descendants(id, Level::Study)?.len() as u64;
        }
        let instances = self.descendants(id, Level::Instance)?;
        stats.instances = instances.len() as u64;
        // The attachments of every resource of the subtree count (user
        // attachments can be at any level), as in Orthanc.
        let reader = self.node.reader();
        let mut subtree = vec![id.to_owned()];
        while let Some(current) = subtree.pop() {
            let Some(r) = reader.resource(&current)? else {
                continue;
            };
            let (disk, uncompressed) = super::attachments::sizes(&r);
            stats.disk_size += disk;
            stats.uncompressed_size += uncompressed;
            if r.level != Level::Instance {
                subtree.extend(reader.children(&current)?);
            }
        }
        Ok(stats)
    }

    /// `(changes, done, last)` as `/changes` answers them.
    pub fn changes(&self, since: u64, limit: usize) -> Result<(Vec<Change>, bool, u64)> {
        let reader = self.node.reader();
        let (changes, done) = reader.changes(since, limit)?;
        let last = match changes.last() {
            Some(c) => c.seq,
            None => reader.last_seq()?,
        };
        Ok((changes, done, last))
    }

    pub fn last_change(&self) -> Result<(Option<Change>, u64)> {
        let reader = self.node.reader();
        Ok((reader.last_change()?, reader.last_seq()?))
    }
}

impl Archive {
    /// Orthanc's MD5 of an attachment (`StoreMD5ForAttachments`), `None` when
    /// the configuration turns MD5s off. Computed from the (verified) blob when
    /// asked for rather than at every ingest: the blob is already named by its
    /// SHA-256, and the MD5 of immutable bytes never changes (ADR 006). Indexes
    /// written by earlier versions may carry a recorded one, used as is.
    pub async fn attachment_md5(
        &self,
        attachment: &crate::index::Attachment,
    ) -> Result<Option<String>> {
        if !attachment.md5.is_empty() {
            return Ok(Some(attachment.md5.clone()));
        }
        if !self.config.store_md5 {
            return Ok(None);
        }
        let bytes = self.attachment_data(attachment).await?;
        let md5 = tokio::task::spawn_blocking(move || {
            use md5::Digest;
            hex::encode(md5::Md5::digest(&bytes))
        })
        .await
        .map_err(|e| crate::blob::BlobError::from(std::io::Error::other(e)))?;
        Ok(Some(md5))
    }
}
