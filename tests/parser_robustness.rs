//! The file reader on hostile input: arbitrary bytes, mutated manifests, wrong types, huge and
//! deeply nested documents, binary data. It must never panic, and every problem must come back
//! as a warning with a file and a line (or, with `strict`, an error).

// Helpers of a test file are test code: clippy's in-test allowances only cover #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use proptest::prelude::*;
use smart_chaos::servicemap;
use smart_chaos::snapshot::{ReadOptions, SnapshotError, files};

const MANIFEST: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        env:
        - {name: API_ADDR, value: \"api:8080\"}
        - {name: DB_URL, value: \"postgres://db.data.svc.cluster.local:5432/x\"}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {A: \"api:8080\"}}
";

/// Reads text as a YAML file; warnings are allowed, a panic or a strict-free error is not.
fn read_yaml(text: &str) -> files::ReadOutcome {
    files::read_str(text, Path::new("input.yaml"), &ReadOptions::default())
        .expect("non-strict reading of in-memory text never fails")
}

fn assert_warnings_are_located(outcome: &files::ReadOutcome, text: &str) {
    let lines = text.lines().count().max(1);
    for warning in &outcome.warnings {
        assert!(warning.line >= 1, "{warning}");
        assert!(
            warning.line <= lines + 1,
            "line {} of {lines}: {warning}",
            warning.line
        );
        assert!(!warning.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for name in ["x.yaml", "x.json"] {
            let outcome = files::read_bytes(&bytes, Path::new(name), &ReadOptions::default())
                .expect("non-strict reading never fails");
            // Whatever was read builds a map.
            let _ = servicemap::build(&outcome.snapshot);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,600}") {
        let outcome = read_yaml(&text);
        assert_warnings_are_located(&outcome, &text);
        let _ = servicemap::build(&outcome.snapshot);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "(kind: [A-Za-z]{0,12}\n|apiVersion: [a-z/0-9]{0,10}\n|---\n|  [a-z]{1,6}: [\\[\\]{}a-z0-9:\"'&*!|>-]{0,12}\n|- [a-z]{0,5}\n){0,30}") {
        let outcome = read_yaml(&text);
        assert_warnings_are_located(&outcome, &text);
        let _ = servicemap::build(&outcome.snapshot);
    }

    #[test]
    fn mutated_manifests_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..12)
    ) {
        let mut bytes = MANIFEST.as_bytes().to_vec();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let outcome = files::read_bytes(&bytes, Path::new("m.yaml"), &ReadOptions::default())
            .expect("non-strict reading never fails");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            assert_warnings_are_located(&outcome, text);
        }
        let _ = servicemap::build(&outcome.snapshot);
    }

    #[test]
    fn strict_either_reads_cleanly_or_fails_with_a_located_error(text in "\\PC{0,300}") {
        let strict = ReadOptions { strict: true, ..ReadOptions::default() };
        match files::read_str(&text, Path::new("s.yaml"), &strict) {
            Ok(outcome) => prop_assert!(outcome.warnings.is_empty()),
            Err(SnapshotError::Strict(warning)) => prop_assert!(warning.line >= 1),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}

#[test]
fn the_unmutated_manifest_reads_cleanly() {
    let outcome = read_yaml(MANIFEST);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.snapshot.workloads.len(), 1);
    assert_eq!(outcome.snapshot.services.len(), 1);
    assert_eq!(outcome.snapshot.config_maps.len(), 1);
}

#[test]
fn broken_yaml_is_a_located_warning() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {name: ok}\n";
    let outcome = read_yaml(text);
    assert_eq!(
        outcome.snapshot.services.len(),
        1,
        "the good document is still read"
    );
    assert_eq!(outcome.warnings.len(), 1);
    let warning = &outcome.warnings[0];
    assert!((1..=5).contains(&warning.line), "{warning}");
    assert!(warning.to_string().starts_with("input.yaml:"), "{warning}");
}

#[test]
fn wrong_types_name_the_field_and_line() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: \"three\"\n  selector: {}\n  template: {}\n";
    let outcome = read_yaml(text);
    assert!(outcome.snapshot.workloads.is_empty());
    assert_eq!(outcome.warnings.len(), 1);
    let warning = &outcome.warnings[0];
    assert_eq!(warning.line, 5, "{warning}");
    assert!(warning.message.contains("replicas"), "{warning}");
}

#[test]
fn a_50_mb_document_is_refused_over_the_limit_and_read_under_it() {
    // One ConfigMap whose single value is 50 MB.
    let big_value = "x".repeat(50 << 20);
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata:\n  blob: {big_value}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: after}}\n"
    );
    let limited = ReadOptions {
        max_document_bytes: 16 << 20,
        ..ReadOptions::default()
    };
    let outcome = files::read_str(&text, Path::new("big.yaml"), &limited).expect("reads");
    assert_eq!(outcome.warnings.len(), 1);
    assert!(
        outcome.warnings[0].message.contains("over the limit"),
        "{}",
        outcome.warnings[0]
    );
    assert_eq!(outcome.warnings[0].line, 1);
    assert_eq!(
        outcome.snapshot.services.len(),
        1,
        "the next document is still read"
    );

    // Under the default limit (64 MiB) the same document is read.
    let outcome = read_yaml(&text);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.snapshot.config_maps.len(), 1);
    assert_eq!(outcome.snapshot.config_maps[0].data["blob"].len(), 50 << 20);
}

#[test]
fn deep_nesting_is_refused_quickly_without_overflowing_the_stack() {
    let started = std::time::Instant::now();
    for (name, text) in [
        (
            "deep.yaml",
            format!("kind: ConfigMap\ndata: {}", "[".repeat(100_000)),
        ),
        (
            "deep2.yaml",
            format!("kind: ConfigMap\nmetadata: {}", "{a: ".repeat(100_000)),
        ),
        ("deep3.yaml", "- ".repeat(50_000)),
        (
            "deep4.yaml",
            format!(
                "kind: ConfigMap\nx: {}1{}\n",
                "[".repeat(5_000),
                "]".repeat(5_000)
            ),
        ),
        (
            "deep.json",
            format!(
                "{{\"kind\":\"ConfigMap\",\"data\":{}}}",
                "[".repeat(100_000)
            ),
        ),
    ] {
        let outcome =
            files::read_str(&text, Path::new(name), &ReadOptions::default()).expect("reads");
        assert_eq!(outcome.warnings.len(), 1, "{name}: {:?}", outcome.warnings);
        assert!(outcome.snapshot.is_empty());
    }
    // libyaml is quadratic in flow depth; the pre-scan keeps this linear.
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );

    // Deep block nesting (indentation) where a value is built (List items): serde_yaml's
    // recursion limit refuses it.
    let mut block = String::from("kind: List\nitems:\n- x:\n");
    for depth in 1..=2_000 {
        block.push_str(&" ".repeat(depth + 2));
        block.push_str("a:\n");
    }
    let outcome = read_yaml(&block);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[0].message.contains("recursion limit"),
        "{}",
        outcome.warnings[0]
    );
    // In a field nobody reads, serde_yaml skips the same nesting without recursing.
    let ignored = block.replacen("kind: List\nitems:\n- x:", "kind: ConfigMap\nx:\n  x:", 1);
    let outcome = read_yaml(&ignored);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.snapshot.config_maps.len(), 1);

    // Flow nesting within the pre-scan's limit but past serde's: the recursion limit answers.
    let flow = format!(
        "kind: List\nitems: [{}1{}]\n",
        "[".repeat(127),
        "]".repeat(127)
    );
    let outcome = read_yaml(&flow);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[0].message.contains("recursion limit"),
        "{}",
        outcome.warnings[0]
    );
}

#[test]
fn alias_bombs_are_refused() {
    // The billion laughs inside `data` of a List item: a field the reader builds a value from, so
    // the aliases would be expanded (9^10 strings) if nothing stopped it.
    let mut text = String::from(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: bomb}\n  data:\n    x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = i - 1;
        text.push_str(&format!(
            "    x{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let outcome = read_yaml(&text);
    // A bound against a hang (an expansion takes minutes and gigabytes), not a speed figure.
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(
        outcome.warnings[0]
            .message
            .contains("repetition limit exceeded"),
        "{}",
        outcome.warnings[0]
    );
    assert!(outcome.snapshot.config_maps.is_empty());
}

#[test]
fn binary_bytes_are_a_warning_with_the_line() {
    let mut bytes = b"apiVersion: v1\nkind: Service\nmetadata: {name: a}\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x00, 0x81, b'\n']);
    let outcome =
        files::read_bytes(&bytes, Path::new("bin.yaml"), &ReadOptions::default()).expect("reads");
    assert_eq!(outcome.warnings.len(), 1);
    assert_eq!(outcome.warnings[0].line, 4);
    assert!(outcome.warnings[0].message.contains("UTF-8"));
    // NUL and control characters in valid UTF-8 are parse errors, not crashes.
    let outcome = read_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: \"a\u{0}\u{7}\"}\n");
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    // The scanner reports a byte position, not a line, for this error: the warning points to
    // the document's first line.
    assert_eq!(outcome.warnings[0].line, 1, "{}", outcome.warnings[0]);
    assert!(
        outcome.warnings[0]
            .message
            .contains("control characters are not allowed"),
        "{}",
        outcome.warnings[0]
    );
    assert!(outcome.snapshot.services.is_empty());
}

#[test]
fn folders_are_read_recursively_skipping_hidden_entries_and_other_extensions() {
    let dir = std::env::temp_dir().join(format!("smart-chaos-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub/deeper")).expect("mkdir");
    std::fs::create_dir_all(dir.join(".hidden")).expect("mkdir");
    let service =
        |name: &str| format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n");
    std::fs::write(dir.join("a.yaml"), service("a")).expect("write");
    std::fs::write(dir.join("sub/b.yml"), service("b")).expect("write");
    std::fs::write(
        dir.join("sub/deeper/c.json"),
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"c"}}"#,
    )
    .expect("write");
    std::fs::write(dir.join("sub/README.md"), "kind: Service\n").expect("write");
    std::fs::write(dir.join(".hidden/d.yaml"), service("d")).expect("write");
    let outcome =
        files::read_paths(std::slice::from_ref(&dir), &ReadOptions::default()).expect("reads");
    let names: Vec<&str> = outcome
        .snapshot
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(outcome.files, 3);
    let missing = files::read_paths(&[dir.join("nope")], &ReadOptions::default());
    assert!(matches!(missing, Err(SnapshotError::Io { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}
