//! kill -9 the leader of a 3-node cluster three times during continuous ingest
//! by four clients (two over REST, two over C-STORE, each preferring another
//! node). Every client retries an instance until it is acknowledged, so at the
//! end: the instance set is exactly the acknowledged set (nothing acknowledged
//! lost, nothing invented), each instance was applied once (one `NewInstance`
//! change), and ingest resumed, over both protocols, within a bound after
//! each kill (measured from the kill to the first acknowledgment of a request
//! sent after it).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use isengard::dicom::orthanc_ids;
use isengard_cluster_tests::check::assert_consistent;
use isengard_cluster_tests::dicom::{StoreError, StoreScu};
use isengard_cluster_tests::{wait_until, TestCluster};
use isengard_test_support::synth::Spec;
use serde_json::Value;

const KILLS: usize = 3;
/// At least this long between a restart and the next kill.
const KILL_INTERVAL: Duration = Duration::from_secs(3);
/// The bound on the time from a kill to the first acknowledged write sent after it.
const RESUME_BOUND: Duration = Duration::from_secs(10);
/// How long one client may keep failing on one instance before the test fails.
const INSTANCE_DEADLINE: Duration = Duration::from_secs(60);
/// Between two acknowledged instances a client pauses this long, so that four
/// clients do not starve three nodes of CPU on a small machine.
const PACE: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Rest,
    Dicom,
}

/// One acknowledged instance.
#[derive(Debug, Clone)]
struct Ack {
    id: String,
    protocol: Protocol,
    sent: Instant,
    acked: Instant,
    /// REST answered `AlreadyStored`: an earlier failed attempt was committed.
    already_stored: bool,
}

/// What the clients share with the test: where the nodes are, the stop flag,
/// and what was acknowledged.
struct Shared {
    endpoints: Mutex<BTreeMap<u64, (String, SocketAddr)>>,
    stop: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    failures: Mutex<BTreeMap<String, usize>>,
}

impl Shared {
    fn publish(&self, cluster: &TestCluster) {
        let live = cluster
            .live()
            .into_iter()
            .map(|id| (id, (cluster.base(id).to_owned(), cluster.dicom(id))));
        *self.endpoints.lock().unwrap() = live.collect();
    }

    /// The preferred node if it runs, else the next running one.
    fn pick(&self, preferred: u64) -> Option<(u64, String, SocketAddr)> {
        let endpoints = self.endpoints.lock().unwrap();
        let ids: Vec<u64> = endpoints.keys().copied().collect();
        let id = ids
            .iter()
            .copied()
            .find(|id| *id >= preferred)
            .or_else(|| ids.first().copied())?;
        let (base, dicom) = endpoints[&id].clone();
        Some((id, base, dicom))
    }

    fn failed(&self, what: String) {
        *self.failures.lock().unwrap().entry(what).or_default() += 1;
    }

    fn count(&self) -> usize {
        self.acks.lock().unwrap().len()
    }
}

fn spec(client: usize, n: usize) -> Spec {
    let mut s = Spec::simple(
        &format!("T25-P{client}"),
        &format!("1.2.826.0.1.3680043.10.25.{client}"),
        &format!("1.2.826.0.1.3680043.10.25.{client}.{}", n / 50),
        &format!("1.2.826.0.1.3680043.10.25.{client}.{}.{n}", n / 50),
    );
    s.instance_number = n as u32 + 1;
    s
}

async fn rest_client(k: usize, preferred: u64, shared: Arc<Shared>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut n = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let bytes = spec(k, n).to_bytes();
        let first_try = Instant::now();
        let mut preferred = preferred;
        loop {
            assert!(
                first_try.elapsed() < INSTANCE_DEADLINE,
                "REST client {k}: instance {n} never acknowledged"
            );
            let Some((node, base, _)) = shared.pick(preferred) else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let sent = Instant::now();
            match http
                .post(format!("{base}/instances"))
                .body(bytes.clone())
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => {
                    let answer: Value = r.json().await.unwrap();
                    let ack = Ack {
                        id: answer["ID"].as_str().unwrap().to_owned(),
                        protocol: Protocol::Rest,
                        sent,
                        acked: Instant::now(),
                        already_stored: answer["Status"] == "AlreadyStored",
                    };
                    shared.acks.lock().unwrap().push(ack);
                    break;
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    if status == 503 {
                        let body: Value = r.json().await.unwrap_or_default();
                        assert_eq!(
                            body["HttpStatus"], 503,
                            "a 503 answer is Orthanc JSON: {body}"
                        );
                    }
                    shared.failed(format!("REST {status}"));
                }
                Err(_) => {
                    shared.failed("REST connection".into());
                    preferred = node % 3 + 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        n += 1;
        tokio::time::sleep(PACE).await;
    }
}

async fn dicom_client(k: usize, preferred: u64, shared: Arc<Shared>) {
    let mut scu: Option<StoreScu> = None;
    let mut preferred = preferred;
    let mut n = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let s = spec(k, n);
        let id = orthanc_ids(&s.patient_id, &s.study_uid, &s.series_uid, &s.sop_uid).instance;
        let bytes = s.to_bytes();
        let first_try = Instant::now();
        loop {
            assert!(
                first_try.elapsed() < INSTANCE_DEADLINE,
                "C-STORE client {k}: instance {n} never acknowledged"
            );
            if scu.is_none() {
                let Some((node, _, addr)) = shared.pick(preferred) else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                match StoreScu::connect(addr, "T25SCU", "ORTHANC", Duration::from_secs(30)).await {
                    Ok(open) => scu = Some(open),
                    Err(_) => {
                        shared.failed("C-STORE association".into());
                        preferred = node % 3 + 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            let sent = Instant::now();
            match scu.as_mut().unwrap().store(&bytes).await {
                Ok(_) => {
                    let ack = Ack {
                        id: id.clone(),
                        protocol: Protocol::Dicom,
                        sent,
                        acked: Instant::now(),
                        already_stored: false,
                    };
                    shared.acks.lock().unwrap().push(ack);
                    break;
                }
                Err(StoreError::Status { status, comment }) => {
                    assert_eq!(
                        status, 0xA700,
                        "a refused C-STORE is 'out of resources': {comment:?}"
                    );
                    assert!(
                        comment.is_some_and(|c| !c.is_empty()),
                        "a refused C-STORE carries an ErrorComment"
                    );
                    shared.failed("C-STORE A700".into());
                }
                Err(StoreError::Transport(_)) => {
                    shared.failed("C-STORE transport".into());
                    scu = None;
                    preferred = preferred % 3 + 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        n += 1;
        tokio::time::sleep(PACE).await;
    }
    if let Some(scu) = scu {
        scu.release().await;
    }
}

/// The first acknowledgment of a request sent at or after `since`, per protocol.
fn resumed(shared: &Shared, since: Instant, protocol: Protocol) -> Option<Duration> {
    let acks = shared.acks.lock().unwrap();
    acks.iter()
        .filter(|a| a.protocol == protocol && a.sent >= since)
        .map(|a| a.acked - since)
        .min()
}

#[tokio::test]
async fn t25_kill_9_the_leader_during_rest_and_c_store_ingest() {
    let started = Instant::now();
    let mut cluster = TestCluster::start(3).await;
    let shared = Arc::new(Shared {
        endpoints: Mutex::default(),
        stop: AtomicBool::new(false),
        acks: Mutex::default(),
        failures: Mutex::default(),
    });
    shared.publish(&cluster);
    let clients = vec![
        tokio::spawn(rest_client(1, 1, shared.clone())),
        tokio::spawn(rest_client(2, 2, shared.clone())),
        tokio::spawn(dicom_client(3, 2, shared.clone())),
        tokio::spawn(dicom_client(4, 3, shared.clone())),
    ];

    let mut timings = Vec::new();
    for round in 1..=KILLS {
        // Before each kill: every member is replicating, and ingest has run
        // for a while (a kill every few seconds) and acknowledged some more.
        let (before, since) = (shared.count(), Instant::now());
        let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
        wait_until(
            Duration::from_secs(60),
            "ingest flows and every member is up",
            || async {
                let Some(status) = cluster.get_json(leader, "/cluster").await else {
                    return false;
                };
                let members = status["Members"].as_array().cloned().unwrap_or_default();
                let flowing = shared.count() >= before + 30 && since.elapsed() >= KILL_INTERVAL;
                flowing && members.len() == 3 && members.iter().all(|m| m["Health"] == "up")
            },
        )
        .await;
        let leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
        cluster.kill9(leader);
        let killed = Instant::now();
        shared.publish(&cluster);
        wait_until(
            Duration::from_secs(60),
            "REST and C-STORE ingest resume",
            || async {
                resumed(&shared, killed, Protocol::Rest).is_some()
                    && resumed(&shared, killed, Protocol::Dicom).is_some()
            },
        )
        .await;
        let rest = resumed(&shared, killed, Protocol::Rest).unwrap();
        let dicom = resumed(&shared, killed, Protocol::Dicom).unwrap();
        let new_leader = cluster.wait_for_leader(Duration::from_secs(30)).await;
        eprintln!("kill {round}: leader {leader} killed; new leader {new_leader}; REST resumed after {rest:?}, C-STORE after {dicom:?}");
        timings.push((leader, rest, dicom));

        let restarted = Instant::now();
        cluster.start_node(leader);
        shared.publish(&cluster);
        eprintln!(
            "kill {round}: node {leader} restarted in {:?}",
            restarted.elapsed()
        );
    }

    // Some more ingest with every node back, then the clients finish the
    // instance at hand (retrying it until acknowledged) and stop.
    let before = shared.count();
    wait_until(
        Duration::from_secs(60),
        "ingest flows after the last restart",
        || async { shared.count() >= before + 20 },
    )
    .await;
    shared.stop.store(true, Ordering::SeqCst);
    for client in clients {
        tokio::time::timeout(INSTANCE_DEADLINE * 2, client)
            .await
            .expect("a client did not finish")
            .expect("a client failed");
    }

    let acks = shared.acks.lock().unwrap().clone();
    let acknowledged: BTreeSet<String> = acks.iter().map(|a| a.id.clone()).collect();
    assert_eq!(
        acknowledged.len(),
        acks.len(),
        "an instance was acknowledged twice"
    );
    let state = assert_consistent(&cluster, Duration::from_secs(60)).await;
    let lost: Vec<_> = acknowledged.difference(&state.instances).collect();
    let invented: Vec<_> = state.instances.difference(&acknowledged).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged instances lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(3)]
    );
    assert!(
        invented.is_empty(),
        "{} instances nobody acknowledged, e.g. {:?}",
        invented.len(),
        &invented[..invented.len().min(3)]
    );
    for id in &acknowledged {
        assert_eq!(
            state.count_changes("NewInstance", id),
            1,
            "instance {id} applied other than once"
        );
    }

    let rest = acks.iter().filter(|a| a.protocol == Protocol::Rest).count();
    let already = acks.iter().filter(|a| a.already_stored).count();
    eprintln!(
        "t25: {} instances acknowledged ({rest} REST, {} C-STORE; {already} retries found their instance already stored) in {:?}; failed attempts: {:?}",
        acks.len(),
        acks.len() - rest,
        started.elapsed(),
        shared.failures.lock().unwrap()
    );
    for (round, (leader, rest, dicom)) in timings.iter().enumerate() {
        assert!(
            *rest < RESUME_BOUND && *dicom < RESUME_BOUND,
            "kill {} (leader {leader}): ingest resumed after {rest:?} (REST) and {dicom:?} (C-STORE), bound {RESUME_BOUND:?}",
            round + 1
        );
    }
}
