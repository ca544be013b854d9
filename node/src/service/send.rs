//! Sending stored instances to a remote modality over C-STORE: the one use
//! case behind `POST /modalities/{m}/store`, C-MOVE's sub-operations and Lua's
//! `SendToModality`, over the protocol-only client `isengard_dimse::scu`.
//! Files are read from the blob store one at a time, never a whole study at
//! once.

use std::time::Duration;

use bytes::Bytes;
use isengard_dimse::scu::{ScuError, StoreItem, StoreSession, Target};
use isengard_dimse::uids;

use super::{Archive, Result, ServiceError};
use crate::index::{Level, Modality, Resource};

/// How `POST /modalities/{m}/store` (and Lua) send: Orthanc's options.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// `LocalAet`: the calling AE title, instead of the modality's or `DicomAet`.
    pub local_aet: Option<String>,
    /// `Timeout` in seconds, instead of the modality's or `DicomScuTimeout`.
    pub timeout: Option<u64>,
    /// `MoveOriginatorAet` and `MoveOriginatorID`.
    pub move_originator: Option<(String, u16)>,
    /// `Permissive`: go on after an instance fails.
    pub permissive: bool,
}

/// What a send did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// The calling AE title used.
    pub local_aet: String,
    /// Instances stored (including with a warning status).
    pub sent: usize,
    /// Instances refused or not sent.
    pub failed: usize,
}

/// An open C-STORE association to a modality, for a known list of instances.
pub struct ModalitySender<'a> {
    archive: &'a Archive,
    session: StoreSession,
    remote_aet: String,
}

impl ModalitySender<'_> {
    /// Sends one stored instance; `Ok(status)` is the peer's status (success
    /// or warning).
    pub async fn send(&mut self, instance_id: &str) -> Result<u16> {
        let (item, file) = self.archive.outgoing_instance(instance_id).await?;
        let sent = self.session.send(&item, &file).await;
        sent.map_err(|source| scu_error(&self.remote_aet, source))
    }

    pub async fn close(self) {
        self.session.close().await;
    }
}

/// A failed exchange with the AE titled `aet`.
pub fn scu_error(aet: &str, source: ScuError) -> ServiceError {
    ServiceError::Scu {
        aet: aet.to_owned(),
        source,
    }
}

impl Archive {
    /// The instances of the resources `ids` (any level), each once, in order.
    pub fn instances_of(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            let resource = self.resource(id.trim())?;
            let instances = if resource.level == Level::Instance {
                vec![resource.id.clone()]
            } else {
                self.descendants(&resource.id, Level::Instance)?
            };
            for i in instances {
                if seen.insert(i.clone()) {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }

    /// The association parameters towards `modality`, as Orthanc: `local_aet`,
    /// else the modality's `LocalAet`, else `DicomAet`; `timeout`, else the
    /// modality's `Timeout`, else `DicomScuTimeout` (default 10 s).
    pub fn scu_target(
        &self,
        modality: &Modality,
        local_aet: Option<&str>,
        timeout: Option<u64>,
    ) -> Target {
        let local_aet = match local_aet.filter(|a| !a.is_empty()) {
            Some(aet) => aet,
            None if modality.local_aet.is_empty() => self.config.dicom_aet.as_str(),
            None => modality.local_aet.as_str(),
        };
        let seconds = match timeout.filter(|t| *t > 0) {
            Some(t) => t,
            None if modality.timeout > 0 => modality.timeout,
            None => self.config.dicom_scu_timeout,
        };
        Target {
            local_aet: local_aet.to_owned(),
            remote_aet: modality.aet.clone(),
            host: modality.host.clone(),
            port: modality.port,
            timeout: Duration::from_secs(seconds.max(1)),
        }
    }

    /// What C-STORE needs of a stored instance, and its file.
    pub async fn outgoing_instance(&self, instance_id: &str) -> Result<(StoreItem, Bytes)> {
        let r = self.resource_at(Level::Instance, instance_id)?;
        let file = self.file_of(&r).await?;
        Ok((store_item(&r), file))
    }
}

/// What C-STORE needs of a stored instance: its UIDs and transfer syntax
/// (implicit little endian when the index recorded none).
fn store_item(r: &Resource) -> StoreItem {
    let get = |k: &str| r.metadata.get(k).cloned().unwrap_or_default();
    let transfer_syntax = match get("TransferSyntax") {
        t if t.is_empty() => uids::IMPLICIT_LE.to_owned(),
        t => t,
    };
    let sop_instance = r
        .main_tags
        .get("SOPInstanceUID")
        .cloned()
        .unwrap_or_default();
    StoreItem {
        sop_class: get("SopClassUid"),
        sop_instance,
        transfer_syntax,
    }
}

impl Archive {
    /// Opens a C-STORE association to `target`, negotiating what `instances`
    /// need; a C-MOVE marks its sub-operations with `move_originator`.
    pub async fn open_sender(
        &self,
        target: &Target,
        instances: &[String],
        move_originator: Option<(&str, u16)>,
    ) -> Result<ModalitySender<'_>> {
        let items = instances
            .iter()
            .map(|id| Ok(store_item(&self.resource_at(Level::Instance, id)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut session = StoreSession::open(target, &items)
            .await
            .map_err(|source| scu_error(&target.remote_aet, source))?;
        if let Some((aet, id)) = move_originator {
            session = session.with_move_originator(aet, id);
        }
        Ok(ModalitySender {
            archive: self,
            session,
            remote_aet: target.remote_aet.clone(),
        })
    }

    /// Sends `instances` to `modality` on one association. Without
    /// `permissive`, the first failure ends the send and is the answer; with
    /// it, failures are counted, except a broken association, which ends it.
    #[tracing::instrument(skip_all, fields(aet = %modality.aet, count = instances.len()))]
    pub async fn send_to_modality(
        &self,
        modality: &Modality,
        instances: &[String],
        options: &SendOptions,
    ) -> Result<SendReport> {
        let target = self.scu_target(modality, options.local_aet.as_deref(), options.timeout);
        let mut report = SendReport {
            local_aet: target.local_aet.clone(),
            ..Default::default()
        };
        if instances.is_empty() {
            return Ok(report);
        }
        let originator = options
            .move_originator
            .as_ref()
            .map(|(aet, id)| (aet.as_str(), *id));
        let mut sender = self.open_sender(&target, instances, originator).await?;
        let mut first_error = None;
        for id in instances {
            match sender.send(id).await {
                Ok(_) => report.sent += 1,
                Err(e) => {
                    report.failed += 1;
                    let fatal = matches!(
                        e,
                        ServiceError::Scu {
                            source: ScuError::Timeout | ScuError::Protocol(_),
                            ..
                        }
                    );
                    first_error.get_or_insert(e);
                    if fatal || !options.permissive {
                        break;
                    }
                }
            }
        }
        sender.close().await;
        match first_error.filter(|_| !options.permissive) {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

impl Archive {
    /// `store-straight`: sends a file as it is (not stored here) by C-STORE
    /// on its own association; answers its SOP class and instance UIDs. A
    /// body that is no DICOM file is refused before connecting.
    pub async fn store_straight(
        &self,
        modality: &Modality,
        file: Bytes,
    ) -> Result<(String, String)> {
        let parsed = crate::dicom::parse(&file)?;
        let sop_instance = parsed
            .instance_tags
            .get("SOPInstanceUID")
            .cloned()
            .unwrap_or_default();
        let item = StoreItem {
            sop_class: parsed.sop_class_uid.clone(),
            sop_instance: sop_instance.clone(),
            transfer_syntax: parsed.transfer_syntax.clone(),
        };
        let target = self.scu_target(modality, None, None);
        let mut session = StoreSession::open(&target, std::slice::from_ref(&item))
            .await
            .map_err(|source| scu_error(&target.remote_aet, source))?;
        let sent = session.send(&item, &file).await;
        session.close().await;
        sent.map_err(|source| scu_error(&target.remote_aet, source))?;
        Ok((parsed.sop_class_uid, sop_instance))
    }
}
