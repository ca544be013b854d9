//! The DICOM SCP: the accept loop on `DicomPort`, association negotiation and
//! Orthanc's AE title rules.
//!
//! - The called AE title must be `DicomAet` only if `DicomCheckCalledAet`.
//! - A calling AE title that is no known modality is rejected at once unless
//!   one of `DicomAlwaysAllowEcho`, `DicomAlwaysAllowStore` (both true by
//!   default), `DicomAlwaysAllowFind`, `DicomAlwaysAllowMove`,
//!   `DicomAlwaysAllowGet` is set, as Orthanc's `IsAllowedConnection`; what
//!   each request may do is checked per message ([`Policy::allows`]).
//! - At most `Isengard.DicomMaxAssociations` (default 64) associations run at
//!   once; beyond that, new ones are rejected (transient).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dicom_ul::association::server::{AccessControl, Negotiation};
use dicom_ul::pdu::{AssociationRJServiceUserReason, RequestorRoles, UserIdentity};
use dicom_ul::ServerAssociationOptions;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::config::DicomScpConfig;
use crate::index::Modality;
use crate::service::Archive;
use isengard_dimse::uids;

/// The DIMSE requests an AE title may be allowed to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Echo,
    Store,
    Find,
    Move,
    Get,
}

/// Orthanc's DICOM security options: this node's AE title and the server's
/// options of the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    pub aet: String,
    pub scp: DicomScpConfig,
}

impl Policy {
    pub fn from_archive(archive: &Archive) -> Policy {
        let config = archive.config();
        Policy {
            aet: config.dicom_aet.clone(),
            scp: config.dicom_scp.clone(),
        }
    }

    /// Orthanc's `IsAllowedConnection`: with any `DicomAlwaysAllow*`, every
    /// calling AE title may associate (what it may do is checked per request).
    pub fn anyone_may_connect(&self) -> bool {
        let s = &self.scp;
        s.always_allow_echo
            || s.always_allow_store
            || s.always_allow_find
            || s.always_allow_move
            || s.always_allow_get
    }

    fn aet_eq(&self, a: &str, b: &str) -> bool {
        if self.scp.strict_aet_comparison {
            a.trim() == b.trim()
        } else {
            a.trim().eq_ignore_ascii_case(b.trim())
        }
    }

    /// The known modality this calling AE (and, with `DicomCheckModalityHost`,
    /// this address) designates.
    pub fn modality(
        &self,
        archive: &Archive,
        calling_aet: &str,
        remote_ip: Option<&str>,
    ) -> Option<Modality> {
        let m = archive.modality_by_aet(calling_aet).ok().flatten()?;
        if self.scp.check_modality_host {
            if let Some(ip) = remote_ip {
                if m.host != ip {
                    return None;
                }
            }
        }
        Some(m)
    }

    /// Orthanc's `IsAllowedRequest`.
    pub fn allows(
        &self,
        archive: &Archive,
        calling_aet: &str,
        remote_ip: &str,
        request: Request,
    ) -> bool {
        match request {
            Request::Echo if self.scp.always_allow_echo => return true,
            Request::Store if self.scp.always_allow_store => return true,
            Request::Find if self.scp.always_allow_find => return true,
            Request::Move if self.scp.always_allow_move => return true,
            Request::Get if self.scp.always_allow_get => return true,
            _ => {}
        }
        match self.modality(archive, calling_aet, Some(remote_ip)) {
            None => false,
            Some(m) => match request {
                Request::Echo => m.allow_echo,
                Request::Store => m.allow_store,
                Request::Find => m.allow_find,
                Request::Move => m.allow_move,
                Request::Get => m.allow_get,
            },
        }
    }
}

/// AE title checks made while negotiating.
pub(super) struct Access {
    archive: Archive,
    policy: Arc<Policy>,
}

impl AccessControl for Access {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let p = &self.policy;
        if p.scp.check_called_aet && !p.aet_eq(called_ae_title, &p.aet) {
            tracing::warn!(
                called_ae_title,
                "association rejected: called AE title is not ours"
            );
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !p.anyone_may_connect() && p.modality(&self.archive, calling_ae_title, None).is_none() {
            tracing::warn!(
                calling_ae_title,
                "association rejected: unknown calling AE title"
            );
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// Rejects everything (the association limit is reached).
struct Busy;

impl AccessControl for Busy {
    fn check_access(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        Err(AssociationRJServiceUserReason::NoReasonGiven)
    }
}

/// Accepts the SCP role for storage SOP classes (C-GET sub-operations).
#[derive(Debug, Clone, Copy)]
pub struct Roles;

impl Negotiation for Roles {
    fn negotiate_roles(
        &self,
        sop_class_uid: &str,
        scu_role: bool,
        scp_role: bool,
    ) -> Option<RequestorRoles> {
        let _ = sop_class_uid;
        Some(RequestorRoles {
            scu: scu_role,
            scp: scp_role,
        })
    }
}

pub(super) type Options = ServerAssociationOptions<'static, Access, Roles>;

/// The negotiation of one association, under the runtime settings of the
/// moment (`/tools/accepted-transfer-syntaxes`, `/tools/unknown-sop-class-accepted`).
fn options(archive: &Archive, policy: &Arc<Policy>) -> Options {
    let promiscuous = archive
        .unknown_sop_class_accepted()
        .unwrap_or(policy.scp.unknown_sop_class_accepted);
    let accepted = archive
        .accepted_transfer_syntaxes()
        .unwrap_or_else(|_| policy.scp.accepted_transfer_syntaxes.clone());
    let mut o = ServerAssociationOptions::new()
        .ae_access_control(Access {
            archive: archive.clone(),
            policy: policy.clone(),
        })
        .with_negotiation(Roles)
        .ae_title(policy.aet.clone())
        .max_pdu_length(policy.scp.maximum_pdu_length)
        .strict(false)
        .promiscuous(promiscuous)
        .with_abstract_syntax(uids::VERIFICATION);
    for class in uids::QUERY_RETRIEVE.iter().chain(uids::STORAGE_SOP_CLASSES) {
        o = o.with_abstract_syntax(*class);
    }
    // Verification and query/retrieve need an uncompressed syntax whatever
    // storage accepts.
    for ts in uids::UNCOMPRESSED.iter().chain(&accepted) {
        o = o.with_transfer_syntax(*ts);
    }
    if let Some(t) = policy.scp.timeout {
        o = o.read_timeout(t).write_timeout(t);
    }
    o
}

/// Serves DICOM associations on `listener` until `stop` turns true.
pub async fn serve(archive: Archive, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let policy = Arc::new(Policy::from_archive(&archive));
    let limit = Arc::new(Semaphore::new(policy.scp.max_associations));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (socket, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a DICOM connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let _ = socket.set_nodelay(true);
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let options = options(&archive, &policy);
                let archive = archive.clone();
                let policy = policy.clone();
                tasks.spawn(async move {
                    let metrics = archive.metrics.clone();
                    let _association = metrics.dicom_association();
                    super::association::run(archive, policy, &options, socket, peer).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, "too many DICOM associations: rejecting one");
                let busy = ServerAssociationOptions::new()
                    .ae_access_control(Busy)
                    .with_abstract_syntax(uids::VERIFICATION)
                    .read_timeout(Duration::from_secs(5));
                tasks.spawn(async move {
                    let _ = busy.establish_async(socket).await;
                });
            }
        }
    }
    tasks.shutdown().await;
}
