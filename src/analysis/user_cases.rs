//! The team's own test cases in an analysis (`spec.testCases`): each is read like `what-if`,
//! placed on the map, given the Chaos Mesh spec that expresses it, and sent through the same
//! guardrails as a generated experiment. A kept one becomes a [`PlannedExperiment`] (a Pending
//! proposal, approved like any other); the others keep their blast radius and the reason they
//! have no proposal. Nothing here guesses: the blast radius is the one computation of
//! [`blast_radius_of`].

use super::builtin::{
    CLOCK_OFFSET, HTTP_DELAY, IO_DELAY, PACKET_LOSS, blast_radius_of, pods_behind, pods_of,
};
use super::config::DEFAULT_EXPERIMENT_DURATION_MS;
use super::duration::format_go_duration;
use super::guardrails::guard_experiments;
use super::index::MapIndex;
use super::map_context::MapContext;
use super::model::{
    Expectation, ExperimentDesign, ExperimentsOutput, Fault, HypothesesOutput, Hypothesis,
};
use super::pipeline::steady_state_check;
use super::result::{AnalysisResult, GroundingLog, PlannedExperiment};
use super::stages::StageOutputs;
use super::whatif::{WhatIf, WhatIfFault, WhatIfOutcome, what_if};
use crate::api::{BlastRadius, ProposalHypothesis};
use crate::chaosmesh::{
    ChaosSpec, CpuStressor, DelaySpec, Direction, DnsChaosAction, DnsChaosSpec, HttpChaosSpec,
    HttpTarget, IoChaosAction, IoChaosSpec, LossSpec, NetworkChaosAction, NetworkChaosSpec,
    PodChaosAction, PodChaosSpec, PodSelectorSpec, SelectorMode, StressChaosSpec, Stressors,
    TimeChaosSpec,
};
use crate::servicemap::{NodeKind, ServiceMap};

/// One test case as the team wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCase {
    pub name: String,
    pub failure: String,
}

/// What became of a test case.
#[derive(Clone, Debug, PartialEq)]
pub struct UserCasePlan {
    pub name: String,
    /// The test case as understood (None when it could not be read or placed on the map).
    pub canonical: Option<String>,
    /// Its blast radius, when the target is on the map.
    pub blast_radius: Option<BlastRadius>,
    /// Steady states expected to break, by id.
    pub breaks: Vec<String>,
    /// The experiment to propose, or why there is none.
    pub experiment: Result<PlannedExperiment, String>,
}

/// Plans every test case against `map` and the analysis `result` computed from it.
pub fn plan_user_cases(
    map: &ServiceMap,
    result: &AnalysisResult,
    cases: &[UserCase],
) -> Vec<UserCasePlan> {
    let index = MapIndex::new(map);
    cases
        .iter()
        .map(|case| plan_one(map, &index, result, case))
        .collect()
}

fn plan_one(
    map: &ServiceMap,
    index: &MapIndex<'_>,
    result: &AnalysisResult,
    case: &UserCase,
) -> UserCasePlan {
    let unplaced = |reason: String| UserCasePlan {
        name: case.name.clone(),
        canonical: None,
        blast_radius: None,
        breaks: Vec::new(),
        experiment: Err(reason),
    };
    let parsed = match WhatIf::parse(&case.failure) {
        Ok(parsed) => parsed,
        Err(error) => return unplaced(error.to_string()),
    };
    let outcome = match what_if(map, &result.steady_state.steady_states, &parsed) {
        Ok(outcome) => outcome,
        Err(error) => return unplaced(error.to_string()),
    };
    let mut plan = UserCasePlan {
        name: case.name.clone(),
        canonical: Some(outcome.canonical.clone()),
        blast_radius: Some(api_radius(&outcome.blast_radius)),
        breaks: outcome.breaks.clone(),
        experiment: Err(String::new()),
    };
    plan.experiment = propose(index, result, case, &parsed, &outcome).inspect(|planned| {
        // The guardrails may have cut the pods touched: the proposal's radius is the one shown.
        plan.blast_radius = Some(planned.blast_radius.clone());
    });
    plan
}

fn api_radius(radius: &super::model::ExperimentBlastRadius) -> BlastRadius {
    BlastRadius {
        affected_workloads: radius
            .affected_workloads
            .iter()
            .map(|w| w.as_str().to_owned())
            .collect(),
        affected_entry_points: radius
            .affected_entry_points
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        pod_share_percent: radius.pod_share_percent,
    }
}

/// The experiment that runs a placed test case, after the guardrails.
fn propose(
    index: &MapIndex<'_>,
    result: &AnalysisResult,
    case: &UserCase,
    parsed: &WhatIf,
    outcome: &WhatIfOutcome,
) -> Result<PlannedExperiment, String> {
    outcome.chaos_kind.clone()?;
    let config = &result.config;
    let duration = format_go_duration(DEFAULT_EXPERIMENT_DURATION_MS.min(config.max_duration_ms));
    let (spec, title) = spec_for(index, parsed, outcome, &duration)?;
    // The steady states it is expected to break are the ones to watch; failing that, those of
    // the target itself.
    let mut steady_state_ids = outcome.breaks.clone();
    if steady_state_ids.is_empty() {
        steady_state_ids = result
            .steady_state
            .steady_states
            .iter()
            .filter(|s| s.subject == outcome.target)
            .map(|s| s.id.clone())
            .collect();
    }
    let hypothesis = Hypothesis {
        id: format!("user-{}", case.name),
        statement: format!(
            "Test case {}: if {}, the steady states hold ({} expected to break by the map)",
            case.name,
            outcome.canonical,
            outcome.breaks.len()
        ),
        fault: fault_of(&parsed.fault),
        target: outcome.target.clone(),
        peer: outcome.peer.clone(),
        keeps_steady: Vec::new(),
        steady_state_ids: steady_state_ids.clone(),
        finding_ids: Vec::new(),
        expectation: if outcome.breaks.is_empty() {
            Expectation::Holds
        } else {
            Expectation::AtRisk
        },
        risk_score: 0,
    };
    let design = ExperimentDesign {
        id: hypothesis.id.clone(),
        hypothesis_id: hypothesis.id.clone(),
        title,
        target: outcome.target.clone(),
        peer: outcome.peer.clone(),
        spec,
        steady_state_ids,
        risk_score: 0,
        rationale: format!("The team's test case {}.", case.name),
    };
    let namespaces = config.effective_namespaces(index.map());
    let grounding = MapContext {
        index,
        config,
        namespaces: &namespaces,
    };
    let earlier = StageOutputs {
        steady_state: Some(result.steady_state.clone()),
        hypotheses: Some(HypothesesOutput {
            hypotheses: vec![hypothesis.clone()],
        }),
        ..StageOutputs::default()
    };
    let mut log = GroundingLog::default();
    let guarded = guard_experiments(
        ExperimentsOutput {
            experiments: vec![design],
            test_cases: Vec::new(),
        },
        &grounding,
        &earlier,
        &mut log,
    );
    let Some(design) = guarded.experiments.into_iter().next() else {
        let reasons: Vec<String> = log.dropped.into_iter().map(|d| d.reason).collect();
        return Err(format!("the guardrails refuse it: {}", reasons.join("; ")));
    };
    let checks = design
        .steady_state_ids
        .iter()
        .filter_map(|id| {
            result
                .steady_state
                .steady_states
                .iter()
                .find(|s| &s.id == id)
        })
        .map(steady_state_check)
        .collect();
    let radius = blast_radius_of(index, &design);
    let namespace = index
        .node_by_id(design.target.as_str())
        .map(|n| n.namespace.clone())
        .unwrap_or_default();
    Ok(PlannedExperiment {
        name: design.id.clone(),
        namespace,
        title: design.title.clone(),
        kind: design.spec.kind(),
        target: design.target.clone(),
        peer: design.peer.clone(),
        hypothesis: ProposalHypothesis {
            id: hypothesis.id,
            statement: hypothesis.statement,
        },
        spec: design.spec,
        steady_state: checks,
        blast_radius: api_radius(&radius),
        risk_score: design.risk_score,
        warnings: log.warnings.remove(&design.id).unwrap_or_default(),
        neighbourhood: super::memory::neighbourhood_hash(index, &design.target),
    })
}

/// The hypothesis fault closest to a test case's fault (for the proposal's record).
fn fault_of(fault: &WhatIfFault) -> Fault {
    match fault {
        WhatIfFault::Kill | WhatIfFault::ZoneDown { .. } => Fault::PodLoss,
        WhatIfFault::Crash => Fault::ContainerCrash,
        WhatIfFault::Latency { .. } => Fault::DependencyLatency,
        WhatIfFault::Loss => Fault::DependencyLoss,
        WhatIfFault::PartitionFrom { .. } => Fault::DependencyPartition,
        WhatIfFault::DnsError => Fault::DnsFailure,
        WhatIfFault::CpuStress => Fault::CpuPressure,
        WhatIfFault::DiskLatency => Fault::DiskLatency,
        WhatIfFault::HttpLatency => Fault::HttpLatency,
        WhatIfFault::HttpAbort => Fault::HttpAbort,
        WhatIfFault::ClockSkew => Fault::ClockSkew,
    }
}

/// The Chaos Mesh spec and title of a placed test case, or why the map does not allow one.
fn spec_for(
    index: &MapIndex<'_>,
    parsed: &WhatIf,
    outcome: &WhatIfOutcome,
    duration: &str,
) -> Result<(ChaosSpec, String), String> {
    let target = index
        .node_by_id(outcome.target.as_str())
        .ok_or_else(|| format!("{} is not in the map", outcome.target))?;
    let info = target
        .workload
        .as_ref()
        .ok_or_else(|| format!("{} is not a workload", target.id))?;
    let selector = pods_of(target)
        .ok_or_else(|| format!("{} has no pod labels to select its pods by", target.id))?;
    let peer = outcome
        .peer
        .as_ref()
        .and_then(|p| index.node_by_id(p.as_str()));
    let mode = parsed.mode;
    let value = parsed.value.clone();
    let duration = Some(duration.to_owned());
    let name = &target.name;
    // A network fault towards a peer reaches its pods (a Service) or its host (external).
    let towards = || -> Result<(Option<PodSelectorSpec>, Vec<String>), String> {
        match peer {
            None => Ok((None, Vec::new())),
            Some(p) if p.kind == NodeKind::Service => Ok((
                Some(PodSelectorSpec {
                    selector: pods_behind(p).ok_or_else(|| format!("{} selects no pods", p.id))?,
                    mode: SelectorMode::All,
                    value: None,
                }),
                Vec::new(),
            )),
            Some(p) if p.kind == NodeKind::External => {
                Ok((None, vec![p.host.clone().unwrap_or(p.name.clone())]))
            }
            Some(p) => Err(format!(
                "{} is neither a Service nor an external host: a network fault cannot aim at it",
                p.id
            )),
        }
    };
    let network = |action, delay, loss| -> Result<ChaosSpec, String> {
        let (target, external_targets) = towards()?;
        Ok(ChaosSpec::NetworkChaos(NetworkChaosSpec {
            action,
            selector: selector.clone(),
            mode,
            value: value.clone(),
            direction: Some(Direction::To),
            target,
            external_targets,
            delay,
            loss,
            duration: duration.clone(),
        }))
    };
    let peer_name = peer.map_or("all of its peers".to_owned(), |p| p.name.clone());
    Ok(match &parsed.fault {
        WhatIfFault::Kill => (
            ChaosSpec::PodChaos(PodChaosSpec {
                action: PodChaosAction::PodKill,
                selector,
                mode,
                value,
                duration,
                container_names: Vec::new(),
            }),
            format!("Kill pods of {name}"),
        ),
        WhatIfFault::Crash => {
            let container = info
                .containers
                .first()
                .ok_or_else(|| format!("{} has no container in the map", target.id))?;
            (
                ChaosSpec::PodChaos(PodChaosSpec {
                    action: PodChaosAction::ContainerKill,
                    selector,
                    mode,
                    value,
                    duration,
                    container_names: vec![container.name.clone()],
                }),
                format!("Kill container {} of {name}", container.name),
            )
        }
        WhatIfFault::Latency { delay } => (
            network(
                NetworkChaosAction::Delay,
                Some(DelaySpec {
                    latency: delay.clone(),
                    jitter: None,
                    correlation: None,
                }),
                None,
            )?,
            format!("Delay {name} → {peer_name} by {delay}"),
        ),
        WhatIfFault::Loss => (
            network(
                NetworkChaosAction::Loss,
                None,
                Some(LossSpec {
                    loss: PACKET_LOSS.to_owned(),
                    correlation: None,
                }),
            )?,
            format!("Drop {PACKET_LOSS}% of packets {name} → {peer_name}"),
        ),
        WhatIfFault::PartitionFrom { .. } => (
            network(NetworkChaosAction::Partition, None, None)?,
            format!("Cut {name} off from {peer_name}"),
        ),
        WhatIfFault::DnsError => {
            let host = peer
                .filter(|p| p.kind == NodeKind::External)
                .map(|p| p.host.clone().unwrap_or(p.name.clone()))
                .ok_or_else(|| {
                    "dns-error needs to=HOST naming an external host of the map (a DNSChaos \
                     without a pattern would fail every lookup)"
                        .to_owned()
                })?;
            (
                ChaosSpec::DNSChaos(DnsChaosSpec {
                    action: DnsChaosAction::Error,
                    selector,
                    mode,
                    value,
                    patterns: vec![host.clone()],
                    duration,
                }),
                format!("Fail DNS lookups of {host} from {name}"),
            )
        }
        WhatIfFault::CpuStress => (
            ChaosSpec::StressChaos(StressChaosSpec {
                selector,
                mode,
                value,
                stressors: Stressors {
                    cpu: Some(CpuStressor {
                        workers: 1,
                        load: Some(80),
                    }),
                    memory: None,
                },
                duration,
            }),
            format!("Load the CPU of {name} to 80%"),
        ),
        WhatIfFault::DiskLatency => {
            let mount = info
                .persistent_mounts
                .first()
                .ok_or_else(|| format!("{} mounts no persistent volume", target.id))?;
            (
                ChaosSpec::IOChaos(IoChaosSpec {
                    action: IoChaosAction::Latency,
                    selector,
                    mode,
                    value,
                    volume_path: mount.clone(),
                    path: None,
                    delay: Some(IO_DELAY.to_owned()),
                    errno: None,
                    percent: Some(50),
                    duration,
                }),
                format!("Slow the volume {mount} of {name} by {IO_DELAY}"),
            )
        }
        WhatIfFault::HttpLatency | WhatIfFault::HttpAbort => {
            let port = info
                .containers
                .iter()
                .find_map(|c| c.ports.first().copied())
                .ok_or_else(|| format!("{} declares no container port", target.id))?;
            let abort = parsed.fault == WhatIfFault::HttpAbort;
            (
                ChaosSpec::HTTPChaos(HttpChaosSpec {
                    selector,
                    mode,
                    value,
                    target: HttpTarget::Response,
                    port,
                    path: None,
                    abort: abort.then_some(true),
                    delay: (!abort).then(|| HTTP_DELAY.to_owned()),
                    duration,
                }),
                if abort {
                    format!("Abort HTTP responses of {name}")
                } else {
                    format!("Delay HTTP responses of {name} by {HTTP_DELAY}")
                },
            )
        }
        WhatIfFault::ClockSkew => (
            ChaosSpec::TimeChaos(TimeChaosSpec {
                selector,
                mode,
                value,
                time_offset: CLOCK_OFFSET.to_owned(),
                duration,
            }),
            format!("Shift the clock of {name} by {CLOCK_OFFSET}"),
        ),
        WhatIfFault::ZoneDown { .. } => {
            return Err(outcome.chaos_kind.clone().err().unwrap_or_default());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalysisConfig, analyze_builtin, fixtures};

    fn case(name: &str, failure: &str) -> UserCase {
        UserCase {
            name: name.into(),
            failure: failure.into(),
        }
    }

    #[test]
    fn expressible_cases_become_guarded_experiments_and_the_rest_keep_their_radius() {
        let map = fixtures::boutique();
        let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
        let plans = plan_user_cases(
            &map,
            &result,
            &[
                case("cart-slow", "cartservice latency=500ms to=redis-cart"),
                case("zone", "cartservice zone-down=eu-west-1a"),
                case("all-pods", "cartservice kill pods=all"),
                case("ghost", "ghost kill"),
                case("garbled", "cartservice explode"),
            ],
        );
        let slow = plans[0].experiment.as_ref().unwrap();
        assert_eq!(slow.target.as_str(), "shop/Deployment/cartservice");
        assert!(
            matches!(&slow.spec, ChaosSpec::NetworkChaos(n) if n.delay.as_ref().unwrap().latency == "500ms" && n.target.is_some())
        );
        assert!(!slow.steady_state.is_empty());
        assert_eq!(plans[0].blast_radius.as_ref(), Some(&slow.blast_radius));

        let zone = &plans[1];
        assert!(
            zone.experiment
                .as_ref()
                .unwrap_err()
                .contains("zone eu-west-1a")
        );
        let radius = zone.blast_radius.as_ref().unwrap();
        assert!(
            radius
                .affected_workloads
                .contains(&"shop/Deployment/cartservice".to_owned())
        );
        assert!(!radius.affected_entry_points.is_empty());

        // pods=all is cut to the guardrails' share, and the radius shown is the cut one.
        let all = plans[2].experiment.as_ref().unwrap();
        assert!(all.blast_radius.pod_share_percent <= 50, "{all:?}");

        assert!(plans[3].blast_radius.is_none());
        assert!(plans[3].experiment.as_ref().unwrap_err().contains("ghost"));
        assert!(
            plans[4]
                .experiment
                .as_ref()
                .unwrap_err()
                .contains("unknown word")
        );
    }

    #[test]
    fn a_test_case_in_a_refused_namespace_is_refused_with_the_reason() {
        let map = fixtures::boutique();
        let mut config = AnalysisConfig::default();
        config
            .allowed_kinds
            .retain(|k| *k != crate::chaosmesh::ChaosKind::PodChaos);
        let result = analyze_builtin(&map, &config).unwrap();
        let plans = plan_user_cases(&map, &result, &[case("k", "cartservice kill")]);
        let reason = plans[0].experiment.as_ref().unwrap_err();
        assert!(reason.contains("PodChaos is not allowed"), "{reason}");
        assert!(plans[0].blast_radius.is_some());
    }
}
