//! `smart-chaos chat` end to end: the real binary on an analysis of a corpus app, answering from
//! the results (built-in) and through a fake OpenAI-compatible server.

// Helpers of a test file are test code: clippy's in-test allowances only cover #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use fake_llm::{FakeLlmServer, Step, WireFormat};
use smart_chaos::analysis::chat::ChatAnswer;
use smart_chaos::analysis::{AnalysisConfig, AnalysisResult, analyze_builtin};
use smart_chaos::snapshot::{self, ReadOptions};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

struct Fixture {
    dir: PathBuf,
    analysis: PathBuf,
    result: AnalysisResult,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An analysis.json of Online Boutique in a fresh folder.
fn fixture(name: &str) -> Fixture {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/online-boutique/kubernetes-manifests.yaml");
    let outcome = snapshot::read_paths(&[manifests], &ReadOptions::default()).unwrap();
    let map = smart_chaos::servicemap::build(&outcome.snapshot);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "smart-chaos-cli-chat-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let analysis = dir.join("analysis.json");
    std::fs::write(&analysis, serde_json::to_string_pretty(&result).unwrap()).unwrap();
    Fixture {
        dir,
        analysis,
        result,
    }
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn smart_chaos(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_smart-chaos"));
    command
        .args(args)
        .env("XDG_CACHE_HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.as_bytes()).await.unwrap();
    drop(pipe);
    let output = child.wait_with_output().await.unwrap();
    Output {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn builtin_chat_answers_with_cited_items() {
    let f = fixture("builtin");
    let analysis = f.analysis.to_str().unwrap();
    let out = smart_chaos(
        &[
            "chat",
            "--analysis",
            analysis,
            "what",
            "if",
            "cartservice",
            "fails",
        ],
        "",
        &[],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("match \"what if cartservice fails\""),
        "{}",
        out.stdout
    );
    let cited: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("- ["))
        .filter_map(|l| l.split_once(']').map(|(id, _)| id))
        .collect();
    assert!(!cited.is_empty(), "{}", out.stdout);
    for id in cited {
        assert!(f.result.find(id).is_some(), "{id}");
    }
}

#[tokio::test]
async fn questions_from_stdin_as_json_lines() {
    let f = fixture("stdin");
    let analysis = f.analysis.to_str().unwrap();
    let out = smart_chaos(
        &["chat", "--analysis", analysis, "--json"],
        "single replica\n\nwhich experiments touch redis-cart?\nquantum flux\n",
        &[],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    let answers: Vec<ChatAnswer> = out
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), 3, "blank lines are skipped");
    assert!(!answers[0].cited_ids.is_empty() && !answers[1].cited_ids.is_empty());
    assert!(answers[2].cited_ids.is_empty());
    assert!(
        answers[2]
            .answer
            .starts_with("Nothing in this analysis matches")
    );
    for id in answers.iter().flat_map(|a| &a.cited_ids) {
        assert!(f.result.find(id).is_some(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_an_openai_compatible_server() {
    let f = fixture("openai");
    let real = f.result.hypotheses.hypotheses[0].id.clone();
    let answer = ChatAnswer {
        answer: "Losing that pod breaks checkout for a while.".into(),
        cited_ids: vec![real.clone(), "h-made-up".into()],
    };
    let server = FakeLlmServer::start(WireFormat::OpenAiChat, Vec::new())
        .await
        .unwrap();
    server.always_for(
        "chat",
        Step::answer(&serde_json::to_string(&answer).unwrap()),
    );
    let url = server.url();
    let analysis = f.analysis.to_str().unwrap();
    let out = smart_chaos(
        &[
            "chat",
            "--analysis",
            analysis,
            "--provider",
            "openai",
            "--endpoint",
            &url,
            "--model",
            "gpt-4o-mini",
            "--api-key-env",
            "SMART_CHAOS_TEST_KEY",
            "--no-cache",
            "What breaks if redis-cart dies?",
        ],
        "",
        &[("SMART_CHAOS_TEST_KEY", "sk-test-key-for-fake-server")],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("Losing that pod breaks checkout"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("- [{real}] ")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("h-made-up"));
    assert!(
        out.stderr.contains("h-made-up"),
        "the removed citation is reported: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("model usage: 1 calls"),
        "{}",
        out.stderr
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-test-key-for-fake-server")
    );
    assert!(requests[0].body.contains("What breaks if redis-cart dies?"));
}

#[tokio::test]
async fn a_missing_analysis_is_a_clear_error() {
    let out = smart_chaos(
        &["chat", "--analysis", "/nonexistent/analysis.json", "hello"],
        "",
        &[],
    )
    .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("run smart-chaos analyze first"),
        "{}",
        out.stderr
    );
}
