//! `smart-chaos what-if` on every experiment `analyze` generates for the demo app gives exactly
//! the blast radius that the experiment's proposal carries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use smart_chaos::analysis::AnalysisResult;
use smart_chaos::api::ExperimentProposal;
use smart_chaos::chaosmesh::SelectorMode;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
}

fn out_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smart-chaos-what-if-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The lines listed under `header` (indented by two spaces).
fn listed(stdout: &str, header: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn what_if_matches_every_generated_proposal() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = out_dir();
    let analyze = binary()
        .args(["analyze", "-f"])
        .arg(crate_dir.join("examples/demo-app"))
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        analyze.status.success(),
        "{}",
        String::from_utf8_lossy(&analyze.stderr)
    );
    let result: AnalysisResult =
        serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap();
    assert!(
        result.planned.len() >= 3,
        "{} planned",
        result.planned.len()
    );
    for planned in &result.planned {
        let proposal: ExperimentProposal = serde_yaml::from_str(
            &std::fs::read_to_string(dir.join(format!("proposals/{}.yaml", planned.name))).unwrap(),
        )
        .unwrap();
        let pods = match planned.spec.selection() {
            (SelectorMode::One, _) => "one".to_owned(),
            (SelectorMode::All, _) => "all".to_owned(),
            (SelectorMode::Fixed, Some(n)) => n.to_owned(),
            (_, Some(percent)) => format!("{percent}%"),
            (_, None) => "one".to_owned(),
        };
        let case = format!("{} kill pods={pods}", proposal.spec.target);
        let output = binary()
            .args(["what-if", "--analysis"])
            .arg(&dir)
            .arg(&case)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let radius = &proposal.spec.blast_radius;
        assert_eq!(
            listed(&stdout, "affected workloads"),
            radius.affected_workloads,
            "{case}"
        );
        assert_eq!(
            listed(&stdout, "affected entry points"),
            radius.affected_entry_points,
            "{case}"
        );
        assert!(
            stdout.contains(&format!("({}%), severity", radius.pod_share_percent)),
            "{case}: {stdout}"
        );
    }
    // A test case Chaos Mesh cannot express still gets its blast radius, with the reason.
    let target = &result.planned[0].target;
    let output = binary()
        .args(["what-if", "--analysis"])
        .arg(&dir)
        .arg(format!("{target} zone-down=zone-a"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("not expressible in Chaos Mesh"), "{stdout}");
    assert!(!listed(&stdout, "affected workloads").is_empty());
    // A bad test case is a clear error.
    let output = binary()
        .args(["what-if", "--analysis"])
        .arg(&dir)
        .arg(format!("{target} explode"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown word `explode`"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn map_takes_architecture_files_and_lists_unmatched_names() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = binary()
        .args(["map", "-f"])
        .arg(crate_dir.join("../shared/corpus/sock-shop"))
        .arg("--architecture")
        .arg(crate_dir.join("examples/architecture/sock-shop.mmd"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unmatched \"Customer\""), "{stderr}");
    let map: smart_chaos::servicemap::ServiceMap = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        map.edges
            .iter()
            .any(|e| e.from.as_str() == "sock-shop/Deployment/orders"
                && e.to.as_str() == "sock-shop/Service/payment")
    );
    // A broken diagram is an error with its file and line; nothing is printed.
    let bad = std::env::temp_dir().join(format!("bad-{}.mmd", std::process::id()));
    std::fs::write(&bad, "graph TD\n  a --> b\n  c[oops --> d\n").unwrap();
    let output = binary()
        .args(["map", "-f"])
        .arg(crate_dir.join("../shared/corpus/sock-shop"))
        .arg("--architecture")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("{}:3:", bad.display())),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_file(&bad).unwrap();
}
