//! The few index writes the REST API exposes directly: deleting a resource,
//! setting and deleting metadata, clearing the change log. Each is one Raft
//! command, checked against the resource's level first.

use super::{now_stamp, Archive, Result, ServiceError};
use crate::index::{Command, CommandResponse, DeleteOutcome, Level};

impl Archive {
    pub async fn delete(&self, level: Level, id: &str) -> Result<DeleteOutcome> {
        self.resource_at(level, id)?;
        let command = Command::DeleteResource {
            id: id.to_owned(),
            stamp: now_stamp(),
        };
        match self.node.write(command).await? {
            CommandResponse::Deleted(outcome) => Ok(outcome),
            _ => Err(ServiceError::UnknownResource(id.to_owned())),
        }
    }

    pub async fn set_metadata(
        &self,
        level: Level,
        id: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        self.resource_at(level, id)?;
        let command = Command::SetMetadata {
            id: id.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            stamp: now_stamp(),
        };
        match self.node.write(command).await? {
            CommandResponse::UnknownResource => Err(ServiceError::UnknownResource(id.to_owned())),
            _ => Ok(()),
        }
    }

    pub async fn delete_metadata(&self, level: Level, id: &str, name: &str) -> Result<()> {
        let r = self.resource_at(level, id)?;
        if !r.metadata.contains_key(name) {
            return Err(ServiceError::UnknownMetadata(name.to_owned()));
        }
        let command = Command::DeleteMetadata {
            id: id.to_owned(),
            name: name.to_owned(),
            stamp: now_stamp(),
        };
        self.node.write(command).await?;
        Ok(())
    }

    pub async fn clear_changes(&self) -> Result<()> {
        self.node.write(Command::ClearChanges).await?;
        Ok(())
    }
}
