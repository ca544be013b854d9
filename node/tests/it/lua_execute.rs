//! `/tools/execute-script` and the interpreter itself: printing, one state
//! shared with the configured scripts (a callback redefined), refused when
//! `ExecuteLuaEnabled` is false, Lua errors as Orthanc's JSON error, a runaway
//! script stopped while the node keeps answering, and a broken `LuaScripts`
//! file that stops the binary with the file and line.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{script_file, TestNode};
use serde_json::{json, Value};

#[tokio::test]
async fn execute_script_prints_shares_state_and_reports_errors() {
    let scripts = tempfile::tempdir().unwrap();
    let path = script_file(
        scripts.path(),
        "base.lua",
        "greeting = 'hello'\nfunction Answer() return 41 end\n",
    );
    let node = TestNode::start_with(|c| {
        c["LuaScripts"] = json!([path]);
        c["ExecuteLuaEnabled"] = json!(true);
    })
    .await;
    assert_eq!(
        node.execute_script("print(42)").await,
        (200, "42\n".to_owned())
    );
    assert_eq!(
        node.execute_script("print('a', 1, nil, true)").await,
        (200, "a, 1, nil, true\n".to_owned())
    );
    // The configured script's globals are there; a redefinition sticks.
    assert_eq!(
        node.execute_script("print(greeting, Answer())").await.1,
        "hello, 41\n"
    );
    assert_eq!(
        node.execute_script("function Answer() return 42 end").await,
        (200, String::new())
    );
    assert_eq!(node.execute_script("print(Answer())").await.1, "42\n");
    // Orthanc's helpers.
    let (_, printed) = node
        .execute_script("PrintRecursive({x=1}) print(DumpJson(ParseJson('{\"a\":[1,2]}')))")
        .await;
    assert_eq!(printed, "table\n\t[x], number, 1\n{\"a\":[1,2]}\n");
    let (_, printed) = node
        .execute_script("print(ParseJson(RestApiGet('/system')).Name) print(RestApiGet('/nope'))")
        .await;
    assert_eq!(printed, "Isengard\nnil\n");
    // A Lua error: 500, Orthanc's code 2031, the message with its line.
    let (status, body) = node.execute_script("local x = 1\nerror('boom')").await;
    assert_eq!(status, 500);
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["OrthancStatus"], 2031);
    assert_eq!(error["Message"], "Cannot execute a Lua command");
    assert_eq!(error["Details"], "[string \"line\"]:2: boom", "{error}");
    let (status, body) = node.execute_script("x = = 1").await;
    assert_eq!(status, 500);
    assert!(body.contains("[string \\\"line\\\"]:1:"), "{body}");
    // A command on an unknown resource is a Lua error naming it.
    let (status, body) = node
        .execute_script("ModifyInstance('x', {}, {}, true)")
        .await;
    assert_eq!(status, 500);
    assert!(
        body.contains("ModifyInstance(x) failed: unknown resource x"),
        "{body}"
    );
}

#[tokio::test]
async fn execute_script_is_refused_unless_enabled() {
    let node = TestNode::start().await;
    let (status, body) = node.execute_script("print(42)").await;
    assert_eq!((status, body.as_str()), (403, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_script_is_stopped_and_the_node_keeps_answering() {
    let node = TestNode::start_with(|c| {
        c["ExecuteLuaEnabled"] = json!(true);
        c["Isengard"]["LuaTimeout"] = json!(1);
    })
    .await;
    let started = Instant::now();
    let runaway = tokio::spawn({
        let client = node.client.clone();
        let url = node.url("/tools/execute-script");
        async move {
            let r = client
                .post(url)
                .body("while true do end")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    // The REST API answers while the script spins.
    assert_eq!(node.get("/system").await.0, 200);
    let (status, body) = runaway.await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("stopped after running for more than 1 s"),
        "{body}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "stopped after {elapsed:?}"
    );
    // The interpreter is usable again.
    assert_eq!(
        node.execute_script("print('alive')").await,
        (200, "alive\n".to_owned())
    );
}

fn isengard(config: &Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_isengard"))
        .arg(config)
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_broken_lua_script_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    script_file(dir.path(), "ok.lua", "x = 1\n");
    script_file(
        dir.path(),
        "broken.lua",
        "-- routing\nfunction OnStoredInstance(id)\n  if id then\nend\n",
    );
    let storage = dir.path().join("storage");
    let config = |scripts: &str| {
        format!(
            r#"{{ "StorageDirectory": "{}", "HttpPort": 0, "DicomPort": 0, "LuaScripts": [{scripts}] }}"#,
            storage.display()
        )
    };
    // Relative paths are relative to the configuration file.
    let path = script_file(
        dir.path(),
        "broken.json",
        &config(r#""ok.lua", "broken.lua""#),
    );
    let (code, text) = isengard(&path);
    assert_ne!(code, 0, "{text}");
    let expected = format!("{}:", dir.path().join("broken.lua").display());
    assert!(
        text.contains(&expected) && text.contains("'end' expected (to close 'function' at line 2)"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let path = script_file(dir.path(), "missing.json", &config(r#""nope.lua""#));
    let (code, text) = isengard(&path);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains(&dir.path().join("nope.lua").display().to_string()),
        "{text}"
    );
}
