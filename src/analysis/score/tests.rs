//! The formula on hand-computed cases: every expected number below is worked out in the comment
//! next to it from the constants in the module docs.

use super::*;
use crate::analysis::fixtures::{finish, workload};
use crate::servicemap::NodeKind;

fn map() -> ServiceMap {
    finish(
        vec![
            workload("shop", NodeKind::Deployment, "a", Some(1), |_| {}),
            workload("shop", NodeKind::StatefulSet, "b", Some(3), |_| {}),
        ],
        Vec::new(),
    )
}

fn a() -> NodeId {
    NodeId::new("shop", NodeKind::Deployment, "a")
}

fn b() -> NodeId {
    NodeId::new("shop", NodeKind::StatefulSet, "b")
}

fn finding(id: &str, kind: FindingKind, severity: Severity, subject: NodeId) -> Finding {
    Finding {
        id: id.to_string(),
        kind,
        severity,
        subject,
        message: format!("{id} message"),
        related: Vec::new(),
    }
}

fn path(id: &str, nodes: Vec<NodeId>) -> CriticalPath {
    CriticalPath {
        id: id.to_string(),
        nodes,
        reason: String::new(),
    }
}

fn verified(id: &str, target: NodeId, verdict: Verdict) -> VerifiedHypothesis {
    VerifiedHypothesis {
        hypothesis_id: id.to_string(),
        target,
        verdict,
        proposal: Some(format!("p-{id}")),
    }
}

/// A single replica `a` (high, a single point of failure) and `b` without limits (low), on two
/// critical paths: [a] and [a, b].
fn findings() -> Vec<Finding> {
    vec![
        finding("f-spof", FindingKind::SingleReplica, Severity::High, a()),
        finding(
            "f-limits",
            FindingKind::NoResourceLimits,
            Severity::Low,
            b(),
        ),
    ]
}

fn paths() -> Vec<CriticalPath> {
    vec![path("p1", vec![a()]), path("p2", vec![a(), b()])]
}

fn run(
    findings: &[Finding],
    paths: &[CriticalPath],
    verified: &[VerifiedHypothesis],
    suppressed: &[SuppressedFinding],
) -> ResilienceScore {
    let map = map();
    score(ScoreInput {
        map: &map,
        findings,
        critical_paths: paths,
        planned: &[],
        verified,
        suppressed,
        remediations: &[],
    })
}

fn service(score: &ResilienceScore, node: &NodeId) -> u32 {
    score
        .services
        .iter()
        .find(|s| &s.node == node)
        .map(|s| s.score)
        .unwrap()
}

#[test]
fn nothing_found_and_nothing_to_cover_scores_100() {
    let score = run(&[], &[], &[], &[]);
    assert_eq!(score.score, 100);
    assert!(score.lost.is_empty());
    assert!(score.services.iter().all(|s| s.score == 100));
}

#[test]
fn offline_findings_and_uncovered_paths_and_spof() {
    let score = run(&findings(), &paths(), &[], &[]);
    // Findings 6 + 1, two uncovered paths 2 × 15/2, one untested SPOF 15: 100 − 37 = 63.
    assert_eq!(score.score, 63);
    let points: Vec<(LossCause, &str, f64)> = score
        .lost
        .iter()
        .map(|l| (l.cause, l.item.as_str(), l.points))
        .collect();
    assert_eq!(
        points,
        vec![
            (
                LossCause::UntestedSinglePointOfFailure,
                "shop/Deployment/a",
                15.0
            ),
            (LossCause::UncoveredCriticalPath, "p1", 7.5),
            (LossCause::UncoveredCriticalPath, "p2", 7.5),
            (LossCause::Finding, "f-spof", 6.0),
            (LossCause::Finding, "f-limits", 1.0),
        ]
    );
    // a: 6 + both paths (15) + SPOF 15 = 36 → 64. b: 1 + the one path through it (15) → 84.
    assert_eq!(service(&score, &a()), 64);
    assert_eq!(service(&score, &b()), 84);
    assert_eq!(score.services[0].node, a(), "lowest first");
    assert_eq!(score.coverage.critical_paths, 2);
    assert_eq!(score.coverage.covered_critical_paths, 0);
    assert_eq!(score.coverage.single_points_of_failure, 1);
    // Every point lost says how to win it back.
    assert!(score.lost.iter().all(|l| !l.win_back.is_empty()));
}

#[test]
fn a_held_verdict_covers_its_paths_and_its_single_point_of_failure() {
    let score = run(
        &findings(),
        &paths(),
        &[verified("h1", a(), Verdict::Held)],
        &[],
    );
    // Both paths contain a and a is tested: only the findings' 7 points are lost.
    assert_eq!(score.score, 93);
    assert_eq!(score.coverage.covered_critical_paths, 2);
    assert_eq!(score.coverage.tested_single_points_of_failure, 1);
    assert_eq!(score.coverage.held, 1);
}

#[test]
fn refuted_verdicts_lose_ten_each_up_to_twenty() {
    let one = run(
        &findings(),
        &paths(),
        &[verified("h1", a(), Verdict::Refuted)],
        &[],
    );
    // Covered as with Held, minus 10 for the refutation: 100 − 7 − 10 = 83.
    assert_eq!(one.score, 83);
    let three = run(
        &findings(),
        &paths(),
        &[
            verified("h1", a(), Verdict::Refuted),
            verified("h2", b(), Verdict::Refuted),
            verified("h3", b(), Verdict::Refuted),
        ],
        &[],
    );
    // 3 × 10 is capped at 20 (6.67 each): 100 − 7 − 20 = 73.
    assert_eq!(three.score, 73);
    assert!(
        three
            .lost
            .iter()
            .filter(|l| l.cause == LossCause::RefutedHypothesis)
            .all(|l| l.points == 6.67)
    );
    // An inconclusive run covers nothing.
    let inconclusive = run(
        &findings(),
        &paths(),
        &[verified("h1", a(), Verdict::Inconclusive)],
        &[],
    );
    assert_eq!(inconclusive.score, 63);
}

#[test]
fn findings_past_the_cap_share_fifty_points() {
    let critical: Vec<Finding> = (0..5)
        .map(|i| {
            finding(
                &format!("f-{i}"),
                FindingKind::DataStoreWithoutReplicas,
                Severity::Critical,
                b(),
            )
        })
        .collect();
    let score = run(&critical, &[], &[verified("h", b(), Verdict::Held)], &[]);
    // 5 × 12 = 60 > 50: each loses 12 × 50/60 = 10; the SPOF b is tested: 100 − 50 = 50.
    assert_eq!(score.score, 50);
    assert!(score.lost.iter().all(|l| l.points == 10.0));
}

#[test]
fn suppressed_findings_are_excluded_and_listed() {
    let suppressed = [
        SuppressedFinding {
            finding_id: "f-spof".to_string(),
            reason: "a batch job nobody waits for".to_string(),
        },
        SuppressedFinding {
            finding_id: "f-gone".to_string(),
            reason: "no longer found".to_string(),
        },
    ];
    let score = run(&findings(), &paths(), &[], &suppressed);
    // Without f-spof, a is no single point of failure: 1 + 15 (paths) = 16 → 84.
    assert_eq!(score.score, 84);
    assert_eq!(score.suppressed.len(), 1);
    assert_eq!(score.suppressed[0].finding_id, "f-spof");
    assert!(score.lost.iter().all(|l| l.item != "f-spof"));
}

#[test]
fn a_finding_with_a_remediation_names_its_files() {
    let map = map();
    let remediations = [RemediationSummary {
        finding_id: "f-spof".to_string(),
        target: a(),
        description: "replicas 1 → 2".to_string(),
        changes: Vec::new(),
        files: vec!["remediations/f-spof.patch.yaml".to_string()],
    }];
    let findings = findings();
    let score = score(ScoreInput {
        map: &map,
        findings: &findings,
        critical_paths: &[],
        planned: &[],
        verified: &[],
        suppressed: &[],
        remediations: &remediations,
    });
    let lost = score.lost.iter().find(|l| l.item == "f-spof").unwrap();
    assert_eq!(
        lost.win_back,
        "apply remediations/f-spof.patch.yaml: replicas 1 → 2"
    );
}
