//! The DICOM server's (SCP's) options, as Orthanc names them, and the
//! modalities the configuration declares (`DicomModalities`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::keys::{self, Key};
use super::modalities::modality_from_json;
use super::values::{boolean, integer, invalid, object, COUNT, SECONDS};
use super::ConfigError;
use crate::index::Modality;
use isengard_dimse::uids;

/// Orthanc's default `DicomScpTimeout`, in seconds.
pub const DEFAULT_SCP_TIMEOUT: u64 = 30;
/// Orthanc's default `MaximumPduLength`.
pub const DEFAULT_MAXIMUM_PDU_LENGTH: u32 = 16384;
/// The smallest and largest `MaximumPduLength` (a value outside is brought back in).
pub const PDU_LENGTH_RANGE: (u32, u32) = (4096, 131072);
/// The default `Isengard.DicomMaxAssociations`.
pub const DEFAULT_MAX_ASSOCIATIONS: usize = 64;

/// What the DICOM server accepts, and from whom.
///
/// A calling AE title that is no known modality may associate if any
/// `always_allow_*` is set (Orthanc's `IsAllowedConnection`); what each request
/// may then do is checked per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomScpConfig {
    /// `"DicomCheckCalledAet"`: refuse associations whose called AE title is
    /// not `DicomAet`. Default false.
    pub check_called_aet: bool,
    /// `"DicomAlwaysAllowEcho"`: C-ECHO from any AE title. Default true.
    pub always_allow_echo: bool,
    /// `"DicomAlwaysAllowStore"`: C-STORE from any AE title. Default true.
    pub always_allow_store: bool,
    /// `"DicomAlwaysAllowFind"`: C-FIND from any AE title. Default false.
    pub always_allow_find: bool,
    /// `"DicomAlwaysAllowMove"`: C-MOVE from any AE title. Default false.
    pub always_allow_move: bool,
    /// `"DicomAlwaysAllowGet"`: C-GET from any AE title. Default false.
    pub always_allow_get: bool,
    /// `"DicomCheckModalityHost"`: a calling AE title designates a modality only
    /// from that modality's host. Default false.
    pub check_modality_host: bool,
    /// `"StrictAetComparison"`: AE titles are compared exactly (otherwise
    /// case-insensitively) when the server looks a modality up. Default false.
    pub strict_aet_comparison: bool,
    /// `"UnknownSopClassAccepted"`: accept any abstract syntax (as storage), not
    /// only the standard storage SOP classes. Default false.
    pub unknown_sop_class_accepted: bool,
    /// `"DicomScpTimeout"`: inactivity timeout of incoming associations;
    /// `None` for 0 (no timeout). Default 30 seconds.
    pub timeout: Option<Duration>,
    /// `"MaximumPduLength"`: the largest PDU the server receives, brought into
    /// [`PDU_LENGTH_RANGE`]. Default 16384.
    pub maximum_pdu_length: u32,
    /// `"Isengard"."DicomMaxAssociations"`: associations served at once (at
    /// least 1); beyond it, new ones are rejected. Default 64.
    pub max_associations: usize,
    /// `"AcceptedTransferSyntaxes"` (UID patterns with `*` and `?`, default
    /// every known syntax) less the groups a `*TransferSyntaxAccepted: false`
    /// switches off: the transfer syntaxes accepted for storage until
    /// `/tools/accepted-transfer-syntaxes` changes them.
    pub accepted_transfer_syntaxes: Vec<&'static str>,
}

/// The `*TransferSyntaxAccepted` keys, by the name `uids::TRANSFER_SYNTAX_GROUPS` uses.
const TS_GROUP_KEYS: [Key; 9] = [
    keys::DEFLATED_TS_ACCEPTED,
    keys::JPEG_TS_ACCEPTED,
    keys::JPEG2000_TS_ACCEPTED,
    keys::JPEG_LOSSLESS_TS_ACCEPTED,
    keys::JPIP_TS_ACCEPTED,
    keys::MPEG2_TS_ACCEPTED,
    keys::MPEG4_TS_ACCEPTED,
    keys::H265_TS_ACCEPTED,
    keys::RLE_TS_ACCEPTED,
];

const PATTERNS: &str = "a transfer syntax UID pattern or a list of them";

fn resolve_accepted_transfer_syntaxes(
    root: &Map<String, Value>,
) -> Result<Vec<&'static str>, ConfigError> {
    let patterns: Vec<String> = match super::values::value(root, keys::ACCEPTED_TRANSFER_SYNTAXES) {
        None => vec!["*".to_owned()],
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid(keys::ACCEPTED_TRANSFER_SYNTAXES.path(), PATTERNS, &Value::Array(items.clone()))
            })?,
        Some(other) => return Err(invalid(keys::ACCEPTED_TRANSFER_SYNTAXES.path(), PATTERNS, other)),
    };
    let mut accepted = uids::matching_transfer_syntaxes(&patterns);
    for key in TS_GROUP_KEYS {
        if boolean(root, key)? == Some(false) {
            if let Some((_, group)) = uids::TRANSFER_SYNTAX_GROUPS
                .iter()
                .find(|(name, _)| *name == key.path())
            {
                accepted.retain(|ts| !group.contains(ts));
            }
        }
    }
    Ok(accepted)
}

/// Resolves the server's options from the top level and the `Isengard` section.
pub(super) fn resolve_dicom_scp(
    root: &Map<String, Value>,
    isengard: &Map<String, Value>,
) -> Result<DicomScpConfig, ConfigError> {
    let flag =
        |key: Key, default: bool| Ok::<_, ConfigError>(boolean(root, key)?.unwrap_or(default));
    let timeout = integer(root, keys::DICOM_SCP_TIMEOUT, SECONDS)?.unwrap_or(DEFAULT_SCP_TIMEOUT);
    let (min_pdu, max_pdu) = PDU_LENGTH_RANGE;
    let pdu = integer(root, keys::MAXIMUM_PDU_LENGTH, COUNT)?
        .unwrap_or(DEFAULT_MAXIMUM_PDU_LENGTH.into())
        .clamp(min_pdu.into(), max_pdu.into());
    let associations = integer(isengard, keys::DICOM_MAX_ASSOCIATIONS, COUNT)?
        .map_or(DEFAULT_MAX_ASSOCIATIONS, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        });
    Ok(DicomScpConfig {
        check_called_aet: flag(keys::DICOM_CHECK_CALLED_AET, false)?,
        always_allow_echo: flag(keys::DICOM_ALWAYS_ALLOW_ECHO, true)?,
        always_allow_store: flag(keys::DICOM_ALWAYS_ALLOW_STORE, true)?,
        always_allow_find: flag(keys::DICOM_ALWAYS_ALLOW_FIND, false)?,
        always_allow_move: flag(keys::DICOM_ALWAYS_ALLOW_MOVE, false)?,
        always_allow_get: flag(keys::DICOM_ALWAYS_ALLOW_GET, false)?,
        check_modality_host: flag(keys::DICOM_CHECK_MODALITY_HOST, false)?,
        strict_aet_comparison: flag(keys::STRICT_AET_COMPARISON, false)?,
        unknown_sop_class_accepted: flag(keys::UNKNOWN_SOP_CLASS_ACCEPTED, false)?,
        timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
        maximum_pdu_length: pdu as u32,
        max_associations: associations.max(1),
        accepted_transfer_syntaxes: resolve_accepted_transfer_syntaxes(root)?,
    })
}

/// `DicomModalities`, in the document's order; an entry that is not a valid
/// modality is an error naming it (`DicomModalities.name`).
pub(super) fn resolve_modalities(root: &Map<String, Value>) -> Result<Vec<Modality>, ConfigError> {
    let Some(entries) = object(root, keys::DICOM_MODALITIES)? else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|(name, value)| {
            modality_from_json(name, value).map_err(|reason| ConfigError::InvalidEntry {
                key: format!("{}.{name}", keys::DICOM_MODALITIES.path()),
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_json_str(text, &|_| None)
    }

    fn error_key(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::InvalidValue { key, .. } | ConfigError::InvalidEntry { key, .. }) => {
                key
            }
            other => panic!("expected an invalid value in {text}, got {other:?}"),
        }
    }

    #[test]
    fn scp_defaults_are_orthancs() {
        let c = parse("{}").unwrap();
        assert_eq!(
            c.dicom_scp,
            DicomScpConfig {
                check_called_aet: false,
                always_allow_echo: true,
                always_allow_store: true,
                always_allow_find: false,
                always_allow_move: false,
                always_allow_get: false,
                check_modality_host: false,
                strict_aet_comparison: false,
                unknown_sop_class_accepted: false,
                timeout: Some(Duration::from_secs(30)),
                maximum_pdu_length: 16384,
                max_associations: 64,
                accepted_transfer_syntaxes: uids::STORAGE_TRANSFER_SYNTAXES.to_vec(),
            }
        );
        assert!(c.dicom_modalities.is_empty());
    }

    #[test]
    fn accepted_transfer_syntaxes_and_their_groups() {
        let c = parse(
            r#"{"AcceptedTransferSyntaxes": ["1.2.840.10008.1.2", "1.2.840.10008.1.2.4.*"],
                "JpegTransferSyntaxAccepted": false, "RleTransferSyntaxAccepted": false}"#,
        )
        .unwrap();
        let accepted = &c.dicom_scp.accepted_transfer_syntaxes;
        assert_eq!(accepted[0], "1.2.840.10008.1.2");
        assert!(accepted.contains(&"1.2.840.10008.1.2.4.90"));
        assert!(!accepted.contains(&"1.2.840.10008.1.2.4.50"));
        assert!(!accepted.contains(&"1.2.840.10008.1.2.1"));
        let c = parse(r#"{"AcceptedTransferSyntaxes": "1.2.840.10008.1.2.1"}"#).unwrap();
        assert_eq!(c.dicom_scp.accepted_transfer_syntaxes, ["1.2.840.10008.1.2.1"]);
        assert_eq!(error_key(r#"{"AcceptedTransferSyntaxes": [3]}"#), "AcceptedTransferSyntaxes");
        assert_eq!(error_key(r#"{"RleTransferSyntaxAccepted": 3}"#), "RleTransferSyntaxAccepted");
    }

    #[test]
    fn every_scp_option() {
        let c = parse(
            r#"{"DicomCheckCalledAet": true, "DicomAlwaysAllowEcho": false,
                "DicomAlwaysAllowStore": false, "DicomAlwaysAllowFind": true,
                "DicomAlwaysAllowMove": true, "DicomAlwaysAllowGet": true,
                "DicomCheckModalityHost": true, "StrictAetComparison": true,
                "UnknownSopClassAccepted": true, "DicomScpTimeout": 0,
                "MaximumPduLength": 65536, "Isengard": {"DicomMaxAssociations": 2}}"#,
        )
        .unwrap();
        let s = &c.dicom_scp;
        assert!(s.check_called_aet && !s.always_allow_echo && !s.always_allow_store);
        assert!(s.always_allow_find && s.always_allow_move && s.always_allow_get);
        assert!(s.check_modality_host && s.strict_aet_comparison && s.unknown_sop_class_accepted);
        assert_eq!(s.timeout, None, "0: no timeout");
        assert_eq!((s.maximum_pdu_length, s.max_associations), (65536, 2));
        assert!(c.unsupported_keys.is_empty(), "{:?}", c.unsupported_keys);
    }

    #[test]
    fn out_of_range_sizes_are_brought_back_in() {
        let c =
            parse(r#"{"MaximumPduLength": 100, "Isengard": {"DicomMaxAssociations": 0}}"#).unwrap();
        assert_eq!(
            (c.dicom_scp.maximum_pdu_length, c.dicom_scp.max_associations),
            (4096, 1)
        );
        let c = parse(r#"{"MaximumPduLength": 1000000}"#).unwrap();
        assert_eq!(c.dicom_scp.maximum_pdu_length, 131072);
        let c = parse(r#"{"DicomScpTimeout": 5}"#).unwrap();
        assert_eq!(c.dicom_scp.timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn invalid_scp_options_name_their_key() {
        for (text, key) in [
            (r#"{"DicomCheckCalledAet": "yes"}"#, "DicomCheckCalledAet"),
            (r#"{"DicomAlwaysAllowEcho": 1}"#, "DicomAlwaysAllowEcho"),
            (
                r#"{"DicomAlwaysAllowStore": null}"#,
                "DicomAlwaysAllowStore",
            ),
            (
                r#"{"DicomAlwaysAllowFind": "true"}"#,
                "DicomAlwaysAllowFind",
            ),
            (r#"{"DicomAlwaysAllowMove": 0}"#, "DicomAlwaysAllowMove"),
            (r#"{"DicomAlwaysAllowGet": []}"#, "DicomAlwaysAllowGet"),
            (
                r#"{"DicomCheckModalityHost": "no"}"#,
                "DicomCheckModalityHost",
            ),
            (r#"{"StrictAetComparison": 1}"#, "StrictAetComparison"),
            (
                r#"{"UnknownSopClassAccepted": "x"}"#,
                "UnknownSopClassAccepted",
            ),
            (r#"{"DicomScpTimeout": -1}"#, "DicomScpTimeout"),
            (r#"{"DicomScpTimeout": "30"}"#, "DicomScpTimeout"),
            (r#"{"MaximumPduLength": 16384.5}"#, "MaximumPduLength"),
            (
                r#"{"Isengard": {"DicomMaxAssociations": "8"}}"#,
                "Isengard.DicomMaxAssociations",
            ),
        ] {
            assert_eq!(error_key(text), key, "{text}");
        }
    }

    #[test]
    fn modalities_in_both_forms_and_document_order() {
        let c = parse(
            r#"{"DicomModalities": {
                "pacs": ["PACS", "10.0.0.1", 104],
                "ws": {"AET": "WS", "Host": "ws.local", "Port": "11112", "AllowStore": false},
                "a": ["A", "h", 1, "GE"]
            }}"#,
        )
        .unwrap();
        let names: Vec<&str> = c.dicom_modalities.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["pacs", "ws", "a"]);
        let ws = &c.dicom_modalities[1];
        assert_eq!(
            (ws.aet.as_str(), ws.port, ws.allow_store),
            ("WS", 11112, false)
        );
        assert_eq!(c.dicom_modalities[2].manufacturer, "GE");
    }

    #[test]
    fn invalid_modalities_name_the_entry() {
        assert_eq!(error_key(r#"{"DicomModalities": []}"#), "DicomModalities");
        assert_eq!(
            error_key(r#"{"DicomModalities": {"ok": ["OK", "h", 1], "bad": ["B", "h", 70000]}}"#),
            "DicomModalities.bad"
        );
        let message = parse(r#"{"DicomModalities": {"x": ["", "h", 1]}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "invalid value for \"DicomModalities.x\": the AET must have 1 to 16 characters"
        );
    }
}
