//! `isengard cluster status|add|remove`: a client of a node's `/cluster` REST
//! resource that prints human-readable answers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{CliError, Target};
use crate::cluster::status::ClusterStatus;

/// Manage the members of a cluster through any node's REST API.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// REST API of the node to ask [default: from --config, else http://127.0.0.1:8042].
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The node's configuration file: its HttpPort, HttpBind and (when it enables
    /// authentication) its first RegisteredUsers entry give the defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP basic authentication user [default: $ISENGARD_USER].
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// HTTP basic authentication password [default: $ISENGARD_PASSWORD].
    #[arg(long, global = true)]
    pub password: Option<String>,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Show the members, the leader and each member's health.
    Status,
    /// Add a node (started, not yet a member) as a voter once it has caught up.
    Add {
        /// Its NodeId.
        id: u64,
        /// The host:port of its gRPC port (its GrpcAdvertise).
        address: String,
        /// Seconds the node may take to catch up.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Remove a node from the membership.
    Remove {
        /// Its NodeId.
        id: u64,
    },
}

/// Runs the command; `Ok` holds what to print.
pub async fn run(args: ClusterArgs) -> Result<String, CliError> {
    let user = args
        .user
        .clone()
        .or_else(|| std::env::var("ISENGARD_USER").ok());
    let password = args
        .password
        .clone()
        .or_else(|| std::env::var("ISENGARD_PASSWORD").ok());
    let target = Target::resolve(
        args.url.as_deref(),
        args.config.as_deref(),
        user.as_deref(),
        password.as_deref(),
    )?;
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| CliError::connect(&target.url, &e))?;
    let (method, path, body, timeout) = match &args.command {
        ClusterCommand::Status => (reqwest::Method::GET, "/cluster".to_owned(), None, 30),
        ClusterCommand::Add {
            id,
            address,
            timeout,
        } => (
            reqwest::Method::POST,
            "/cluster/members".to_owned(),
            Some(json!({ "NodeId": id, "Address": address, "Timeout": timeout })),
            timeout + 60,
        ),
        ClusterCommand::Remove { id } => (
            reqwest::Method::DELETE,
            format!("/cluster/members/{id}"),
            None,
            60,
        ),
    };
    let url = format!("{}{path}", target.url);
    let mut request = client
        .request(method.clone(), &url)
        .timeout(Duration::from_secs(timeout));
    if let Some((user, password)) = &target.credentials {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| CliError::connect(&url, &e))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| CliError::connect(&url, &e))?;
    if !status.is_success() {
        return Err(CliError::Api {
            method: method.to_string(),
            url,
            status: status.as_u16(),
            message: error_message(&text),
        });
    }
    let cluster: ClusterStatus = serde_json::from_str(&text).map_err(|e| CliError::Answer {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let headline = match &args.command {
        ClusterCommand::Status => String::new(),
        ClusterCommand::Add { id, .. } => format!("node {id} added as a voter\n\n"),
        ClusterCommand::Remove { id } => format!("node {id} removed\n\n"),
    };
    Ok(format!("{headline}{}", render(&cluster)))
}

/// The `Details` (else `Message`) of an Orthanc-style JSON error, or the text.
fn error_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => v["Details"]
            .as_str()
            .or(v["Message"].as_str())
            .unwrap_or(text)
            .to_owned(),
        Err(_) => text.trim().to_owned(),
    }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A `GET /cluster` body as a small report.
pub fn render(s: &ClusterStatus) -> String {
    let mut out = format!(
        "node {} ({}){}: leader {}, term {}, last log {}, applied {}, snapshot {}, purged {}\n",
        s.node_id,
        s.state.to_lowercase(),
        s.address
            .as_deref()
            .map(|a| format!(" at {a}"))
            .unwrap_or_default(),
        or_dash(s.leader),
        s.term,
        or_dash(s.last_log_index),
        or_dash(s.last_applied),
        or_dash(s.last_snapshot),
        or_dash(s.last_purged),
    );
    if s.members.is_empty() {
        out.push_str("no members known: this node is waiting to be added to a cluster\n");
        return out;
    }
    let width = s
        .members
        .iter()
        .map(|m| m.address.len())
        .max()
        .unwrap_or(0)
        .max(7);
    out.push_str(&format!(
        "{:>4}  {:<width$}  {:<7}  {:>8}  {}\n",
        "ID", "ADDRESS", "ROLE", "MATCHED", "HEALTH"
    ));
    for m in &s.members {
        let role = if m.voter { "voter" } else { "learner" };
        let leader = if s.leader == Some(m.id) {
            " (leader)"
        } else {
            ""
        };
        out.push_str(&format!(
            "{:>4}  {:<width$}  {:<7}  {:>8}  {}{leader}\n",
            m.id,
            m.address,
            role,
            or_dash(m.matched),
            m.health
        ));
    }
    out
}
