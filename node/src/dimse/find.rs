//! C-FIND SCP (Patient Root and Study Root): the identifier becomes
//! [`QueryKey`]s for `Archive::dicom_find` (service::dicom_query); each answer
//! is a pending (FF00) response, then a final success, or a cancel (FE00) if
//! the peer sent C-CANCEL between two answers.

use dicom_core::{Tag as DTag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::association::{cancel_requested, respond, Assoc, Session};
use super::dataset::{decode_identifier, element_text, encode_identifier};
use super::message::{field, status, write_message, CommandBuilder, Message, MessageError};
use super::DimseError;
use crate::dicom::Tag;
use crate::index::Level;
use crate::service::dicom_query::{parse_level, QueryKey};

/// A decoded identifier: the level and the keys (group 0008,0052 and the
/// character set excluded), with their VR.
pub(super) struct Identifier {
    pub level: Level,
    pub keys: Vec<QueryKey>,
    pub vrs: Vec<VR>,
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
        keys.push(QueryKey { tag: Tag(t.0, t.1), vr: el.vr().to_string().to_owned(), value });
        vrs.push(el.vr());
    }
    Ok(Identifier { level, keys, vrs })
}

fn answer_object(level_and_keys: &[(Tag, String)], vrs: &[VR]) -> InMemDicomObject {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::DataElement;
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(tags::SPECIFIC_CHARACTER_SET, VR::CS, PrimitiveValue::from("ISO_IR 192")));
    // The first item is QueryRetrieveLevel, then the keys in request order.
    for (i, (tag, value)) in level_and_keys.iter().enumerate() {
        let vr = if i == 0 { VR::CS } else { vrs.get(i - 1).copied().unwrap_or(VR::LO) };
        let tag = DTag(tag.0, tag.1);
        let value = if value.is_empty() || vr == VR::SQ {
            PrimitiveValue::Empty
        } else if matches!(vr, VR::US | VR::UL | VR::SS | VR::SL) {
            match super::dataset::text_element(tag, value).value().primitive() {
                Some(p) => p.clone(),
                None => PrimitiveValue::Empty,
            }
        } else {
            PrimitiveValue::Strs(value.split('\\').map(str::to_owned).collect())
        };
        if vr == VR::SQ {
            obj.put(DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::<InMemDicomObject>::empty()));
        } else {
            obj.put(DataElement::new(tag, vr, value));
        }
    }
    obj
}

#[tracing::instrument(skip_all, fields(calling_aet = %s.calling_aet))]
pub(super) async fn handle(s: &Session, assoc: &mut Assoc, msg: Message) -> Result<(), MessageError> {
    let found = match identifier(s, &msg) {
        Ok(id) => match s.archive.dicom_find(id.level, &id.keys).await {
            Ok((answers, truncated)) => Ok((id, answers, truncated)),
            Err(e) => Err(DimseError::from(e)),
        },
        Err(e) => Err(e),
    };
    let (id, answers, truncated) = match found {
        Ok(f) => f,
        Err(e) => return respond(assoc, &msg, field::C_FIND_RSP, Err(e)).await,
    };
    tracing::debug!(level = ?id.level, answers = answers.len(), truncated, "C-FIND");
    let ts = s.transfer_syntax(msg.context_id).unwrap_or_default().to_owned();
    for answer in &answers {
        if cancel_requested(assoc)? {
            let rsp = CommandBuilder::response_to(field::C_FIND_RSP, &msg, status::CANCEL);
            return write_message(assoc, msg.context_id, &rsp.build(), None).await;
        }
        let data = match encode_identifier(&answer_object(answer, &id.vrs), &ts) {
            Ok(d) => d,
            Err(e) => return respond(assoc, &msg, field::C_FIND_RSP, Err(e)).await,
        };
        let rsp = CommandBuilder::response_to(field::C_FIND_RSP, &msg, status::PENDING).with_data_set();
        write_message(assoc, msg.context_id, &rsp.build(), Some(&data)).await?;
    }
    let rsp = CommandBuilder::response_to(field::C_FIND_RSP, &msg, status::SUCCESS);
    write_message(assoc, msg.context_id, &rsp.build(), None).await
}
