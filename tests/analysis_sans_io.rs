//! The analysis core, the remediations and the report renderers are sans-IO: no Kubernetes client, no cloud SDK, no
//! network, no files, no processes, no environment. This test reads their sources and fails on any
//! of those.

use std::path::{Path, PathBuf};

/// Forbidden in the pure modules. Built from parts so this file does not match itself.
fn forbidden() -> Vec<String> {
    [
        ("kube", "::Api"),
        ("kube", "::Client"),
        ("kube", "::runtime"),
        ("aws", "_"),
        ("req", "west"),
        ("std::", "fs"),
        ("tokio::", "fs"),
        ("std::", "net"),
        ("tokio::", "net"),
        ("std::", "process"),
        ("std::", "env"),
        ("tokio::", "spawn"),
        ("std::", "thread"),
    ]
    .iter()
    .map(|(a, b)| format!("{a}{b}"))
    .collect()
}

/// Whether `needle` occurs in `line` at the start of a path or identifier (so `draws_the_map`
/// does not count as `aws_`).
fn contains_token(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn tokens_are_matched_at_identifier_starts() {
    assert!(contains_token(
        "use aws_sdk_bedrockruntime::Client;",
        "aws_"
    ));
    assert!(!contains_token("fn draws_the_map() {}", "aws_"));
    assert!(contains_token("let x = std::fs::read(p);", "std::fs"));
}

#[test]
fn analysis_and_report_do_no_io() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in ["analysis", "report", "remediate"] {
        rust_files(&root.join(module), &mut files)?;
    }
    assert!(
        files.len() >= 10,
        "expected the analysis sources, found {files:?}"
    );
    let forbidden = forbidden();
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        for (number, line) in text.lines().enumerate() {
            for needle in &forbidden {
                if contains_token(line, needle) {
                    violations.push(format!("{}:{}: {needle}", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "I/O in a pure module:\n{}",
        violations.join("\n")
    );
    Ok(())
}
