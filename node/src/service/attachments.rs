//! Attachments of any resource: the DICOM file of an instance and the user
//! attachments (content types 1024 to 65535, by number or by a name of
//! `UserContentType`), with Orthanc 1.10's revisions (`If-Match`) and its
//! storage compression (`/compress`, `/uncompress`: the blob becomes Orthanc's
//! zlib form, an 8-byte little-endian size then a zlib stream, as
//! `/compressed-data` shows it).
//!
//! Each write stores the new blob durably first, then proposes one
//! `SetAttachment` / `DeleteAttachment` whose precondition is checked when it
//! is applied; the old blob is left to the garbage collector.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use md5::Digest;

use super::{now_stamp, Archive, Result, ServiceError};
use crate::index::{Attachment, Command, CommandResponse, Expect, Level, Resource};

/// Orthanc's content type of the DICOM file.
pub const DICOM: u16 = 1;
/// The first content type clients may write.
pub const FIRST_USER_TYPE: u16 = 1024;

/// How often a write waits for the garbage collector to let a blob go.
const BLOB_BUSY_RETRIES: usize = 50;

/// Orthanc's built-in content types and their names.
const BUILTIN: &[(u16, &str)] = &[
    (1, "dicom"),
    (2, "dicom-as-json"),
    (3, "dicom-until-pixel-data"),
];

/// Why an attachment operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// A content type clients may not write (the DICOM file, a number below
    /// 1024 or above 65535): Orthanc answers 403.
    #[error("attachment {0} is not a user attachment")]
    Forbidden(String),
    /// An `If-Match` that does not hold, or none while `CheckRevisions` wants one.
    #[error("{}", .0.as_deref().unwrap_or("A bad revision number was provided"))]
    Revision(Option<String>),
    /// A stored compressed blob that does not inflate.
    #[error("compressed attachment {0} cannot be inflated")]
    Corrupt(String),
}

/// One attachment as the REST API shows it.
#[derive(Debug, Clone)]
pub struct NamedAttachment {
    pub name: String,
    pub content_type: u16,
    pub attachment: Attachment,
}

impl Archive {
    /// The content type a name stands for: a built-in name, a number, or a
    /// name declared in `UserContentType`.
    pub fn content_type(&self, name: &str) -> Option<u16> {
        if let Some((t, _)) = BUILTIN.iter().find(|(_, n)| *n == name) {
            return Some(*t);
        }
        if let Some((t, _)) = self.config.user_content_types.get(name) {
            return Some(*t);
        }
        name.parse::<u16>().ok().filter(|t| *t > 0)
    }

    /// The name Orthanc shows for a content type.
    pub fn content_type_name(&self, content_type: u16) -> String {
        if let Some((_, n)) = BUILTIN.iter().find(|(t, _)| *t == content_type) {
            return (*n).to_owned();
        }
        self.config
            .user_content_types
            .iter()
            .find(|(_, (t, _))| *t == content_type)
            .map_or_else(|| content_type.to_string(), |(n, _)| n.clone())
    }

    /// The MIME type `/data` answers with (`UserContentType`'s second member).
    pub fn content_mime(&self, content_type: u16) -> Option<String> {
        self.config
            .user_content_types
            .values()
            .find(|(t, _)| *t == content_type)
            .and_then(|(_, mime)| mime.clone())
    }

    /// The attachments of a resource, in content-type order.
    pub fn attachments(&self, level: Level, id: &str) -> Result<Vec<NamedAttachment>> {
        let r = self.resource_at(level, id)?;
        let mut out: Vec<NamedAttachment> = r
            .attachments
            .iter()
            .filter_map(|(key, a)| {
                let t = self.content_type(key)?;
                Some(NamedAttachment {
                    name: self.content_type_name(t),
                    content_type: t,
                    attachment: a.clone(),
                })
            })
            .collect();
        out.sort_by_key(|a| a.content_type);
        Ok(out)
    }

    /// One attachment by name or number.
    pub fn attachment(&self, level: Level, id: &str, name: &str) -> Result<NamedAttachment> {
        let r = self.resource_at(level, id)?;
        let unknown = || ServiceError::UnknownAttachment(name.to_owned());
        let t = self.content_type(name).ok_or_else(unknown)?;
        let attachment = r.attachments.get(&key_of(t)).cloned().ok_or_else(unknown)?;
        Ok(NamedAttachment {
            name: self.content_type_name(t),
            content_type: t,
            attachment,
        })
    }

    /// The uncompressed content of an attachment.
    pub async fn attachment_data(&self, a: &Attachment) -> Result<Bytes> {
        self.read_stored(&a.hash, a.compressed).await
    }

    /// The uncompressed content of a blob stored compressed or not.
    pub async fn read_stored(&self, hash: &str, compressed: bool) -> Result<Bytes> {
        let stored = self.read_blob(hash).await?;
        if !compressed {
            return Ok(stored);
        }
        let hash = hash.to_owned();
        tokio::task::spawn_blocking(move || inflate(&stored).ok_or(hash))
            .await
            .map_err(|e| crate::blob::BlobError::from(std::io::Error::other(e)))?
            .map(Bytes::from)
            .map_err(|hash| AttachmentError::Corrupt(hash).into())
    }

    /// The MD5 of the stored bytes (Orthanc's `CompressedMD5`).
    pub async fn attachment_compressed_md5(&self, a: &Attachment) -> Result<Option<String>> {
        if !a.compressed {
            return self.attachment_md5(a).await;
        }
        if !self.config.store_md5 {
            return Ok(None);
        }
        let bytes = self.read_blob(&a.hash).await?;
        Ok(Some(hex::encode(md5::Md5::digest(&bytes))))
    }

    /// Adds or replaces a user attachment. `if_match` is the `If-Match`
    /// header's `(revision, md5)`; without one, an existing attachment is a
    /// conflict when `CheckRevisions` is on. Answers the new revision and MD5.
    pub async fn put_attachment(
        &self,
        level: Level,
        id: &str,
        name: &str,
        bytes: Bytes,
        if_match: Option<(u64, String)>,
    ) -> Result<(u64, String)> {
        let t = self.writable_type(level, id, name)?;
        let expect = self.expectation(if_match, true);
        let md5 = hex::encode(md5::Md5::digest(&bytes));
        let attachment = Attachment {
            size: bytes.len() as u64,
            uncompressed_size: bytes.len() as u64,
            md5: md5.clone(),
            ..Default::default()
        };
        let (stored, _) = self
            .write_attachment(id, t, attachment, bytes, expect)
            .await?;
        Ok((stored, md5))
    }

    /// Deletes a user attachment (`If-Match` as for [`Archive::put_attachment`]).
    pub async fn delete_attachment(
        &self,
        level: Level,
        id: &str,
        name: &str,
        if_match: Option<(u64, String)>,
    ) -> Result<()> {
        let t = self.writable_type(level, id, name)?;
        let expect = self.expectation(if_match, false);
        let command = Command::DeleteAttachment {
            id: id.to_owned(),
            name: key_of(t),
            expect,
            stamp: now_stamp(),
        };
        match self.node.write(command).await? {
            CommandResponse::Done => Ok(()),
            CommandResponse::Conflict => Err(AttachmentError::Revision(None).into()),
            CommandResponse::UnknownResource => Err(ServiceError::UnknownResource(id.into())),
            _ => Err(ServiceError::UnknownResource(id.into())),
        }
    }

    /// `/compress` and `/uncompress`: rewrites the blob in the wanted form
    /// (nothing to do when it already is).
    pub async fn set_compression(
        &self,
        level: Level,
        id: &str,
        name: &str,
        compressed: bool,
    ) -> Result<()> {
        let current = self.attachment(level, id, name)?;
        let old = current.attachment;
        if old.compressed == compressed {
            return Ok(());
        }
        let data = self.attachment_data(&old).await?;
        let md5 = match self.attachment_md5(&old).await? {
            Some(m) => m,
            None => hex::encode(md5::Md5::digest(&data)),
        };
        let stored = if compressed {
            let data = data.clone();
            tokio::task::spawn_blocking(move || deflate(&data))
                .await
                .map_err(|e| crate::blob::BlobError::from(std::io::Error::other(e)))?
        } else {
            data.clone()
        };
        let attachment = Attachment {
            size: stored.len() as u64,
            uncompressed_size: data.len() as u64,
            md5,
            compressed,
            ..Default::default()
        };
        let expect = Expect::Blob {
            hash: old.hash.clone(),
        };
        self.write_attachment(id, current.content_type, attachment, stored, expect)
            .await?;
        Ok(())
    }

    /// Stores `bytes` durably, then proposes the attachment (`hash` filled in).
    async fn write_attachment(
        &self,
        id: &str,
        content_type: u16,
        mut attachment: Attachment,
        bytes: Bytes,
        expect: Expect,
    ) -> Result<(u64, Attachment)> {
        for _ in 0..BLOB_BUSY_RETRIES {
            let (stored, holders) = self.store_blob(bytes.clone()).await?;
            attachment.hash = stored.hash;
            let command = Command::SetAttachment {
                id: id.to_owned(),
                name: key_of(content_type),
                attachment: attachment.clone(),
                expect: expect.clone(),
                stamp: now_stamp(),
                holders,
            };
            match self.node.write(command).await? {
                CommandResponse::Revision(r) => return Ok((r, attachment)),
                CommandResponse::Conflict => return Err(AttachmentError::Revision(None).into()),
                CommandResponse::BlobBusy => tokio::time::sleep(Duration::from_millis(100)).await,
                _ => return Err(ServiceError::UnknownResource(id.into())),
            }
        }
        Err(ServiceError::BlobBusy(id.to_owned()))
    }

    /// The content type of a user attachment clients may write, once the
    /// resource is known to exist.
    fn writable_type(&self, level: Level, id: &str, name: &str) -> Result<u16> {
        self.resource_at(level, id)?;
        let t = match self.content_type(name) {
            Some(t) => t,
            // Any number (out of range too) is refused as not writable;
            // another name is unknown.
            None if name.parse::<u64>().is_ok() => {
                return Err(AttachmentError::Forbidden(name.into()).into())
            }
            None => return Err(ServiceError::UnknownAttachment(name.into())),
        };
        if t < FIRST_USER_TYPE {
            return Err(AttachmentError::Forbidden(name.into()).into());
        }
        Ok(t)
    }

    fn expectation(&self, if_match: Option<(u64, String)>, creating: bool) -> Expect {
        match if_match {
            Some((revision, md5)) => Expect::Revision { revision, md5 },
            None if self.config.check_revisions && creating => Expect::Absent,
            None => Expect::Any,
        }
    }

    /// Whether `DELETE` without `If-Match` is refused (`CheckRevisions`).
    pub fn revisions_checked(&self) -> bool {
        self.config.check_revisions
    }
}

/// The key of a content type in a resource's attachments (`dicom` for the
/// DICOM file, the number for the others, whatever their configured name).
pub fn key_of(content_type: u16) -> String {
    match BUILTIN.iter().find(|(t, _)| *t == content_type) {
        Some((_, n)) => (*n).to_owned(),
        None => content_type.to_string(),
    }
}

/// Orthanc's `ZlibCompressor` with its size prefix.
pub fn deflate(data: &[u8]) -> Bytes {
    let mut out = (data.len() as u64).to_le_bytes().to_vec();
    let mut z = flate2::write::ZlibEncoder::new(&mut out, flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(data);
    let _ = z.finish();
    Bytes::from(out)
}

/// The inverse of [`deflate`]; `None` when the bytes are not in that form.
pub fn inflate(stored: &[u8]) -> Option<Vec<u8>> {
    if stored.len() < 8 {
        return None;
    }
    let size = u64::from_le_bytes(stored[..8].try_into().ok()?);
    let mut out = Vec::with_capacity(size.min(1 << 30) as usize);
    flate2::read::ZlibDecoder::new(&stored[8..])
        .read_to_end(&mut out)
        .ok()?;
    (out.len() as u64 == size).then_some(out)
}

/// Every attachment size below and at a resource, as `/statistics` adds them.
pub(super) fn sizes(r: &Resource) -> (u64, u64) {
    r.attachments
        .values()
        .fold((0, 0), |(d, u), a| (d + a.size, u + a.uncompressed_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_orthancs_zlib_with_a_size_prefix() {
        let z = deflate(b"hello");
        // What Orthanc 1.10.1 stores for "hello" (its /compressed-data).
        assert_eq!(
            hex::encode(&z),
            "0500000000000000789ccb48cdc9c90700062c0215"
        );
        assert_eq!(inflate(&z).unwrap(), b"hello");
        assert!(inflate(b"short").is_none());
        let mut bad = z.to_vec();
        bad[0] = 9;
        assert!(inflate(&bad).is_none());
    }
}
