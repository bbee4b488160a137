//! AWS credentials as users have them on a laptop: `smart-chaos analyze --provider bedrock
//! --profile NAME` with a `credential_process` profile. The fake Converse server answers only
//! requests signed with the access key that process printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use fake_llm::{FakeLlmServer, Step, WireFormat};

const ACCESS_KEY: &str = "AKIDFROMPROCESS";
const STAGES: [&str; 7] = [
    "discovery",
    "dependencies",
    "steadyState",
    "hypotheses",
    "experiments",
    "blastRadius",
    "rumsfeld",
];

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/online-boutique/kubernetes-manifests.yaml")
}

/// A folder of its own for one test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("smart-chaos-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A folder with an AWS config whose profile `chaos-test` runs a script printing credentials.
fn aws_home(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    let script = dir.path().join("print-credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY}\", \
             \"SecretAccessKey\": \"process-secret\", \"SessionToken\": \"process-session\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "[profile chaos-test]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("credentials"), "").unwrap();
    dir
}

#[tokio::test]
async fn a_credential_process_profile_signs_the_bedrock_calls() {
    let server = FakeLlmServer::start(WireFormat::BedrockConverse, vec![])
        .await
        .unwrap();
    server.require_access_key(ACCESS_KEY);
    for stage in STAGES {
        server.always_for(stage, Step::answer("{}"));
    }
    let home = aws_home("credential-process");
    let out = home.path().join("report");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["analyze", "-f"])
        .arg(manifest())
        .args([
            "--provider",
            "bedrock",
            "--model",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "--profile",
            "chaos-test",
            "--no-cache",
            "--endpoint",
            &server.url(),
            "--out",
        ])
        .arg(&out)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("built-in result stands"),
        "every stage answered by the model: {stderr}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), STAGES.len(), "{stderr}");
    for request in &requests {
        assert_eq!(request.signed_access_key().as_deref(), Some(ACCESS_KEY));
        assert_eq!(
            request.header("x-amz-security-token"),
            Some("process-session")
        );
    }
}

#[tokio::test]
async fn an_unknown_profile_is_a_clear_failure_not_a_silent_fallback() {
    let server = FakeLlmServer::start(WireFormat::BedrockConverse, vec![])
        .await
        .unwrap();
    server.require_access_key(ACCESS_KEY);
    let home = aws_home("unknown-profile");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["analyze", "-f"])
        .arg(manifest())
        .args([
            "--provider",
            "bedrock",
            "--model",
            "m",
            "--region",
            "us-east-1",
            "--profile",
            "no-such-profile",
            "--no-cache",
            "--endpoint",
            &server.url(),
            "--out",
        ])
        .arg(home.path().join("report"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Nothing is sent unsigned or signed with other keys: the SDK finds no credentials for the
    // profile, every stage says so, and the built-in results stand.
    assert_eq!(server.request_count(), 0, "{stderr}");
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("built-in result stands").count(),
        STAGES.len(),
        "{stderr}"
    );
}
