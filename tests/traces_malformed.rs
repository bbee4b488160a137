//! Malformed trace files give clear errors (file, line, column), never a panic, and the map from
//! the manifests stands: through the library and through `smart-chaos map --traces`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod trace_files;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use smart_chaos::servicemap::{Evidence, ServiceMap};
use smart_chaos::traffic::traces::{self, ReadLimits, TraceError};
use trace_files::{Deployment, Shape, call};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "smart-chaos-bad-traces-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn boutique() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/online-boutique/kubernetes-manifests.yaml")
}

/// A good collector file: two lines.
fn good_lines(dir: &Path) -> PathBuf {
    let path = dir.join("good.jsonl");
    trace_files::write_otlp_lines(
        &path,
        &trace_files::generate(
            &[
                call("frontend", "cartservice", Shape::Paired),
                call("cartservice", "redis-cart", Shape::ServerAddress),
            ],
            1,
        ),
        &Deployment {
            namespace: "default",
            with_workload_name: true,
        },
    );
    path
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

#[test]
fn each_kind_of_damage_gets_a_clear_error() {
    let dir = temp_dir("lib");
    let good = std::fs::read(good_lines(&dir)).unwrap();
    let first_line_end = good.iter().position(|&b| b == b'\n').unwrap();

    // Truncated in the middle of the second line: the first line's calls are kept.
    let truncated = write(&dir.join("truncated.jsonl"), &good[..good.len() - 40]);
    let read = traces::read_file(&truncated, ReadLimits::default());
    match &read.error {
        Some(TraceError::Parse { line, message, .. }) => {
            assert_eq!(*line, 2, "{message}");
            assert!(message.contains("EOF"), "{message}");
        }
        other => panic!("truncated: {other:?}"),
    }
    assert!(!read.calls.is_empty(), "the first line's calls are kept");
    let shown = read.error.as_ref().unwrap().to_string();
    assert!(
        shown.starts_with(&format!("{}:2:", truncated.display())),
        "{shown}"
    );

    // A truncated single document (pretty-printed, streamed).
    let pretty = dir.join("pretty.json");
    trace_files::write_otlp_document(
        &pretty,
        &trace_files::generate(&[call("frontend", "cartservice", Shape::Paired)], 2),
        &Deployment {
            namespace: "default",
            with_workload_name: true,
        },
    );
    let bytes = std::fs::read(&pretty).unwrap();
    let cut = write(&dir.join("pretty-cut.json"), &bytes[..bytes.len() / 2]);
    let read = traces::read_file(&cut, ReadLimits::default());
    assert!(
        matches!(&read.error, Some(TraceError::Parse { line, .. }) if *line > 1),
        "{:?}",
        read.error
    );

    // Wrong types: a span id that is a number, a kind that is an object.
    let wrong = write(
        &dir.join("wrong-types.json"),
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":7}]}]}]}"#,
    );
    let read = traces::read_file(&wrong, ReadLimits::default());
    match &read.error {
        Some(TraceError::Parse {
            line: 1, message, ..
        }) => {
            assert!(message.contains("invalid type"), "{message}")
        }
        other => panic!("wrong types: {other:?}"),
    }
    let wrong_kind = write(
        &dir.join("wrong-kind.json"),
        br#"{"data":[{"spans":[{"traceID":"1","spanID":"2","tags":[{"key":"k","value":{}}]}]}]}"#,
    );
    assert!(matches!(
        traces::read_file(&wrong_kind, ReadLimits::default()).error,
        Some(TraceError::Parse { .. })
    ));

    // An object that is no trace document.
    let other = write(&dir.join("other.json"), br#"{"kind":"Deployment"}"#);
    match traces::read_file(&other, ReadLimits::default()).error {
        Some(TraceError::Parse { message, .. }) => {
            assert!(message.contains("not a trace document"), "{message}")
        }
        other => panic!("not traces: {other:?}"),
    }

    // Binary and empty files.
    let binary = write(&dir.join("binary.json"), &[0x7f, b'E', b'L', b'F', 0, 1, 2]);
    assert!(matches!(
        traces::read_file(&binary, ReadLimits::default()).error,
        Some(TraceError::NotJson { byte: 0x7f, .. })
    ));
    let empty = write(&dir.join("empty.json"), b"  \n\n");
    assert!(matches!(
        traces::read_file(&empty, ReadLimits::default()).error,
        Some(TraceError::Empty { .. })
    ));

    // A huge line after good ones: refused with its line number, the lines before kept.
    let huge = dir.join("huge.jsonl");
    let mut file = std::fs::File::create(&huge).unwrap();
    file.write_all(&good[..=first_line_end]).unwrap();
    file.write_all(b"{\"resourceSpans\":[").unwrap();
    file.write_all(&vec![b' '; 2 << 20]).unwrap();
    file.write_all(b"]}\n").unwrap();
    drop(file);
    let read = traces::read_file(
        &huge,
        ReadLimits {
            max_line_bytes: 1 << 20,
        },
    );
    assert!(
        matches!(read.error, Some(TraceError::LineTooLong { line: 2, .. })),
        "{:?}",
        read.error
    );
    assert!(!read.calls.is_empty());

    // A missing path is an error of its own; the other paths are read.
    let outcome = traces::read_paths(
        &[dir.join("missing.json"), dir.join("good.jsonl")],
        ReadLimits::default(),
    );
    assert_eq!(outcome.errors().count(), 1);
    assert!(outcome.calls().count() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_cli_warns_about_bad_files_and_still_prints_the_map() {
    let dir = temp_dir("cli");
    let good = good_lines(&dir);
    let bad = write(
        &dir.join("bad.json"),
        b"{\"resourceSpans\": [ {\"scopeSpans\": ",
    );
    write(&dir.join("binary.json"), &[0, 159, 146, 150]);
    let output = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["map", "-o", "json", "-f"])
        .arg(boutique())
        .arg("--traces")
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: {}:1:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("binary.json: not a trace file"), "{stderr}");
    let map: ServiceMap = serde_json::from_slice(&output.stdout).unwrap();
    // The manifests' map is all there, and the good file's calls are on it.
    assert!(map.edges.len() >= 15, "{}", map.edges.len());
    let cart = map
        .edges
        .iter()
        .find(|e| {
            e.from.0 == "default/Deployment/frontend" && e.to.0 == "default/Service/cartservice"
        })
        .unwrap();
    assert!(
        cart.evidence.iter().any(|e| matches!(
            e,
            Evidence::Traffic(t) if t.origin == good.display().to_string()
        )),
        "{:?}",
        cart.evidence
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
