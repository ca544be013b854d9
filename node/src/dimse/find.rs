//! C-FIND SCP (Patient Root and Study Root): the identifier becomes a
//! [`FindRequest`] under C-FIND's rules for `Archive::find`
//! (service::find); each answer is a pending (FF00) response, then a final
//! success, or a cancel (FE00) if the peer sent C-CANCEL between two answers.
//! A Lua `IncomingFindRequestFilter` may rewrite the identifier first.
//! As Orthanc 1.10, wildcards are refused on VRs that do not allow them
//! (`UnableToProcess`), and answers are written in the default encoding
//! (`/tools/default-encoding`) with the matching `SpecificCharacterSet`.

use dicom_core::{Tag as DTag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::association::{cancel_requested, respond, Assoc, Session};
use super::DimseError;
use crate::dicom::charset::Encoding;
use crate::dicom::Tag;
use crate::index::Level;
use crate::service::find::{level_name, parse_level, FindKey, FindRequest, Wildcards};
use isengard_dimse::dataset::{decode_identifier, element_text, encode_identifier};
use isengard_dimse::message::{
    field, status, write_message, CommandBuilder, Message, MessageError,
};

/// One key of an identifier: the tag, its VR (two letters) and its value.
pub(super) struct IdentifierKey {
    pub tag: Tag,
    pub vr: String,
    pub value: String,
}

/// A decoded identifier: the level and the keys (group 0008,0052 and the
/// character set excluded), with their VR.
pub(super) struct Identifier {
    pub level: Level,
    pub keys: Vec<IdentifierKey>,
    pub vrs: Vec<VR>,
}

impl Identifier {
    /// The find it asks for: its keys, DICOM padding trimmed, under C-FIND's
    /// rules and limits, with `wildcards` (refused off text VRs by C-FIND).
    pub(super) fn request(
        &self,
        s: &Session,
        wildcards: Wildcards,
    ) -> Result<FindRequest, DimseError> {
        let mut request = FindRequest::dicom(self.level, s.archive.config());
        request.rules.wildcards = wildcards;
        for k in &self.keys {
            let value = k.value.trim_end_matches(['\0', ' ']);
            request
                .add(FindKey::element(k.tag, &k.vr), value)
                .map_err(crate::service::ServiceError::from)?;
        }
        Ok(request)
    }
}

pub(super) fn identifier(s: &Session, msg: &Message) -> Result<Identifier, DimseError> {
    let ts = s.transfer_syntax(msg.context_id).unwrap_or_default();
    let Some(data) = msg.data.as_deref() else {
        return Err(DimseError::CannotUnderstand("no identifier".into()));
    };
    let obj: InMemDicomObject = decode_identifier(data, ts)?;
    let level = element_text(&obj, tags::QUERY_RETRIEVE_LEVEL)
        .as_deref()
        .and_then(parse_level)
        .ok_or_else(|| DimseError::CannotUnderstand("missing or bad QueryRetrieveLevel".into()))?;
    let mut keys = Vec::new();
    let mut vrs = Vec::new();
    for el in obj.iter() {
        let t = el.header().tag;
        if t.0 <= 0x0002 || t == tags::QUERY_RETRIEVE_LEVEL || t == tags::SPECIFIC_CHARACTER_SET {
            continue;
        }
        let value = element_text(&obj, t).unwrap_or_default();
        keys.push(IdentifierKey {
            tag: Tag(t.0, t.1),
            vr: el.vr().to_string().to_owned(),
            value,
        });
        vrs.push(el.vr());
    }
    Ok(Identifier { level, keys, vrs })
}

/// A text value in `encoding`. ASCII is the same in every encoding DICOM
/// names (and numeric strings must stay strings for the writer); other text
/// goes out as the encoding's bytes, padded to an even length.
fn encoded_text(value: &str, vr: VR, encoding: Encoding) -> dicom_core::value::PrimitiveValue {
    use dicom_core::value::PrimitiveValue;
    if value.is_ascii() {
        return PrimitiveValue::Strs(value.split('\\').map(str::to_owned).collect());
    }
    let mut bytes = encoding.from_utf8(value);
    if bytes.len() % 2 == 1 {
        bytes.push(if vr == VR::UI { 0 } else { b' ' });
    }
    PrimitiveValue::U8(bytes.into())
}

/// An answer in `encoding`: `SpecificCharacterSet` (when a DICOM term names
/// the encoding), `QueryRetrieveLevel`, then the keys in request order.
pub(super) fn answer_object(
    level: Level,
    keys: &[(Tag, String)],
    vrs: &[VR],
    encoding: Encoding,
) -> InMemDicomObject {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::DataElement;
    let mut obj = InMemDicomObject::new_empty();
    if let Some(term) = encoding.dicom_term() {
        obj.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from(term),
        ));
    }
    let level = (Tag(0x0008, 0x0052), level_name(level).to_owned());
    for (i, (tag, value)) in std::iter::once(&level).chain(keys).enumerate() {
        let vr = if i == 0 {
            VR::CS
        } else {
            vrs.get(i - 1).copied().unwrap_or(VR::LO)
        };
        let tag = DTag(tag.0, tag.1);
        let value = if value.is_empty() || vr == VR::SQ {
            PrimitiveValue::Empty
        } else if matches!(vr, VR::US | VR::UL | VR::SS | VR::SL) {
            match isengard_dimse::dataset::text_element(tag, value)
                .value()
                .primitive()
            {
                Some(p) => p.clone(),
                None => PrimitiveValue::Empty,
            }
        } else {
            encoded_text(value, vr, encoding)
        };
        if vr == VR::SQ {
            obj.put(DataElement::new(
                tag,
                VR::SQ,
                dicom_core::value::DataSetSequence::<InMemDicomObject>::empty(),
            ));
        } else {
            obj.put(DataElement::new(tag, vr, value));
        }
    }
    obj
}

/// Applies the script's `IncomingFindRequestFilter(query, origin)`: the query
/// has `gggg,eeee` keys (QueryRetrieveLevel included), the answer replaces it.
async fn lua_filter(s: &Session, id: Identifier) -> Result<Identifier, DimseError> {
    let Some(hooks) = s.archive.hook("IncomingFindRequestFilter") else {
        return Ok(id);
    };
    let hex = |t: Tag| format!("{:04x},{:04x}", t.0, t.1);
    let mut query = serde_json::Map::new();
    query.insert("0008,0052".into(), level_name(id.level).into());
    for k in &id.keys {
        query.insert(hex(k.tag), k.value.clone().into());
    }
    let manufacturer = match s.archive.modality_by_aet(&s.calling_aet) {
        Ok(Some(m)) if !m.manufacturer.is_empty() => m.manufacturer,
        _ => "Generic".to_owned(),
    };
    let origin = serde_json::json!({
        "RemoteIp": s.remote_ip, "RemoteAet": s.calling_aet, "CalledAet": s.called_aet, "Manufacturer": manufacturer,
    });
    let filtered = match hooks
        .filter_incoming_find(serde_json::Value::Object(query), origin)
        .await
    {
        Ok(Some(serde_json::Value::Object(map))) => map,
        Ok(_) => return Ok(id),
        Err(e) => {
            return Err(DimseError::UnableToProcess(format!(
                "IncomingFindRequestFilter: {e}"
            )))
        }
    };
    let mut out = Identifier {
        level: id.level,
        keys: Vec::new(),
        vrs: Vec::new(),
    };
    for (key, value) in filtered {
        let tag = crate::service::remote_query::parse_tag(&key)
            .map_err(|e| DimseError::UnableToProcess(e.to_string()))?;
        let value = match value {
            serde_json::Value::String(v) => v,
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        if tag == Tag(0x0008, 0x0052) {
            out.level = parse_level(&value).ok_or_else(|| {
                DimseError::UnableToProcess(format!("IncomingFindRequestFilter: bad level {value}"))
            })?;
            continue;
        }
        let known = id.keys.iter().position(|k| k.tag == tag);
        let (vr_text, vr) = match known {
            Some(i) => (id.keys[i].vr.clone(), id.vrs[i]),
            None => {
                let text = crate::dicom::dictionary::lookup(tag, None)
                    .map(|e| e.vr)
                    .unwrap_or("LO");
                (text.to_owned(), text.parse().unwrap_or(VR::LO))
            }
        };
        out.keys.push(IdentifierKey {
            tag,
            vr: vr_text,
            value,
        });
        out.vrs.push(vr);
    }
    Ok(out)
}

#[tracing::instrument(skip_all, fields(calling_aet = %s.calling_aet))]
pub(super) async fn handle(
    s: &Session,
    assoc: &mut Assoc,
    msg: Message,
) -> Result<(), MessageError> {
    let filtered = match identifier(s, &msg) {
        Ok(id) => lua_filter(s, id).await,
        Err(e) => Err(e),
    };
    let found = match filtered.and_then(|id| Ok((id.request(s, Wildcards::TextVrsOnly)?, id))) {
        Ok((request, id)) => match s.archive.find(&request).await {
            Ok(found) => Ok((id, found.matches, found.truncated)),
            Err(e) => Err(DimseError::from(e)),
        },
        Err(e) => Err(e),
    };
    let (id, answers, truncated) = match found {
        Ok(f) => f,
        Err(e) => return respond(assoc, &msg, field::C_FIND_RSP, Err(e)).await,
    };
    tracing::debug!(level = ?id.level, answers = answers.len(), truncated, "C-FIND");
    let ts = s
        .transfer_syntax(msg.context_id)
        .unwrap_or_default()
        .to_owned();
    let encoding = match s.archive.default_encoding() {
        Ok(e) => e,
        Err(e) => return respond(assoc, &msg, field::C_FIND_RSP, Err(e.into())).await,
    };
    for answer in &answers {
        if cancel_requested(assoc)? {
            let rsp = CommandBuilder::response_to(field::C_FIND_RSP, &msg, status::CANCEL);
            return write_message(assoc, msg.context_id, &rsp.build(), None).await;
        }
        let object = answer_object(id.level, &answer.keys, &id.vrs, encoding);
        let data = match encode_identifier(&object, &ts) {
            Ok(d) => d,
            Err(e) => return respond(assoc, &msg, field::C_FIND_RSP, Err(e.into())).await,
        };
        let rsp =
            CommandBuilder::response_to(field::C_FIND_RSP, &msg, status::PENDING).with_data_set();
        write_message(assoc, msg.context_id, &rsp.build(), Some(&data)).await?;
    }
    let rsp = CommandBuilder::response_to(field::C_FIND_RSP, &msg, status::SUCCESS);
    write_message(assoc, msg.context_id, &rsp.build(), None).await
}
