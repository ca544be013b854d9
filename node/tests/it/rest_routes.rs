//! The router against Orthanc 1.10.1's route table
//! (`fixtures/orthanc-routes-1.10.1.tsv`, every (method, path) Orthanc
//! registers, levels expanded): each route is served, or is owned by another
//! issue, or is listed below as not served yet. A route is *not served* when
//! the node answers 405 (the path exists, not the method) or Orthanc's bare
//! 404 of an unknown URI (no body); a handler's own errors have a JSON body.

use crate::common::TestNode;

/// Routes that other issues own, by path prefix or path, with the issue.
const OWNED_ELSEWHERE: &[(&str, &str)] = &[
    ("/jobs", "14: jobs"),
    ("/peers/{id}/store", "14: peers"),
    ("/peers/{id}/store-straight", "14: peers"),
    ("/peers/{id}/system", "14: peers"),
    ("/frames", "15: pixels"),
    ("/image-int16", "15: pixels"),
    ("/image-uint16", "15: pixels"),
    ("/image-uint8", "15: pixels"),
    ("/matlab", "15: pixels"),
    ("/numpy", "15: pixels"),
    ("/preview", "15: pixels"),
    ("/rendered", "15: pixels"),
    ("/protected", "19: lifecycle"),
    ("/", "18: web page"),
    ("/favicon.ico", "18: web page"),
];

/// Routes of this issue that are not served yet: the list only shrinks. A
/// route served and still listed here fails the test too.
const NOT_YET: &[&str] = &[
    "POST /instances/{id}/export",
    "GET /instances/{id}/pdf",
    "GET /storage-commitment/{id}",
    "POST /storage-commitment/{id}/remove",
    "POST /tools/create-dicom",
];

/// Whether `path` is owned by another issue: it is `/`, or it ends with an
/// entry of [`OWNED_ELSEWHERE`] or holds one followed by `/`.
fn owned_elsewhere(path: &str) -> bool {
    path == "/"
        || OWNED_ELSEWHERE
            .iter()
            .any(|(p, _)| *p != "/" && (path.ends_with(p) || path.contains(&format!("{p}/"))))
}

fn routes() -> Vec<(String, String)> {
    include_str!("../fixtures/orthanc-routes-1.10.1.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("method\t"))
        .filter_map(|l| {
            let mut cells = l.split('\t');
            Some((cells.next()?.to_owned(), cells.next()?.to_owned()))
        })
        .collect()
}

/// The route with its parameters filled with names that exist nowhere.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0000")
        .replace("{name}", "9999")
        .replace("{frame}", "0")
        .replace("{index}", "0")
        .replace("{key}", "archive")
        .replace('*', "0010-0010")
}

#[tokio::test]
async fn every_orthanc_route_is_served_or_owned_elsewhere() {
    // Orthanc answers a bare 404 for an unknown modality or peer name: define
    // the name the routes are filled with.
    let node = TestNode::start_with(|doc| {
        doc["DicomModalities"] = serde_json::json!({"0000": ["AET", "127.0.0.1", 1]});
        doc["OrthancPeers"] = serde_json::json!({"0000": ["http://127.0.0.1:1/"]});
    })
    .await;
    let mut unserved = Vec::new();
    let mut listed_but_served = Vec::new();
    // Deletions last, so that the names they delete exist for the others.
    let mut routes = routes();
    routes.sort_by_key(|(method, _)| method == "DELETE");
    for (method, path) in routes {
        // Both stop the node; `rest_tools` covers them.
        if path == "/tools/shutdown" || path == "/tools/reset" {
            continue;
        }
        let route = format!("{method} {path}");
        // Orthanc answers both with a bare 404 when they have nothing to
        // name: no plugin is loaded (`/plugins` checks the list), and a UID
        // needs its level.
        if route == "GET /plugins/{id}" {
            let (status, plugins) = node.get("/plugins").await;
            assert_eq!((status, plugins), (200, serde_json::json!(["explorer.js"])));
            continue;
        }
        let mut uri = concrete(&path);
        if path == "/tools/generate-uid" {
            uri.push_str("?level=study");
        }
        let request = node
            .client
            .request(method.parse().unwrap(), node.url(&uri));
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap();
        let served = !(status == 405 || (status == 404 && body.is_empty()));
        let not_yet = NOT_YET.contains(&route.as_str());
        if !served && !not_yet && !owned_elsewhere(&path) {
            unserved.push(route);
        } else if served && not_yet {
            listed_but_served.push(route);
        }
    }
    assert!(
        unserved.is_empty(),
        "{} routes are not served:\n{}",
        unserved.len(),
        unserved.join("\n")
    );
    assert!(
        listed_but_served.is_empty(),
        "served now, remove them from NOT_YET:\n{}",
        listed_but_served.join("\n")
    );
}

#[tokio::test]
async fn an_unknown_uri_is_orthancs_bare_404_and_a_trailing_slash_is_ignored() {
    let node = TestNode::start().await;
    let response = node.client.get(node.url("/no-such-route")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(response.bytes().await.unwrap().is_empty());
    let (status, list) = node.get("/studies/").await;
    assert_eq!((status, list), (200, serde_json::json!([])));
}
