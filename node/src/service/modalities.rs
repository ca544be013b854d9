//! The modalities (DICOM peers) of the archive, replicated through the index so
//! every node sees the same list. `DicomModalities` of the configuration seeds
//! it at start-up; `PUT`/`DELETE /modalities/{name}` change it at run time.
//!
//! Both of Orthanc's JSON forms are accepted (`config::modality_from_json`);
//! answers use the object form.

use serde_json::{json, Value};

use super::{Archive, Result, ServiceError};
use crate::config;
use crate::index::{Command, CommandResponse, Modality};

/// Parses one modality definition in either of Orthanc's forms (the parser
/// of the configuration's `DicomModalities`).
pub fn modality_from_json(name: &str, value: &Value) -> Result<Modality> {
    config::modality_from_json(name, value).map_err(|reason| ServiceError::BadModality {
        name: name.to_owned(),
        reason,
    })
}

/// Orthanc's object form (`/modalities?expand`, `/modalities/{name}/configuration`).
pub fn modality_to_json(m: &Modality) -> Value {
    json!({
        "AET": m.aet,
        "AllowEcho": m.allow_echo,
        "AllowEventReport": m.allow_event_report,
        "AllowFind": m.allow_find,
        "AllowFindWorklist": m.allow_find_worklist,
        "AllowGet": m.allow_get,
        "AllowMove": m.allow_move,
        "AllowNAction": m.allow_n_action,
        "AllowStore": m.allow_store,
        "AllowTranscoding": m.allow_transcoding,
        "Host": m.host,
        "LocalAet": m.local_aet,
        "Manufacturer": m.manufacturer,
        "Port": m.port,
        "Timeout": m.timeout,
        "UseDicomTls": false,
    })
}

impl Archive {
    pub fn modalities(&self) -> Result<Vec<Modality>> {
        Ok(self.node.reader().modalities()?)
    }

    pub fn modality(&self, name: &str) -> Result<Modality> {
        self.node
            .reader()
            .modality(name)?
            .ok_or_else(|| ServiceError::UnknownModality(name.to_owned()))
    }

    /// The modality whose AE title is `aet` (compared as `StrictAetComparison`
    /// says: exactly, or case-insensitively by default).
    pub fn modality_by_aet(&self, aet: &str) -> Result<Option<Modality>> {
        let strict = self.config.dicom_scp.strict_aet_comparison;
        let aet = aet.trim();
        Ok(self.modalities()?.into_iter().find(|m| {
            if strict {
                m.aet == aet
            } else {
                m.aet.eq_ignore_ascii_case(aet)
            }
        }))
    }

    pub async fn put_modality(&self, modality: Modality) -> Result<()> {
        self.node.write(Command::PutModality { modality }).await?;
        Ok(())
    }

    pub async fn delete_modality(&self, name: &str) -> Result<()> {
        match self
            .node
            .write(Command::DeleteModality {
                name: name.to_owned(),
            })
            .await?
        {
            CommandResponse::UnknownResource => Err(ServiceError::UnknownModality(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// Writes the configuration's `DicomModalities` into the index (the
    /// configuration wins over run-time changes of the same names).
    pub async fn seed_modalities(&self) -> Result<usize> {
        let mut count = 0;
        for modality in &self.config.dicom_modalities {
            if self.node.reader().modality(&modality.name)?.as_ref() != Some(modality) {
                self.put_modality(modality.clone()).await?;
                count += 1;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_form_reads_back() {
        let long = modality_from_json(
            "ws",
            &json!({"AET": "WS", "Host": "10.0.0.2", "Port": "104", "AllowStore": false, "Manufacturer": "GE"}),
        )
        .unwrap();
        assert_eq!(
            modality_from_json("ws", &modality_to_json(&long)).unwrap(),
            long
        );
    }

    #[test]
    fn bad_definitions_are_bad_modalities() {
        match modality_from_json("m", &json!(["PACS", "host", 70000])) {
            Err(ServiceError::BadModality { name, reason }) => {
                assert_eq!(name, "m");
                assert!(reason.contains("70000"), "{reason}");
            }
            other => panic!("expected a bad modality, got {other:?}"),
        }
    }
}
