//! The DICOM client's use cases towards a remote modality, besides sending
//! (which is [`super::send`]): C-ECHO, C-FIND with Lua's
//! `OutgoingFindRequestFilter` and the default character set, and C-MOVE.
//! Behind `/modalities/{m}/echo|query|move`, the deprecated `find-*` routes
//! and `/queries/{id}/retrieve`, over the protocol-only client
//! `isengard_dimse::scu`.

use isengard_dimse::scu::{self, MoveReport, Target};
use serde_json::Value;

use super::remote_query::{self as queries, Keys};
use super::send::scu_error;
use super::{Archive, Result, ServiceError};
use crate::dicom::charset::Charset;
use crate::dicom::json as tag_json;
use crate::dicom::Tag;
use crate::index::Level;

impl Archive {
    /// C-ECHO.
    pub async fn echo_modality(&self, target: &Target) -> Result<()> {
        let echoed = scu::echo(target).await;
        echoed.map_err(|e| scu_error(&target.remote_aet, e))
    }

    /// One C-FIND; each answer in Orthanc's full JSON form (with its meta
    /// header). Without a `SpecificCharacterSet` key, one is added as Orthanc
    /// does (`ISO_IR 100` for ASCII keys, else `ISO_IR 192`); the script's
    /// `OutgoingFindRequestFilter` may then rewrite the query.
    pub async fn find_on_modality(
        &self,
        target: &Target,
        level: Level,
        mut keys: Keys,
    ) -> Result<Vec<Value>> {
        if !keys
            .iter()
            .any(|(t, _)| *t == queries::SPECIFIC_CHARACTER_SET)
        {
            let charset = if keys.iter().all(|(_, v)| v.is_ascii()) {
                "ISO_IR 100"
            } else {
                "ISO_IR 192"
            };
            queries::set(
                &mut keys,
                queries::SPECIFIC_CHARACTER_SET,
                charset.to_owned(),
            );
        }
        let (level, keys) = self
            .outgoing_find_filter(&target.remote_aet, level, keys)
            .await?;
        // As Orthanc: a value a binary VR cannot hold is refused, not sent empty.
        for (tag, value) in &keys {
            let vr = crate::dicom::dictionary::lookup(*tag, None).map(|e| e.vr);
            let fits = match vr {
                Some("US") => value.trim().parse::<u16>().is_ok(),
                Some("UL") => value.trim().parse::<u32>().is_ok(),
                Some("SS") => value.trim().parse::<i16>().is_ok(),
                Some("SL") => value.trim().parse::<i32>().is_ok(),
                _ => true,
            };
            if !fits && !value.is_empty() {
                return Err(ServiceError::BadQuery(format!(
                    "out-of-range value for tag {}: {value}",
                    tag.format_comma()
                )));
            }
        }
        let answers = scu::find(target, level, &keys)
            .await
            .map_err(|e| scu_error(&target.remote_aet, e))?;
        answers
            .iter()
            .map(|a| {
                let ds = a.to_dataset().map_err(|e| {
                    ServiceError::BadAnswer(format!("unreadable C-FIND answer: {e}"))
                })?;
                Ok(queries::with_meta_header(tag_json::dataset_full(
                    &ds,
                    &Charset::of(&ds),
                )))
            })
            .collect()
    }

    /// C-MOVE of what `keys` designate at `level` to the AE `destination`.
    pub async fn move_on_modality(
        &self,
        target: &Target,
        level: Level,
        keys: &Keys,
        destination: &str,
    ) -> Result<MoveReport> {
        let moved = scu::move_(target, level, keys, destination).await;
        moved.map_err(|e| scu_error(&target.remote_aet, e))
    }

    /// The script's `OutgoingFindRequestFilter(query, modality)` (`gggg,eeee`
    /// keys, the modality's AE title), whose answer replaces the query.
    async fn outgoing_find_filter(
        &self,
        remote_aet: &str,
        level: Level,
        keys: Keys,
    ) -> Result<(Level, Keys)> {
        const CALLBACK: &str = "OutgoingFindRequestFilter";
        let Some(hooks) = self.hook(CALLBACK) else {
            return Ok((level, keys));
        };
        let mut query = serde_json::Map::new();
        query.insert("0008,0052".into(), level.as_str().to_uppercase().into());
        for (tag, value) in &keys {
            query.insert(format!("{:04x},{:04x}", tag.0, tag.1), value.clone().into());
        }
        let script_error = |reason: String| ServiceError::Script {
            callback: CALLBACK,
            reason,
        };
        let filtered = match hooks
            .filter_outgoing_find(Value::Object(query), remote_aet.into())
            .await
        {
            Ok(Some(Value::Object(map))) => map,
            Ok(_) => return Ok((level, keys)),
            Err(e) => return Err(script_error(e.0)),
        };
        let (mut level, mut out) = (level, Keys::new());
        for (key, value) in filtered {
            let tag = queries::parse_tag(&key).map_err(|e| script_error(e.to_string()))?;
            let value = match value {
                Value::String(v) => v,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if tag == Tag(0x0008, 0x0052) {
                level = queries::parse_level(&value).map_err(|e| script_error(e.to_string()))?;
            } else {
                queries::set(&mut out, tag, value);
            }
        }
        Ok((level, out))
    }
}
