//! Runtime settings that Orthanc keeps per process and changes over REST:
//! the default encoding, the transfer syntaxes the DICOM server accepts,
//! whether it accepts unknown SOP classes, and the log level of each
//! category. Isengard keeps them in the index (`Command::PutSetting`), so a
//! change made on any node holds on every node; until one is made, the
//! configuration's value holds.
//!
//! Log levels take effect on each node through [`Archive::follow_settings`],
//! which watches the applied log.

use std::time::Duration;

use super::{Archive, Result, ServiceError};
use crate::dicom::charset::Encoding;
use crate::index::Command;
use crate::logging::{self, Category};
use isengard_dimse::uids;

const DEFAULT_ENCODING: &str = "DefaultEncoding";
const ACCEPTED_TRANSFER_SYNTAXES: &str = "AcceptedTransferSyntaxes";
const UNKNOWN_SOP_CLASS_ACCEPTED: &str = "UnknownSopClassAccepted";
const LOG_LEVEL: &str = "LogLevel.";

/// The log levels Orthanc names.
pub const LOG_LEVELS: [&str; 3] = ["default", "verbose", "trace"];

impl Archive {
    fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self.node.reader().setting(name)?)
    }

    async fn put_setting(&self, name: &str, value: String) -> Result<()> {
        let command = Command::PutSetting {
            name: name.to_owned(),
            value,
        };
        self.node.write(command).await?;
        Ok(())
    }

    /// The encoding of files that do not declare theirs.
    pub fn default_encoding(&self) -> Result<Encoding> {
        Ok(self
            .setting(DEFAULT_ENCODING)?
            .and_then(|name| Encoding::from_name(&name))
            .unwrap_or(self.config.default_encoding))
    }

    /// Sets the default encoding by Orthanc's name of it.
    pub async fn set_default_encoding(&self, name: &str) -> Result<Encoding> {
        let encoding = Encoding::from_name(name)
            .ok_or_else(|| ServiceError::BadSetting(format!("Unknown encoding: {name}")))?;
        self.put_setting(DEFAULT_ENCODING, encoding.name().to_owned())
            .await?;
        Ok(encoding)
    }

    /// The transfer syntaxes the DICOM server accepts for storage, in Orthanc's order.
    pub fn accepted_transfer_syntaxes(&self) -> Result<Vec<&'static str>> {
        Ok(match self.setting(ACCEPTED_TRANSFER_SYNTAXES)? {
            Some(list) => {
                let uids: Vec<String> = serde_json::from_str(&list).unwrap_or_default();
                uids::matching_transfer_syntaxes(&uids)
            }
            None => self.config.dicom_scp.accepted_transfer_syntaxes.clone(),
        })
    }

    /// Accepts the transfer syntaxes that one of `patterns` matches (`*`,
    /// `?`), and only those; answers them.
    pub async fn set_accepted_transfer_syntaxes(
        &self,
        patterns: &[String],
    ) -> Result<Vec<&'static str>> {
        let accepted = uids::matching_transfer_syntaxes(patterns);
        let json = serde_json::to_string(&accepted).map_err(|e| ServiceError::BadSetting(e.to_string()))?;
        self.put_setting(ACCEPTED_TRANSFER_SYNTAXES, json).await?;
        Ok(accepted)
    }

    pub fn unknown_sop_class_accepted(&self) -> Result<bool> {
        Ok(match self.setting(UNKNOWN_SOP_CLASS_ACCEPTED)? {
            Some(v) => v == "1",
            None => self.config.dicom_scp.unknown_sop_class_accepted,
        })
    }

    pub async fn set_unknown_sop_class_accepted(&self, accepted: bool) -> Result<()> {
        self.put_setting(UNKNOWN_SOP_CLASS_ACCEPTED, if accepted { "1" } else { "0" }.into())
            .await
    }

    /// The log level of one category (`default` until one is set).
    pub fn log_level(&self, category: Category) -> Result<String> {
        Ok(self
            .setting(&format!("{LOG_LEVEL}{}", category.name()))?
            .unwrap_or_else(|| logging::category_level(category).to_owned()))
    }

    /// Sets the log level of one category on every node of the cluster.
    pub async fn set_log_level(&self, category: Category, level: &str) -> Result<()> {
        if !LOG_LEVELS.contains(&level) {
            return Err(ServiceError::BadSetting(format!(
                "Verbosity can be \"default\", \"verbose\" or \"trace\": {level}"
            )));
        }
        self.put_setting(&format!("{LOG_LEVEL}{}", category.name()), level.to_owned())
            .await?;
        self.apply_log_levels();
        Ok(())
    }

    /// Brings this node's loggers to the levels recorded in the index.
    fn apply_log_levels(&self) {
        for category in Category::ALL {
            let key = format!("{LOG_LEVEL}{}", category.name());
            if let Ok(Some(level)) = self.setting(&key) {
                if logging::category_level(category) != level {
                    if let Err(e) = logging::set_category_level(category, &level) {
                        tracing::warn!(category = category.name(), error = e, "cannot set a log level");
                    }
                }
            }
        }
    }

    /// Applies the log levels set on any node as the log reaches this one,
    /// and counts leader changes, until `stop` turns true (checked at most
    /// every 200 ms).
    pub async fn follow_settings(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut metrics = self.node.raft().metrics();
        let mut applied = None;
        loop {
            let (now, leader) = {
                let m = metrics.borrow();
                (m.last_applied, m.current_leader)
            };
            self.metrics.leader(leader);
            if now != applied {
                applied = now;
                self.apply_log_levels();
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                changed = metrics.changed() => if changed.is_err() { return },
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
}
