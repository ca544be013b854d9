//! `"Isengard"."Cluster"`: this node's id, its gRPC addresses and the initial
//! member set. Absent: a one-member cluster (the single-node default).
//!
//! `ISENGARD_CLUSTER_NODE_ID` and `ISENGARD_CLUSTER_GRPC_ADVERTISE` override
//! `NodeId` and `GrpcAdvertise` of a `Cluster` section (the file may then leave
//! them out), so that the pods of a StatefulSet share one configuration file;
//! without a `Cluster` section they are ignored (one node stays one node).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Map, Value};

use super::keys::{self, Key};
use super::resolve::{env_var, Env};
use super::values::{describe, value};
use super::ConfigError;

/// The default `GrpcListen`.
pub const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:4300";

/// The default `SnapshotLogs`: log entries since the last snapshot that trigger a new one.
pub const DEFAULT_SNAPSHOT_LOGS: u64 = 20_000;

/// The default `SnapshotKeepLogs`: log entries kept behind a snapshot (for lagging members).
pub const DEFAULT_SNAPSHOT_KEEP_LOGS: u64 = 1_000;

/// `"Isengard"."Cluster"`: how this node joins a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `"NodeId"`: this node's Raft id, a positive integer. When it is not one
    /// of `members`, the node joins an existing cluster: it waits to be added
    /// (`POST /cluster/members`) and never initializes one ([`ClusterConfig::joins`]).
    pub node_id: u64,
    /// `"GrpcListen"`: the address the node-to-node gRPC server binds.
    /// Default `0.0.0.0:4300`. Port 0 asks the OS for a free port.
    pub grpc_listen: SocketAddr,
    /// `"GrpcAdvertise"`: `host:port` at which the other nodes reach this one,
    /// reported by `GET /cluster`. Default: this node's entry in `members`;
    /// required when the node is not one of them.
    pub grpc_advertise: String,
    /// `"Members"`: the initial member set, node id to `host:port` (gRPC). Every
    /// node is started with the same set; the lowest id initializes the cluster
    /// (unless another member already belongs to one).
    pub members: BTreeMap<u64, String>,
    /// `"SnapshotLogs"`: a snapshot of the index is built every time this many
    /// log entries were applied since the last one. Default 20000.
    pub snapshot_logs: u64,
    /// `"SnapshotKeepLogs"`: how many log entries a node keeps behind its last
    /// snapshot, so a member that lags by less catches up from the log instead
    /// of a snapshot. Default 1000.
    pub snapshot_keep_logs: u64,
}

impl ClusterConfig {
    /// A configuration with the default snapshot policy.
    pub fn new(
        node_id: u64,
        grpc_listen: SocketAddr,
        grpc_advertise: String,
        members: BTreeMap<u64, String>,
    ) -> Self {
        ClusterConfig {
            node_id,
            grpc_listen,
            grpc_advertise,
            members,
            snapshot_logs: DEFAULT_SNAPSHOT_LOGS,
            snapshot_keep_logs: DEFAULT_SNAPSHOT_KEEP_LOGS,
        }
    }

    /// Whether this node is not one of the initial `Members`: it joins a
    /// running cluster once a member adds it.
    pub fn joins(&self) -> bool {
        !self.members.contains_key(&self.node_id)
    }
}

const NODE_ID: &str = "a positive integer";
const LISTEN: &str = "a socket address such as 0.0.0.0:4300";
const HOST_PORT: &str = "a host:port string";
const COUNT: &str = "a positive integer";
const MEMBERS: &str = "a non-empty object mapping positive node ids (\"1\") to host:port strings";

fn invalid(key: &str, expected: &'static str, found: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        expected,
        found,
    }
}

/// Whether `text` looks like `host:port` (a non-empty host, a numeric port).
pub(crate) fn is_host_port(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

/// The environment variable overriding `NodeId`.
pub const NODE_ID_ENV: &str = "ISENGARD_CLUSTER_NODE_ID";
/// The environment variable overriding `GrpcAdvertise`.
pub const GRPC_ADVERTISE_ENV: &str = "ISENGARD_CLUSTER_GRPC_ADVERTISE";

/// The `Cluster` section with the environment's overrides applied (the
/// environment wins over the file); an invalid value names its variable.
pub(super) fn cluster_env_overrides(
    section: &Map<String, Value>,
    env: Env<'_>,
) -> Result<Map<String, Value>, ConfigError> {
    let mut section = section.clone();
    if let Some(text) = env_var(env, NODE_ID_ENV) {
        let id = text.trim().parse::<u64>().ok().filter(|n| *n > 0);
        let id = id
            .ok_or_else(|| invalid(NODE_ID_ENV, NODE_ID, describe(&Value::String(text.clone()))))?;
        section.insert(keys::CLUSTER_NODE_ID.name().to_owned(), id.into());
    }
    if let Some(text) = env_var(env, GRPC_ADVERTISE_ENV) {
        if !is_host_port(&text) {
            return Err(invalid(
                GRPC_ADVERTISE_ENV,
                HOST_PORT,
                describe(&Value::String(text)),
            ));
        }
        section.insert(keys::CLUSTER_GRPC_ADVERTISE.name().to_owned(), text.into());
    }
    Ok(section)
}

/// Parses and validates the `Cluster` section.
pub(super) fn resolve_cluster(section: &Map<String, Value>) -> Result<ClusterConfig, ConfigError> {
    let required =
        |key: Key, expected| invalid(key.path(), expected, "nothing (the key is required)".into());
    let node_id = match value(section, keys::CLUSTER_NODE_ID) {
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(keys::CLUSTER_NODE_ID.path(), NODE_ID, describe(v)))?,
        None => return Err(required(keys::CLUSTER_NODE_ID, NODE_ID)),
    };
    let members_value = value(section, keys::CLUSTER_MEMBERS)
        .ok_or_else(|| required(keys::CLUSTER_MEMBERS, MEMBERS))?;
    let Some(object) = members_value.as_object().filter(|m| !m.is_empty()) else {
        return Err(invalid(
            keys::CLUSTER_MEMBERS.path(),
            MEMBERS,
            describe(members_value),
        ));
    };
    let mut members = BTreeMap::new();
    for (id, addr) in object {
        let key = format!("{}.{id}", keys::CLUSTER_MEMBERS.path());
        let id: u64 = id
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(&key, MEMBERS, format!("the key {id:?}")))?;
        match addr.as_str() {
            Some(text) if is_host_port(text) => {
                members.insert(id, text.to_owned());
            }
            _ => return Err(invalid(&key, HOST_PORT, describe(addr))),
        }
    }
    let grpc_listen = match value(section, keys::CLUSTER_GRPC_LISTEN) {
        None => DEFAULT_GRPC_LISTEN.parse().expect("valid default"),
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(keys::CLUSTER_GRPC_LISTEN.path(), LISTEN, describe(v)))?,
    };
    let advertise = keys::CLUSTER_GRPC_ADVERTISE;
    let grpc_advertise = match value(section, advertise) {
        None => match members.get(&node_id) {
            Some(own) => own.clone(),
            None => return Err(invalid(
                advertise.path(),
                "a host:port string (required when NodeId is not one of Members: the node joins)",
                "nothing".into(),
            )),
        },
        Some(v) => match v.as_str() {
            Some(text) if is_host_port(text) => text.to_owned(),
            _ => return Err(invalid(advertise.path(), HOST_PORT, describe(v))),
        },
    };
    let count = |key: Key, default: u64| -> Result<u64, ConfigError> {
        match value(section, key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(key.path(), COUNT, describe(v))),
        }
    };
    let snapshot_logs = count(keys::CLUSTER_SNAPSHOT_LOGS, DEFAULT_SNAPSHOT_LOGS)?;
    let snapshot_keep_logs = count(keys::CLUSTER_SNAPSHOT_KEEP_LOGS, DEFAULT_SNAPSHOT_KEEP_LOGS)?;
    Ok(ClusterConfig {
        node_id,
        grpc_listen,
        grpc_advertise,
        members,
        snapshot_logs,
        snapshot_keep_logs,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_json_str(text, &|_| None)
    }

    fn error_key(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::InvalidValue { key, .. }) => key,
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn no_cluster_section_is_single_node() {
        assert_eq!(parse("{}").unwrap().cluster, None);
        assert_eq!(
            parse(r#"{"Isengard": {"HttpBind": "127.0.0.1"}}"#)
                .unwrap()
                .cluster,
            None
        );
    }

    #[test]
    fn full_cluster_section() {
        let c = parse(
            r#"{ "Isengard": { "Cluster": {
                 "NodeId": 2, // this node
                 "GrpcListen": "0.0.0.0:4300",
                 "GrpcAdvertise": "isengard-1.isengard:4300",
                 "Members": { "1": "isengard-0.isengard:4300", "2": "isengard-1.isengard:4300", "3": "10.0.0.3:4300" }
               } } }"#,
        )
        .unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(cluster.node_id, 2);
        assert_eq!(cluster.grpc_listen, "0.0.0.0:4300".parse().unwrap());
        assert_eq!(cluster.grpc_advertise, "isengard-1.isengard:4300");
        assert_eq!(cluster.members.len(), 3);
        assert_eq!(cluster.members[&3], "10.0.0.3:4300");
        assert!(c.unsupported_keys.is_empty(), "{:?}", c.unsupported_keys);
    }

    #[test]
    fn defaults_listen_and_advertise() {
        let c = parse(r#"{ "Isengard": { "Cluster": { "NodeId": 1, "Members": { "1": "a:1", "2": "b:2" } } } }"#)
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(c.grpc_listen, DEFAULT_GRPC_LISTEN.parse().unwrap());
        assert_eq!(c.grpc_advertise, "a:1");
        assert_eq!(
            (c.snapshot_logs, c.snapshot_keep_logs),
            (DEFAULT_SNAPSHOT_LOGS, DEFAULT_SNAPSHOT_KEEP_LOGS)
        );
        assert!(!c.joins());
    }

    #[test]
    fn a_node_outside_members_joins() {
        let c = parse(
            r#"{ "Isengard": { "Cluster": { "NodeId": 4, "GrpcAdvertise": "d:4",
                 "SnapshotLogs": 50, "SnapshotKeepLogs": 5,
                 "Members": { "1": "a:1", "2": "b:2", "3": "c:3" } } } }"#,
        )
        .unwrap()
        .cluster
        .unwrap();
        assert!(c.joins());
        assert_eq!(c.grpc_advertise, "d:4");
        assert_eq!((c.snapshot_logs, c.snapshot_keep_logs), (50, 5));
    }

    #[test]
    fn invalid_values_name_their_key() {
        let members = r#""Members": { "1": "a:1", "2": "b:2" }"#;
        let doc = |body: &str| format!(r#"{{ "Isengard": {{ "Cluster": {{ {body} }} }} }}"#);
        assert_eq!(error_key(&doc(members)), "Isengard.Cluster.NodeId");
        assert_eq!(
            error_key(&doc(&format!(r#""NodeId": 0, {members}"#))),
            "Isengard.Cluster.NodeId"
        );
        assert_eq!(
            error_key(&doc(&format!(r#""NodeId": "1", {members}"#))),
            "Isengard.Cluster.NodeId"
        );
        // Not one of Members: a joining node, which must say where it is reached.
        assert_eq!(
            error_key(&doc(&format!(r#""NodeId": 3, {members}"#))),
            "Isengard.Cluster.GrpcAdvertise"
        );
        assert_eq!(
            error_key(&doc(&format!(
                r#""NodeId": 1, "SnapshotLogs": 0, {members}"#
            ))),
            "Isengard.Cluster.SnapshotLogs"
        );
        assert_eq!(
            error_key(&doc(&format!(
                r#""NodeId": 1, "SnapshotKeepLogs": "5", {members}"#
            ))),
            "Isengard.Cluster.SnapshotKeepLogs"
        );
        assert_eq!(
            error_key(&doc(r#""NodeId": 1"#)),
            "Isengard.Cluster.Members"
        );
        assert_eq!(
            error_key(&doc(r#""NodeId": 1, "Members": {}"#)),
            "Isengard.Cluster.Members"
        );
        assert_eq!(
            error_key(&doc(r#""NodeId": 1, "Members": {"x": "a:1"}"#)),
            "Isengard.Cluster.Members.x"
        );
        assert_eq!(
            error_key(&doc(r#""NodeId": 1, "Members": {"1": "a"}"#)),
            "Isengard.Cluster.Members.1"
        );
        assert_eq!(
            error_key(&doc(r#""NodeId": 1, "Members": {"1": 4300}"#)),
            "Isengard.Cluster.Members.1"
        );
        assert_eq!(
            error_key(&doc(&format!(
                r#""NodeId": 1, "GrpcListen": "host:4300", {members}"#
            ))),
            "Isengard.Cluster.GrpcListen"
        );
        assert_eq!(
            error_key(&doc(&format!(
                r#""NodeId": 1, "GrpcAdvertise": "nope", {members}"#
            ))),
            "Isengard.Cluster.GrpcAdvertise"
        );
        assert_eq!(
            error_key(r#"{ "Isengard": { "Cluster": 3 } }"#),
            "Isengard.Cluster"
        );
    }

    fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_json_str(text, &move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    /// The Helm chart's shape: one file for every pod, `NodeId` and
    /// `GrpcAdvertise` from the environment.
    const SHARED: &str = r#"{ "Isengard": { "Cluster": { "GrpcListen": "0.0.0.0:4300", "Members": {
        "1": "isengard-0.isengard-headless.pacs.svc.cluster.local:4300",
        "2": "isengard-1.isengard-headless.pacs.svc.cluster.local:4300",
        "3": "isengard-2.isengard-headless.pacs.svc.cluster.local:4300" } } } }"#;

    #[test]
    fn node_id_and_advertise_come_from_the_environment() {
        let c = parse_with(SHARED, &[(NODE_ID_ENV, "2")])
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!(c.node_id, 2);
        assert_eq!(
            c.grpc_advertise, "isengard-1.isengard-headless.pacs.svc.cluster.local:4300",
            "its Members entry"
        );
        assert!(!c.joins());
        // A fourth pod, outside the initial Members: it joins, and says where.
        let c = parse_with(
            SHARED,
            &[
                (NODE_ID_ENV, " 4 "),
                (GRPC_ADVERTISE_ENV, "isengard-3.isengard-headless:4300"),
            ],
        )
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(
            (c.node_id, c.grpc_advertise.as_str()),
            (4, "isengard-3.isengard-headless:4300")
        );
        assert!(c.joins());
        // The environment wins over the file; an empty variable counts as unset.
        let file = r#"{ "Isengard": { "Cluster": { "NodeId": 1, "GrpcAdvertise": "a:1", "Members": { "1": "a:1", "2": "b:2" } } } }"#;
        let c = parse_with(file, &[(NODE_ID_ENV, "2"), (GRPC_ADVERTISE_ENV, "b:2")])
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!((c.node_id, c.grpc_advertise.as_str()), (2, "b:2"));
        let c = parse_with(file, &[(NODE_ID_ENV, ""), (GRPC_ADVERTISE_ENV, "")])
            .unwrap()
            .cluster
            .unwrap();
        assert_eq!((c.node_id, c.grpc_advertise.as_str()), (1, "a:1"));
    }

    #[test]
    fn cluster_variables_without_a_cluster_section_change_nothing() {
        let c = parse_with(
            r#"{ "Isengard": { "HttpBind": "0.0.0.0" } }"#,
            &[(NODE_ID_ENV, "1"), (GRPC_ADVERTISE_ENV, "a:1")],
        );
        assert_eq!(c.unwrap().cluster, None);
    }

    #[test]
    fn invalid_cluster_variables_name_the_variable() {
        for (name, value) in [
            (NODE_ID_ENV, "0"),
            (NODE_ID_ENV, "two"),
            (NODE_ID_ENV, "-1"),
            (GRPC_ADVERTISE_ENV, "no-port"),
        ] {
            match parse_with(SHARED, &[(name, value)]) {
                Err(ConfigError::InvalidValue { key, .. }) => assert_eq!(key, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        // Without the variable, the shared file lacks NodeId.
        assert!(
            matches!(parse(SHARED), Err(ConfigError::InvalidValue { key, .. }) if key == "Isengard.Cluster.NodeId")
        );
    }

    #[test]
    fn unknown_cluster_keys_are_reported() {
        let c = parse(r#"{ "Isengard": { "Cluster": { "NodeId": 1, "Members": { "1": "a:1" }, "Peers": 2 } } }"#).unwrap();
        assert_eq!(
            c.unsupported_keys,
            vec!["Isengard.Cluster.Peers".to_owned()]
        );
    }
}
