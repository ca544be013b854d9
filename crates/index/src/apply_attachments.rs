//! Applying the attachment commands ([`Command::SetAttachment`],
//! [`Command::DeleteAttachment`]): the precondition (Orthanc's revisions) is
//! checked here, when the command is applied, so that two writers racing on
//! one attachment cannot both succeed; blob references and the archive's
//! disk-size counters move with the attachment.

use super::apply::{get_resource, Applier, ApplyError};
use super::model::*;

type Result<T> = std::result::Result<T, ApplyError>;

/// Whether `current` satisfies `expect`.
fn holds(expect: &Expect, current: Option<&Attachment>) -> bool {
    match (expect, current) {
        (Expect::Any, _) => true,
        (Expect::Absent, None) => true,
        (Expect::Absent, Some(_)) => false,
        (Expect::Revision { revision, md5 }, Some(a)) => a.revision == *revision && a.md5 == *md5,
        (Expect::Blob { hash }, Some(a)) => a.hash == *hash,
        (_, None) => false,
    }
}

impl Applier<'_> {
    pub(crate) fn set_attachment(
        &mut self,
        id: &str,
        name: &str,
        new: &Attachment,
        expect: &Expect,
        stamp: &Stamp,
        holders: &[u64],
    ) -> Result<CommandResponse> {
        let Some(mut r) = get_resource(self.db_ref(), id)? else {
            return Ok(CommandResponse::UnknownResource);
        };
        if self.blob_state(&new.hash)?.as_deref() == Some(b"deleting".as_slice()) {
            return Ok(CommandResponse::BlobBusy);
        }
        let old = r.attachments.get(name).cloned();
        if !holds(expect, old.as_ref()) {
            return Ok(CommandResponse::Conflict);
        }
        let mut stored = new.clone();
        stored.revision = old.as_ref().map_or(0, |a| a.revision + 1);
        self.add_blob_ref(&new.hash, 1)?;
        if !holders.is_empty() {
            self.update_holders(&new.hash, holders, &[])?;
        }
        if let Some(old) = &old {
            self.release(old)?;
        }
        let c = &mut self.meta.counters;
        c.disk_size += stored.size;
        c.uncompressed_size += stored.uncompressed_size;
        let revision = stored.revision;
        r.attachments.insert(name.to_owned(), stored);
        self.put_resource(&r)?;
        self.add_change(ChangeType::UpdatedAttachment, r.level, id, &stamp.date)?;
        Ok(CommandResponse::Revision(revision))
    }

    pub(crate) fn delete_attachment(
        &mut self,
        id: &str,
        name: &str,
        expect: &Expect,
        stamp: &Stamp,
    ) -> Result<CommandResponse> {
        let Some(mut r) = get_resource(self.db_ref(), id)? else {
            return Ok(CommandResponse::UnknownResource);
        };
        let Some(old) = r.attachments.get(name).cloned() else {
            return Ok(CommandResponse::UnknownAttachment);
        };
        if !holds(expect, Some(&old)) {
            return Ok(CommandResponse::Conflict);
        }
        self.release(&old)?;
        r.attachments.remove(name);
        self.put_resource(&r)?;
        self.add_change(ChangeType::UpdatedAttachment, r.level, id, &stamp.date)?;
        Ok(CommandResponse::Done)
    }

    /// The counters and the blob reference of an attachment that goes away.
    fn release(&mut self, old: &Attachment) -> Result<()> {
        let c = &mut self.meta.counters;
        c.disk_size = c.disk_size.saturating_sub(old.size);
        c.uncompressed_size = c.uncompressed_size.saturating_sub(old.uncompressed_size);
        self.add_blob_ref(&old.hash, -1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(hash: &str, revision: u64) -> Attachment {
        Attachment {
            hash: hash.into(),
            md5: "m".into(),
            revision,
            ..Default::default()
        }
    }

    #[test]
    fn preconditions_are_orthancs_revisions() {
        let a = att("h", 2);
        assert!(holds(&Expect::Any, None));
        assert!(holds(&Expect::Absent, None));
        assert!(!holds(&Expect::Absent, Some(&a)));
        let rev = |revision, md5: &str| Expect::Revision {
            revision,
            md5: md5.into(),
        };
        assert!(holds(&rev(2, "m"), Some(&a)));
        assert!(!holds(&rev(1, "m"), Some(&a)));
        assert!(!holds(&rev(2, "x"), Some(&a)));
        assert!(!holds(&rev(0, "m"), None));
        assert!(holds(&Expect::Blob { hash: "h".into() }, Some(&a)));
        assert!(!holds(&Expect::Blob { hash: "g".into() }, Some(&a)));
    }
}
