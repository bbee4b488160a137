//! Stage 6: who an experiment can hurt, computed from the map (never guessed): a BFS over the
//! reverse edges from the target, for the kept experiments only.

use std::collections::BTreeSet;

use super::super::index::MapIndex;
use super::super::model::{BlastRadiusOutput, ExperimentBlastRadius, ExperimentDesign, Severity};
use super::label;
use crate::chaosmesh::SelectorMode;

/// How many of a workload's pods a selection touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodTouch {
    /// Pods touched at most; None when the workload's pod count is unknown.
    pub touched: Option<i32>,
    /// Share of the pods, in percent; None when the pod count is unknown.
    pub share_percent: Option<i32>,
}

/// The pods that `mode`/`value` select out of `replicas` (Chaos Mesh's semantics, rounded up
/// where it picks at random, so the figure is an upper bound).
pub fn pod_touch(mode: SelectorMode, value: Option<&str>, replicas: Option<i32>) -> PodTouch {
    let value: i64 = value.and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    let Some(pods) = replicas.filter(|&n| n > 0) else {
        return PodTouch {
            touched: match mode {
                SelectorMode::One => Some(1),
                SelectorMode::Fixed => i32::try_from(value).ok(),
                _ => None,
            },
            share_percent: match mode {
                SelectorMode::FixedPercent | SelectorMode::RandomMaxPercent => {
                    i32::try_from(value.clamp(0, 100)).ok()
                }
                SelectorMode::All => Some(100),
                _ => None,
            },
        };
    };
    let n = i64::from(pods);
    let touched = match mode {
        SelectorMode::One => 1,
        SelectorMode::All => n,
        SelectorMode::Fixed => value.clamp(0, n),
        SelectorMode::FixedPercent | SelectorMode::RandomMaxPercent => {
            let percent = value.clamp(0, 100);
            if percent == 0 {
                0
            } else {
                ((n * percent) / 100).max(1)
            }
        }
    };
    let share = (touched * 100 + n - 1) / n;
    PodTouch {
        touched: i32::try_from(touched).ok(),
        share_percent: i32::try_from(share).ok(),
    }
}

/// The blast radius of one experiment.
pub fn blast_radius_of(
    index: &MapIndex<'_>,
    experiment: &ExperimentDesign,
) -> ExperimentBlastRadius {
    let (mode, value) = experiment.spec.selection();
    blast_radius_for(
        index,
        &experiment.id,
        &experiment.target,
        mode,
        value,
        &experiment.spec.kind().to_string(),
    )
}

/// The blast radius of a failure of `target` that touches the pods `mode`/`value` select
/// (`what` names the failure in the summary): the one computation behind generated
/// experiments and a user's test cases.
pub fn blast_radius_for(
    index: &MapIndex<'_>,
    id: &str,
    target_id: &crate::servicemap::NodeId,
    mode: SelectorMode,
    value: Option<&str>,
    what: &str,
) -> ExperimentBlastRadius {
    let Some(target) = index.get(target_id.as_str()) else {
        return ExperimentBlastRadius {
            experiment_id: id.to_owned(),
            target: target_id.clone(),
            affected_workloads: Vec::new(),
            affected_entry_points: Vec::new(),
            affected_namespaces: Vec::new(),
            target_pods: None,
            touched_pods: None,
            pod_share_percent: 100,
            severity: Severity::Critical,
            summary: "the target is not in the map".to_string(),
        };
    };
    let upstream = index.upstream(target);
    let mut workloads = vec![target];
    workloads.extend(
        upstream
            .iter()
            .copied()
            .filter(|&u| index.node(u).kind.is_workload()),
    );
    workloads.sort_unstable();
    let entry_points: Vec<usize> = upstream
        .iter()
        .copied()
        .filter(|&u| index.node(u).entry_point)
        .collect();
    let namespaces: BTreeSet<String> = workloads
        .iter()
        .map(|&w| index.node(w).namespace.clone())
        .collect();
    let replicas = index
        .node(target)
        .workload
        .as_ref()
        .and_then(|w| w.replicas);
    let touch = pod_touch(mode, value, replicas);
    // Unknown pod counts are reported as the worst case.
    let share = touch.share_percent.unwrap_or(100);
    let severity = match (entry_points.is_empty(), share >= 100, workloads.len() > 1) {
        (false, true, _) => Severity::Critical,
        (false, false, _) => Severity::High,
        (true, _, true) => Severity::Medium,
        (true, _, false) => Severity::Low,
    };
    let pods = match (touch.touched, replicas) {
        (Some(t), Some(n)) => format!("{t} of {n} pod(s)"),
        (Some(t), None) => format!("{t} pod(s) of an unknown number"),
        (None, _) => format!("{share}% of the pods"),
    };
    let summary = format!(
        "{what} touches {pods} of {} ({share}%); {} dependent workload(s) and {} entry point(s) are exposed",
        label(index, target),
        workloads.len() - 1,
        entry_points.len()
    );
    ExperimentBlastRadius {
        experiment_id: id.to_owned(),
        target: target_id.clone(),
        affected_workloads: workloads
            .iter()
            .map(|&w| index.node(w).id.clone())
            .collect(),
        affected_entry_points: entry_points
            .iter()
            .map(|&e| index.node(e).id.clone())
            .collect(),
        affected_namespaces: namespaces.into_iter().collect(),
        target_pods: replicas,
        touched_pods: touch.touched,
        pod_share_percent: share.clamp(0, 100),
        severity,
        summary,
    }
}

pub(crate) fn run(
    index: &MapIndex<'_>,
    experiments: &super::super::model::ExperimentsOutput,
) -> BlastRadiusOutput {
    BlastRadiusOutput {
        experiments: experiments
            .experiments
            .iter()
            .map(|e| blast_radius_of(index, e))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;
    use crate::analysis::model::ExperimentDesign;
    use crate::chaosmesh::{ChaosSpec, PodChaosAction, PodChaosSpec, PodSelector};
    use crate::servicemap::NodeId;

    #[test]
    fn pod_touch_follows_chaos_mesh_modes() {
        let touch = |mode, value: Option<&str>, n| pod_touch(mode, value, n);
        assert_eq!(
            touch(SelectorMode::One, None, Some(4)),
            PodTouch {
                touched: Some(1),
                share_percent: Some(25)
            }
        );
        assert_eq!(
            touch(SelectorMode::All, None, Some(3)).share_percent,
            Some(100)
        );
        assert_eq!(
            touch(SelectorMode::Fixed, Some("2"), Some(3)),
            PodTouch {
                touched: Some(2),
                share_percent: Some(67)
            }
        );
        assert_eq!(
            touch(SelectorMode::Fixed, Some("9"), Some(3)).touched,
            Some(3)
        );
        assert_eq!(
            touch(SelectorMode::FixedPercent, Some("50"), Some(3)).touched,
            Some(1)
        );
        assert_eq!(
            touch(SelectorMode::FixedPercent, Some("10"), Some(3)).touched,
            Some(1)
        );
        assert_eq!(
            touch(SelectorMode::One, None, Some(1)).share_percent,
            Some(100)
        );
        assert_eq!(
            touch(SelectorMode::One, None, None),
            PodTouch {
                touched: Some(1),
                share_percent: None
            }
        );
        assert_eq!(
            touch(SelectorMode::RandomMaxPercent, Some("30"), None).share_percent,
            Some(30)
        );
    }

    fn kill(target: &str, labels: &[(&str, &str)]) -> ExperimentDesign {
        ExperimentDesign {
            id: "x".into(),
            hypothesis_id: "h".into(),
            title: "t".into(),
            target: NodeId(target.into()),
            peer: None,
            spec: ChaosSpec::PodChaos(PodChaosSpec {
                action: PodChaosAction::PodKill,
                selector: PodSelector {
                    namespaces: vec!["shop".into()],
                    label_selectors: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
                mode: SelectorMode::One,
                value: None,
                duration: Some("30s".into()),
                container_names: vec![],
            }),
            steady_state_ids: vec![],
            risk_score: 10,
            rationale: String::new(),
        }
    }

    #[test]
    fn upstream_dependents_and_entry_points_are_affected() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let blast = blast_radius_of(
            &index,
            &kill("shop/StatefulSet/redis-cart", &[("app", "redis-cart")]),
        );
        let affected: Vec<&str> = blast
            .affected_workloads
            .iter()
            .map(NodeId::as_str)
            .collect();
        assert!(affected.contains(&"shop/StatefulSet/redis-cart"));
        assert!(affected.contains(&"shop/Deployment/cartservice"));
        assert!(affected.contains(&"shop/Deployment/checkoutservice"));
        assert!(affected.contains(&"shop/Deployment/frontend"));
        assert!(affected.contains(&"shop/Deployment/loadgenerator"));
        assert!(!affected.contains(&"shop/Deployment/paymentservice"));
        let entries: Vec<&str> = blast
            .affected_entry_points
            .iter()
            .map(NodeId::as_str)
            .collect();
        assert_eq!(
            entries,
            vec!["shop/Ingress/shop", "shop/Service/frontend-external"]
        );
        assert_eq!(blast.pod_share_percent, 100);
        assert_eq!(blast.severity, Severity::Critical);

        let payment = blast_radius_of(
            &index,
            &kill(
                "shop/Deployment/paymentservice",
                &[("app", "paymentservice")],
            ),
        );
        assert_eq!(payment.pod_share_percent, 50);
        assert_eq!(payment.touched_pods, Some(1));
        assert_eq!(payment.severity, Severity::High);
        let loadgen = blast_radius_of(
            &index,
            &kill("shop/Deployment/loadgenerator", &[("app", "loadgenerator")]),
        );
        assert_eq!(loadgen.affected_workloads.len(), 1);
        assert!(loadgen.affected_entry_points.is_empty());
        assert_eq!(loadgen.severity, Severity::Low);
    }
}
