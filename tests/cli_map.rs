//! `smart-chaos map` end to end: the real binary on real manifests.

// Helpers of a test file are test code: clippy's in-test allowances only cover #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use smart_chaos::servicemap::ServiceMap;

fn corpus(app: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(app)
}

fn smart_chaos(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs smart-chaos");
    {
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("writes stdin");
        }
    }
    child.wait_with_output().expect("waits")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn json_dot_mermaid_and_hash_of_a_corpus_app() {
    let dir = corpus("online-boutique");
    let dir = dir.to_str().expect("utf-8 path");
    let json = smart_chaos(&["map", "-f", dir, "-o", "json"], None);
    assert!(json.status.success(), "{}", text(&json.stderr));
    let map: ServiceMap = serde_json::from_slice(&json.stdout).expect("the JSON contract");
    assert!(map.edges.len() >= 16);
    assert!(
        map.nodes
            .iter()
            .all(|n| n.id.as_str().matches('/').count() >= 2)
    );

    let hash = smart_chaos(&["map", "-f", dir, "--hash"], None);
    assert!(hash.status.success());
    assert_eq!(
        text(&hash.stdout).trim(),
        map.content_hash().expect("hash"),
        "--hash is the hash of the JSON output's map"
    );

    let dot = smart_chaos(&["map", "-f", dir, "-o", "dot"], None);
    assert!(text(&dot.stdout).starts_with("digraph servicemap {"));
    let mermaid = smart_chaos(&["map", "-f", dir, "-o", "mermaid"], None);
    assert!(text(&mermaid.stdout).starts_with("flowchart LR\n"));
}

#[test]
fn warnings_go_to_stderr_with_file_and_line_and_strict_fails() {
    let dir = std::env::temp_dir().join(format!("smart-chaos-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: Service\nmetadata: [\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");

    let lenient = smart_chaos(&["map", "-f", path], None);
    assert!(lenient.status.success(), "{}", text(&lenient.stderr));
    let stderr = text(&lenient.stderr);
    assert!(stderr.contains(&format!("{path}:")), "{stderr}");
    let map: ServiceMap = serde_json::from_slice(&lenient.stdout).expect("json");
    assert_eq!(map.nodes.len(), 1, "the good document is mapped");

    let strict = smart_chaos(&["map", "--strict", "-f", path], None);
    assert!(!strict.status.success());
    assert!(
        text(&strict.stderr).contains(&format!("{path}:")),
        "{}",
        text(&strict.stderr)
    );
    assert!(strict.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reads_standard_input_and_sets_the_namespace() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n";
    let output = smart_chaos(&["map", "-f", "-", "--namespace", "team"], Some(yaml));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let map: ServiceMap = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(map.nodes[0].id.as_str(), "team/Service/a");
}

#[test]
fn a_missing_path_is_an_error() {
    let output = smart_chaos(&["map", "-f", "/nonexistent/manifests"], None);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("/nonexistent/manifests"));
}
