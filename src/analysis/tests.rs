//! Pipeline-level tests: the built-in plan, a hostile engine cut down by the guardrails, fallback,
//! concurrency, determinism, performance, proposals.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::api::{ApprovalState, CheckKind};
use crate::chaosmesh::{
    ChaosKind, ChaosSpec, Direction, NetworkChaosAction, NetworkChaosSpec, PodChaosAction,
    PodChaosSpec, PodSelector, PodSelectorSpec, SelectorMode, TimeChaosSpec,
};
use crate::servicemap::{NodeId, ServiceMap};

fn boutique_result() -> AnalysisResult {
    analyze_builtin(&fixtures::boutique(), &AnalysisConfig::default()).unwrap()
}

fn pods(namespace: &str, labels: &[(&str, &str)]) -> PodSelector {
    PodSelector {
        namespaces: vec![namespace.to_string()],
        label_selectors: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn the_builtin_plan_is_grounded_and_within_the_guardrails() {
    let map = fixtures::boutique();
    let index = MapIndex::new(&map);
    let result = boutique_result();
    assert!(result.notes.is_empty(), "{:?}", result.notes);
    assert!(
        result.dropped.is_empty(),
        "the built-in rules design within the guardrails: {:#?}",
        result.dropped
    );
    assert!(!result.planned.is_empty());
    let kinds: BTreeSet<ChaosKind> = result.planned.iter().map(|p| p.kind).collect();
    for kind in [
        ChaosKind::PodChaos,
        ChaosKind::NetworkChaos,
        ChaosKind::StressChaos,
        ChaosKind::IOChaos,
        ChaosKind::DNSChaos,
        ChaosKind::HTTPChaos,
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let mut names = BTreeSet::new();
    for planned in &result.planned {
        assert!(naming::is_dns1123_label(&planned.name), "{}", planned.name);
        assert!(
            names.insert(planned.name.clone()),
            "duplicate {}",
            planned.name
        );
        assert!(!planned.steady_state.is_empty());
        let target = index.node_by_id(planned.target.as_str()).unwrap();
        assert_eq!(planned.namespace, target.namespace);
        assert_ne!(planned.namespace, "kube-system");
        // The selector is exactly the target's namespace and pod template labels.
        let selector = planned.spec.selector();
        assert_eq!(selector.namespaces, vec![target.namespace.clone()]);
        assert_eq!(
            &selector.label_selectors,
            &target.workload.as_ref().unwrap().pod_labels
        );
        let millis = parse_go_duration(planned.spec.duration().unwrap()).unwrap();
        assert!(millis <= result.config.max_duration_ms);
        assert!(
            planned
                .blast_radius
                .affected_workloads
                .contains(&planned.target.as_str().to_string())
        );
        assert!(
            planned.blast_radius.pod_share_percent <= 50 || !planned.warnings.is_empty(),
            "{} touches {}% without a warning",
            planned.name,
            planned.blast_radius.pod_share_percent
        );
    }
    let risks: Vec<u32> = result.planned.iter().map(|p| p.risk_score).collect();
    let mut sorted = risks.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(risks, sorted, "highest risk first");
    assert_eq!(result.summary.proposals, result.planned.len() as i64);
    assert_eq!(result.summary.unresolved, 1);
    assert_eq!(
        result.experiments.test_cases.len(),
        result.experiments.experiments.len()
    );
    for (case, experiment) in result
        .experiments
        .test_cases
        .iter()
        .zip(&result.experiments.experiments)
    {
        assert_eq!(case.experiment_id, experiment.id);
    }
}

#[test]
fn single_replica_experiments_carry_a_warning() {
    let result = boutique_result();
    let checkout = result
        .planned
        .iter()
        .find(|p| p.title == "Fail the only pod of checkoutservice")
        .unwrap();
    assert_eq!(checkout.blast_radius.pod_share_percent, 100);
    assert!(
        checkout.warnings[0].contains("single replica"),
        "{:?}",
        checkout.warnings
    );
}

/// An engine that behaves like a careless or compromised model for hypotheses and experiments
/// and like the built-in rules elsewhere.
struct HostileEngine;

fn hostile_experiments(earlier: &StageOutputs) -> ExperimentsOutput {
    let hypothesis = earlier.hypotheses.as_ref().unwrap().hypotheses[0]
        .id
        .clone();
    let steady = earlier.steady_state.as_ref().unwrap().steady_states[0]
        .id
        .clone();
    let design =
        |id: &str, target: &str, spec: ChaosSpec, steady_ids: Vec<String>| ExperimentDesign {
            id: id.to_string(),
            hypothesis_id: hypothesis.clone(),
            title: id.to_string(),
            target: NodeId(target.to_string()),
            peer: None,
            spec,
            steady_state_ids: steady_ids,
            risk_score: 99,
            rationale: "trust me".to_string(),
        };
    let kill = |selector: PodSelector, mode: SelectorMode, duration: &str| {
        ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector,
            mode,
            value: None,
            duration: Some(duration.to_string()),
            container_names: vec![],
        })
    };
    let ok = vec![steady.clone()];
    let mut wrong_hypothesis = design(
        "invented-hypothesis",
        "shop/Deployment/paymentservice",
        kill(
            pods("shop", &[("app", "paymentservice")]),
            SelectorMode::One,
            "30s",
        ),
        ok.clone(),
    );
    wrong_hypothesis.hypothesis_id = "h-made-up".to_string();
    ExperimentsOutput {
        experiments: vec![
            design(
                "kube-system-target",
                "kube-system/Deployment/coredns",
                kill(
                    pods("kube-system", &[("k8s-app", "kube-dns")]),
                    SelectorMode::All,
                    "30s",
                ),
                ok.clone(),
            ),
            design(
                "all-pods-for-a-day",
                "shop/Deployment/frontend",
                kill(
                    pods("shop", &[("app", "frontend")]),
                    SelectorMode::All,
                    "24h",
                ),
                vec![steady.clone(), "ss-made-up".to_string()],
            ),
            design(
                "ghost-service",
                "shop/Deployment/ghost",
                kill(pods("shop", &[("app", "ghost")]), SelectorMode::One, "30s"),
                ok.clone(),
            ),
            design(
                "selector-matching-nothing",
                "shop/Deployment/cartservice",
                kill(
                    pods("shop", &[("app", "nothing-has-this-label")]),
                    SelectorMode::One,
                    "30s",
                ),
                ok.clone(),
            ),
            design(
                "disallowed-kind",
                "shop/Deployment/paymentservice",
                ChaosSpec::TimeChaos(TimeChaosSpec {
                    selector: pods("shop", &[("app", "paymentservice")]),
                    mode: SelectorMode::One,
                    value: None,
                    time_offset: "-1h".to_string(),
                    duration: Some("1m".to_string()),
                }),
                ok.clone(),
            ),
            design(
                "no-steady-state",
                "shop/Deployment/paymentservice",
                kill(
                    pods("shop", &[("app", "paymentservice")]),
                    SelectorMode::One,
                    "30s",
                ),
                vec![],
            ),
            design(
                "whole-namespace",
                "shop/Deployment/paymentservice",
                kill(pods("shop", &[]), SelectorMode::One, "30s"),
                ok.clone(),
            ),
            design(
                "selector-points-elsewhere",
                "shop/Deployment/paymentservice",
                kill(
                    pods("shop", &[("app", "frontend")]),
                    SelectorMode::One,
                    "30s",
                ),
                ok.clone(),
            ),
            design(
                "partition-kube-dns",
                "shop/Deployment/cartservice",
                ChaosSpec::NetworkChaos(NetworkChaosSpec {
                    action: NetworkChaosAction::Partition,
                    selector: pods("shop", &[("app", "cartservice")]),
                    mode: SelectorMode::One,
                    value: None,
                    direction: Some(Direction::Both),
                    target: Some(PodSelectorSpec {
                        selector: pods("kube-system", &[("k8s-app", "kube-dns")]),
                        mode: SelectorMode::All,
                        value: None,
                    }),
                    external_targets: vec![],
                    delay: None,
                    loss: None,
                    duration: Some("1m".to_string()),
                }),
                ok.clone(),
            ),
            wrong_hypothesis,
        ],
        test_cases: vec![],
    }
}

#[async_trait]
impl StageEngine for HostileEngine {
    fn name(&self) -> &str {
        "hostile"
    }

    async fn run(
        &self,
        stage: StageId,
        input: &StageInput<'_>,
    ) -> Result<StageOutput, EngineError> {
        match stage {
            StageId::Experiments => {
                Ok(StageOutput::Experiments(hostile_experiments(input.earlier)))
            }
            StageId::Hypotheses => {
                let StageOutput::Hypotheses(mut output) = BuiltinEngine::run_now(stage, input)?
                else {
                    unreachable!()
                };
                let mut invented = output.hypotheses[0].clone();
                invented.id = "h-invented-service".to_string();
                invented.target = NodeId("shop/Deployment/does-not-exist".to_string());
                output.hypotheses.push(invented);
                Ok(StageOutput::Hypotheses(output))
            }
            _ => BuiltinEngine::run_now(stage, input),
        }
    }
}

#[tokio::test]
async fn a_hostile_engine_is_cut_down_to_what_the_guardrails_allow() {
    let map = fixtures::boutique();
    let config = AnalysisConfig {
        allowed_kinds: ChaosKind::ALL
            .into_iter()
            .filter(|k| *k != ChaosKind::TimeChaos)
            .collect(),
        ..AnalysisConfig::default()
    };
    let result = analyze(&map, &config, &HostileEngine).await;

    // Only the frontend experiment survives, cut to one pod for five minutes.
    assert_eq!(result.planned.len(), 1, "{:#?}", result.planned);
    let survivor = &result.planned[0];
    assert_eq!(survivor.target.as_str(), "shop/Deployment/frontend");
    let ChaosSpec::PodChaos(spec) = &survivor.spec else {
        panic!()
    };
    assert_eq!(spec.mode, SelectorMode::One);
    assert_eq!(spec.duration.as_deref(), Some("5m"));
    assert_eq!(survivor.blast_radius.pod_share_percent, 34);
    assert_eq!(
        survivor.steady_state.len(),
        1,
        "the invented steady state is removed"
    );
    let adjusted: Vec<String> = result
        .adjusted
        .iter()
        .filter(|a| a.item == survivor.name)
        .map(|a| format!("{}: {}", a.field, a.reason))
        .collect();
    assert!(
        adjusted
            .iter()
            .any(|a| a.starts_with("duration: cut from 24h to 5m")),
        "{adjusted:?}"
    );
    assert!(
        adjusted
            .iter()
            .any(|a| a.starts_with("mode:") && a.contains("maxPodSharePercent 50")),
        "{adjusted:?}"
    );
    assert!(
        adjusted.iter().any(|a| a.starts_with("steadyStateIds:")),
        "{adjusted:?}"
    );

    let reason = |item: &str| -> String {
        result
            .dropped
            .iter()
            .find(|d| d.item == item)
            .map(|d| d.reason.clone())
            .unwrap_or_else(|| panic!("{item} was not dropped: {:#?}", result.dropped))
    };
    assert!(reason("kube-system-target").contains("system namespace"));
    assert!(reason("ghost-service").contains("not in the map"));
    assert!(reason("selector-matching-nothing").contains("matches no workload's pods"));
    assert!(reason("disallowed-kind").contains("kind TimeChaos is not allowed"));
    assert!(reason("no-steady-state").contains("no steady-state check"));
    assert!(reason("whole-namespace").contains("every pod"));
    assert!(reason("selector-points-elsewhere").contains("not the target"));
    assert!(reason("partition-kube-dns").contains("system namespace"));
    assert!(reason("invented-hypothesis").contains("not among the grounded hypotheses"));
    assert!(reason("h-invented-service").contains("not a workload in the map"));
    assert_eq!(result.summary.dropped, result.dropped.len() as i64);
    // Dropped items are reported, never planned or proposed.
    let proposals = build_proposals(&result, "shop-analysis");
    assert_eq!(proposals.len(), 1);
}

/// An engine that fails some stages and answers the wrong stage for another.
struct FlakyEngine;

#[async_trait]
impl StageEngine for FlakyEngine {
    fn name(&self) -> &str {
        "flaky"
    }

    async fn run(
        &self,
        stage: StageId,
        input: &StageInput<'_>,
    ) -> Result<StageOutput, EngineError> {
        match stage {
            StageId::Hypotheses => Err(EngineError::Provider("HTTP 503 from the model".into())),
            StageId::Rumsfeld => Err(EngineError::Parse(ParseError::Invalid {
                stage,
                problems: vec!["knownKnowns[0].statement: must not be empty".into()],
            })),
            StageId::Discovery => Ok(StageOutput::SteadyState(SteadyStateOutput::default())),
            _ => BuiltinEngine::run_now(stage, input),
        }
    }
}

#[tokio::test]
async fn failing_stages_fall_back_to_the_builtin_result_with_notes() {
    let map = fixtures::boutique();
    let config = AnalysisConfig::default();
    let result = analyze(&map, &config, &FlakyEngine).await;
    let builtin = boutique_result();
    assert_eq!(result.planned, builtin.planned);
    assert_eq!(result.rumsfeld, builtin.rumsfeld);
    assert_eq!(result.discovery, builtin.discovery);
    let noted: Vec<StageId> = result.notes.iter().map(|n| n.stage).collect();
    assert_eq!(
        noted,
        vec![StageId::Discovery, StageId::Hypotheses, StageId::Rumsfeld]
    );
    assert!(result.notes.iter().all(|n| n.engine == "flaky"));
    assert!(result.notes[1].message.contains("HTTP 503"));
    assert!(result.notes[0].message.contains("steadyState"));
    assert!(result.degraded());
    assert!(!builtin.degraded());
}

/// An engine whose independent stages each wait for the other: it only finishes if the pipeline
/// runs them concurrently.
struct RendezvousEngine {
    first_level: Arc<tokio::sync::Barrier>,
    fourth_level: Arc<tokio::sync::Barrier>,
}

#[async_trait]
impl StageEngine for RendezvousEngine {
    fn name(&self) -> &str {
        "rendezvous"
    }

    async fn run(
        &self,
        stage: StageId,
        input: &StageInput<'_>,
    ) -> Result<StageOutput, EngineError> {
        match stage {
            StageId::Discovery | StageId::Dependencies => {
                self.first_level.wait().await;
            }
            StageId::Experiments | StageId::Rumsfeld => {
                self.fourth_level.wait().await;
            }
            _ => {}
        }
        BuiltinEngine::run_now(stage, input)
    }
}

#[tokio::test]
async fn independent_stages_run_concurrently() {
    let map = fixtures::boutique();
    let engine = RendezvousEngine {
        first_level: Arc::new(tokio::sync::Barrier::new(2)),
        fourth_level: Arc::new(tokio::sync::Barrier::new(2)),
    };
    let config = AnalysisConfig::default();
    let result = tokio::time::timeout(Duration::from_secs(10), analyze(&map, &config, &engine))
        .await
        .expect("stages that could run together were run one after the other");
    assert_eq!(result.planned, boutique_result().planned);
}

fn result_bytes(map: &ServiceMap) -> Vec<u8> {
    let result = analyze_builtin(map, &AnalysisConfig::default()).unwrap();
    let mut bytes = serde_json::to_vec_pretty(&result).unwrap();
    for proposal in build_proposals(&result, "demo") {
        bytes.extend(serde_yaml::to_string(&proposal).unwrap().into_bytes());
    }
    for manifest in build_chaos_manifests(&result, "demo") {
        bytes.extend(serde_yaml::to_string(&manifest).unwrap().into_bytes());
    }
    bytes
}

#[test]
fn identical_input_gives_identical_bytes() {
    let boutique = fixtures::boutique();
    assert_eq!(result_bytes(&boutique), result_bytes(&boutique));
    let large = fixtures::synthetic(800);
    let first = result_bytes(&large);
    assert_eq!(first, result_bytes(&large));
    assert!(
        !String::from_utf8(first)
            .unwrap()
            .contains("creationTimestamp")
    );
}

#[test]
fn a_changed_map_changes_the_hash() {
    let mut map = fixtures::boutique();
    let before = map_hash(&map);
    map.edges.pop();
    assert_ne!(before, map_hash(&map));
    assert_eq!(before.len(), 64);
}

#[test]
fn every_builtin_output_survives_its_own_schema_and_parser() {
    let map = fixtures::boutique();
    let outputs =
        builtin::test_support::run_until(&map, &AnalysisConfig::default(), StageId::BlastRadius);
    for stage in StageId::ALL {
        let output = outputs.get(stage).unwrap();
        let json = match &output {
            StageOutput::Discovery(o) => serde_json::to_string(o),
            StageOutput::Dependencies(o) => serde_json::to_string(o),
            StageOutput::SteadyState(o) => serde_json::to_string(o),
            StageOutput::Hypotheses(o) => serde_json::to_string(o),
            StageOutput::Experiments(o) => serde_json::to_string(o),
            StageOutput::BlastRadius(o) => serde_json::to_string(o),
            StageOutput::Rumsfeld(o) => serde_json::to_string(o),
        }
        .unwrap();
        let parsed = StageOutput::parse(stage, &json)
            .unwrap_or_else(|e| panic!("{stage}: {:#?}", e.problems()));
        assert_eq!(parsed, output);
    }
}

#[test]
fn proposals_are_pending_drafts_in_the_targets_namespace() {
    let result = boutique_result();
    let proposals = build_proposals(&result, "shop-analysis");
    let manifests = build_chaos_manifests(&result, "shop-analysis");
    assert_eq!(proposals.len(), result.planned.len());
    assert_eq!(manifests.len(), result.planned.len());
    for ((proposal, manifest), planned) in proposals.iter().zip(&manifests).zip(&result.planned) {
        assert_eq!(
            proposal.metadata.name.as_deref(),
            Some(planned.name.as_str())
        );
        assert_eq!(proposal.metadata.namespace.as_deref(), Some("shop"));
        let labels: &BTreeMap<String, String> = proposal.metadata.labels.as_ref().unwrap();
        assert_eq!(
            labels.get(crate::api::ANALYSIS_LABEL).map(String::as_str),
            Some("shop-analysis")
        );
        assert_eq!(proposal.spec.analysis_ref, "shop-analysis");
        assert_eq!(proposal.spec.approval.state, ApprovalState::Pending);
        assert_eq!(proposal.spec.experiment.kind, planned.kind);
        assert!(!proposal.spec.steady_state.is_empty());
        for check in &proposal.spec.steady_state {
            match check.kind {
                CheckKind::Http => assert!(check.url.is_some()),
                CheckKind::Prometheus => assert!(check.query.is_some()),
                _ => assert!(check.subject.is_some()),
            }
        }
        assert!(proposal.status.is_none());
        let spec = ChaosSpec::try_from(proposal.spec.experiment.clone()).unwrap();
        assert_eq!(spec, planned.spec);

        assert_eq!(manifest.api_version, "chaos-mesh.org/v1alpha1");
        assert_eq!(
            manifest.metadata.name.as_deref(),
            Some(planned.name.as_str())
        );
        let yaml = serde_yaml::to_string(manifest).unwrap();
        assert!(yaml.contains(&format!("kind: {}", planned.kind)), "{yaml}");
        assert!(yaml.contains("chaos.smartchaos.io/proposal"), "{yaml}");
    }
}

#[test]
// Speed is measured by `cargo bench --bench servicemap` (its `offline` phase), not asserted here:
// a timed test fails on a loaded machine without telling anything about the code.
fn a_large_cluster_is_analysed_within_its_limits() {
    // ~6,000 workloads and Services, 600 Ingresses, ~9,000 edges: the map of a cluster with
    // about 50,000 objects (pods, ReplicaSets, EndpointSlices, ConfigMaps included).
    let map = fixtures::synthetic(6_000);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let proposals = build_proposals(&result, "large");
    let manifests = build_chaos_manifests(&result, "large");
    let files = crate::report::render_all(&map, &result, &proposals, &manifests).unwrap();
    assert!(!files.is_empty());
    assert!(map.nodes.len() > 12_000 && map.edges.len() > 8_000);
    assert_eq!(
        result.planned.len(),
        AnalysisConfig::default().max_experiments
    );
    assert!(result.steady_state.steady_states.len() <= 10);
    assert!(
        !result.dependencies.cycles.is_empty(),
        "the synthetic map has back-edges"
    );
}

#[test]
fn results_can_be_looked_up_by_id_and_searched() {
    let result = boutique_result();
    let experiment = &result.planned[0];
    let found = result.find(&experiment.name).unwrap();
    assert_eq!(found, result::ResultItem::Experiment(experiment));
    let hypothesis = result.find(&experiment.hypothesis.id).unwrap();
    assert!(
        matches!(hypothesis, result::ResultItem::Hypothesis(h) if h.statement == experiment.hypothesis.statement)
    );
    assert!(result.find("no-such-id").is_none());
    let hits = result.search("redis-cart SINGLE");
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| {
        let text = format!("{} {}", h.id(), h.text()).to_lowercase();
        text.contains("redis-cart") && text.contains("single")
    }));
    assert!(result.search("   ").is_empty());
    let ids: BTreeSet<&str> = result.items().map(|i| i.id()).collect();
    assert_eq!(
        ids.len(),
        result.items().count(),
        "ids are unique across stages"
    );
}

#[test]
fn the_operators_own_namespace_is_never_targeted() {
    let map = fixtures::boutique();
    let config = AnalysisConfig {
        operator_namespace: Some("shop".to_string()),
        ..AnalysisConfig::default()
    };
    let result = analyze_builtin(&map, &config).unwrap();
    assert!(result.planned.is_empty(), "{:#?}", result.planned);
    let allowed = AnalysisConfig {
        allow_system_namespaces: true,
        ..config
    };
    assert!(!analyze_builtin(&map, &allowed).unwrap().planned.is_empty());
}

#[test]
fn a_missing_selection_value_names_the_mode_as_chaos_mesh_spells_it() {
    use crate::chaosmesh::{ChaosSpec, PodChaosAction, PodChaosSpec, PodSelector, SelectorMode};
    let spec = ChaosSpec::PodChaos(PodChaosSpec {
        action: PodChaosAction::PodKill,
        selector: PodSelector::default(),
        mode: SelectorMode::FixedPercent,
        value: None,
        duration: None,
        container_names: Vec::new(),
    });
    let problems = super::validate::chaos_spec("experiment", &spec);
    assert!(
        problems.contains(&"experiment.spec.value: required by mode fixed-percent".to_string()),
        "{problems:?}"
    );
}
