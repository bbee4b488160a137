//! `smart-chaos analyze --suppressions FILE`: the offline command takes the suppressions a
//! ChaosAnalysis holds, so GitOps users get them too; suppressed findings are listed as
//! suppressed in analysis.json and the reports, never dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smart_chaos::analysis::AnalysisResult;
use smart_chaos::api::SuppressionSource;

fn analyze(out: &Path, extra: &[&str]) -> Output {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-app");
    Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["analyze", "-f"])
        .arg(&demo)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn result(out: &Path) -> AnalysisResult {
    serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smart-chaos-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_suppressions_file_marks_findings_suppressed_in_every_output() {
    let dir = temp("suppress");
    let before = dir.join("before");
    assert!(analyze(&before, &[]).status.success());
    let first = result(&before);
    let finding = first.dependencies.findings[0].clone();

    let file = dir.join("suppressions.yaml");
    std::fs::write(
        &file,
        format!(
            "suppressions:\n- finding: {}\n  reason: accepted by the platform team\n- finding: gone-00000000\n  reason: fixed last quarter\n",
            finding.id
        ),
    )
    .unwrap();
    let after = dir.join("after");
    let run = analyze(&after, &["--suppressions", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("1 findings suppressed")
            && stdout.contains("1 suppressions matched no finding"),
        "{stdout}"
    );
    let second = result(&after);
    assert_eq!(
        second.dependencies.findings.len(),
        first.dependencies.findings.len() - 1
    );
    assert!(
        second
            .dependencies
            .findings
            .iter()
            .all(|f| f.id != finding.id)
    );
    let suppressed = &second.knowledge.suppressed;
    assert_eq!(suppressed.len(), 2);
    assert_eq!(suppressed[0].finding, finding.id);
    assert!(suppressed[0].matched);
    assert_eq!(suppressed[0].source, SuppressionSource::File);
    assert!(!suppressed[1].matched, "a stale suppression stays listed");
    for report in ["report.md", "report.html"] {
        let text = std::fs::read_to_string(after.join(report)).unwrap();
        assert!(text.contains("Suppressed findings"), "{report}");
        assert!(text.contains(&finding.id), "{report}");
        assert!(text.contains("accepted by the platform team"), "{report}");
    }
}

#[test]
fn a_malformed_suppressions_file_stops_with_its_name() {
    let dir = temp("suppress-bad");
    let file = dir.join("suppressions.yaml");
    std::fs::write(&file, "- finding: x\n  reason: ''\n").unwrap();
    let run = analyze(
        &dir.join("out"),
        &["--suppressions", file.to_str().unwrap()],
    );
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("suppressions.yaml"), "{stderr}");
    assert!(
        stderr.contains("needs a finding id and a reason"),
        "{stderr}"
    );
}
