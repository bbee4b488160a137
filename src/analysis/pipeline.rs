//! The pipeline: runs the stages as a DAG (every stage whose inputs are done runs concurrently
//! with the others that are ready), falls back to the built-in rules per stage when the engine
//! fails, grounds then guards every output before later stages read it, and assembles the result.
//!
//! The runner spawns nothing and does no I/O: it only joins the engine's futures.

use futures::future::join_all;

use super::builtin::BuiltinEngine;
use super::config::AnalysisConfig;
use super::grounding;
use super::guardrails;
use super::index::MapIndex;
use super::map_context::MapContext;
use super::model::{Probe, SteadyState};
use super::result::{AnalysisResult, GroundingLog, PlannedExperiment, StageNote};
use super::stages::{StageEngine, StageId, StageInput, StageOutput, StageOutputs};
use crate::api::{
    AnalysisSummary, BlastRadius, CheckKind, ProposalHypothesis, RumsfeldCounts, SteadyStateCheck,
};
use crate::hashing::sha256_hex;
use crate::servicemap::{NodeKind, ServiceMap};

/// SHA-256 of the map's JSON form: the key of every cache.
pub fn map_hash(map: &ServiceMap) -> String {
    map.content_hash()
        .unwrap_or_else(|_| sha256_hex(format!("{map:?}").as_bytes()))
}

/// A steady state as the proposal's check.
pub fn steady_state_check(state: &SteadyState) -> SteadyStateCheck {
    let (kind, url, query) = match &state.probe {
        Probe::AvailableReplicas => (CheckKind::AvailableReplicas, None, None),
        Probe::ReadyEndpoints => (CheckKind::ReadyEndpoints, None, None),
        Probe::Http { url } => (CheckKind::Http, Some(url.clone()), None),
        Probe::Prometheus { query } => (CheckKind::Prometheus, None, Some(query.clone())),
    };
    let mut name = state.name.clone();
    if name.len() > 256 {
        let mut cut = 256;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    SteadyStateCheck {
        name,
        kind,
        subject: Some(state.subject.as_str().to_string()),
        url,
        query,
        min_value: state.min_value,
        max_value: state.max_value,
    }
}

fn empty_output(stage: StageId) -> StageOutput {
    match stage {
        StageId::Discovery => StageOutput::Discovery(Default::default()),
        StageId::Dependencies => StageOutput::Dependencies(Default::default()),
        StageId::SteadyState => StageOutput::SteadyState(Default::default()),
        StageId::Hypotheses => StageOutput::Hypotheses(Default::default()),
        StageId::Experiments => StageOutput::Experiments(Default::default()),
        StageId::BlastRadius => StageOutput::BlastRadius(Default::default()),
        StageId::Rumsfeld => StageOutput::Rumsfeld(Default::default()),
    }
}

/// The built-in output for `stage`; the rules cannot fail once the inputs exist, but if they did
/// the stage would be empty and a note would say so.
fn fallback(stage: StageId, input: &StageInput<'_>, notes: &mut Vec<StageNote>) -> StageOutput {
    match BuiltinEngine::run_now(stage, input) {
        Ok(output) => output,
        Err(error) => {
            notes.push(StageNote {
                stage,
                engine: super::builtin::BUILTIN_ENGINE.to_string(),
                message: format!("the built-in rules failed too ({error}); the stage is empty"),
            });
            empty_output(stage)
        }
    }
}

/// Runs every stage with `engine` and returns the grounded, guarded result: grounding, then
/// guardrails, on every stage output whatever the engine (see the loop below).
pub async fn run(
    map: &ServiceMap,
    config: &AnalysisConfig,
    engine: &dyn StageEngine,
) -> AnalysisResult {
    let index = MapIndex::new(map);
    let namespaces = config.effective_namespaces(map);
    let context = MapContext {
        index: &index,
        config,
        namespaces: &namespaces,
    };
    let mut outputs = StageOutputs::default();
    let mut log = GroundingLog::default();
    let mut notes = Vec::new();
    let mut pending: Vec<StageId> = StageId::ALL.to_vec();
    while !pending.is_empty() {
        let ready: Vec<StageId> = pending
            .iter()
            .copied()
            .filter(|stage| stage.inputs().iter().all(|&input| outputs.has(input)))
            .collect();
        if ready.is_empty() {
            // Unreachable with the declared inputs (they form a DAG); never loop forever.
            break;
        }
        pending.retain(|stage| !ready.contains(stage));
        let produced: Vec<StageOutput> = {
            let input = StageInput {
                map,
                index: &index,
                config,
                namespaces: &namespaces,
                earlier: &outputs,
            };
            let input_ref = &input;
            let results = join_all(
                ready
                    .iter()
                    .map(|&stage| async move { (stage, engine.run(stage, input_ref).await) }),
            )
            .await;
            results
                .into_iter()
                .map(|(stage, result)| match result {
                    Ok(output) if output.stage() == stage => output,
                    Ok(other) => {
                        notes.push(StageNote {
                            stage,
                            engine: engine.name().to_string(),
                            message: format!(
                                "returned the output of stage {} instead; the built-in result stands",
                                other.stage()
                            ),
                        });
                        fallback(stage, &input, &mut notes)
                    }
                    Err(error) => {
                        notes.push(StageNote {
                            stage,
                            engine: engine.name().to_string(),
                            message: format!("{error}; the built-in result stands"),
                        });
                        fallback(stage, &input, &mut notes)
                    }
                })
                .collect()
        };
        for &stage in &ready {
            for item in engine.invalid_items(stage) {
                log.drop_item(item.stage, &item.item, &item.reason);
            }
        }
        // Two checks on every output, in this order, for every engine: nothing skips them.
        let mut checked = Vec::with_capacity(produced.len());
        for output in produced {
            let grounded = grounding::ground(output, &context, &outputs, &mut log);
            checked.push(guardrails::guard(grounded, &context, &outputs, &mut log));
        }
        for output in checked {
            outputs.insert(output);
        }
    }
    assemble(map, &index, config, engine.name(), outputs, log, notes)
}

fn assemble(
    map: &ServiceMap,
    index: &MapIndex<'_>,
    config: &AnalysisConfig,
    engine: &str,
    outputs: StageOutputs,
    mut log: GroundingLog,
    mut notes: Vec<StageNote>,
) -> AnalysisResult {
    let discovery = outputs.discovery.unwrap_or_default();
    let dependencies = outputs.dependencies.unwrap_or_default();
    let steady_state = outputs.steady_state.unwrap_or_default();
    let hypotheses = outputs.hypotheses.unwrap_or_default();
    let experiments = outputs.experiments.unwrap_or_default();
    let blast_radius = outputs.blast_radius.unwrap_or_default();
    let rumsfeld = outputs.rumsfeld.unwrap_or_default();

    let mut planned = Vec::new();
    for design in &experiments.experiments {
        let Some(hypothesis) = hypotheses
            .hypotheses
            .iter()
            .find(|h| h.id == design.hypothesis_id)
        else {
            log.drop_item(StageId::Experiments, &design.id, "its hypothesis is gone");
            continue;
        };
        let checks: Vec<SteadyStateCheck> = design
            .steady_state_ids
            .iter()
            .filter_map(|id| steady_state.steady_states.iter().find(|s| &s.id == id))
            .map(steady_state_check)
            .collect();
        if checks.is_empty() {
            log.drop_item(StageId::Experiments, &design.id, "no steady-state check");
            continue;
        }
        let blast = blast_radius
            .experiments
            .iter()
            .find(|b| b.experiment_id == design.id);
        let namespace = index
            .node_by_id(design.target.as_str())
            .map(|n| n.namespace.clone())
            .unwrap_or_default();
        planned.push(PlannedExperiment {
            name: design.id.clone(),
            namespace,
            title: design.title.clone(),
            kind: design.spec.kind(),
            target: design.target.clone(),
            peer: design.peer.clone(),
            hypothesis: ProposalHypothesis {
                id: hypothesis.id.clone(),
                statement: hypothesis.statement.clone(),
            },
            spec: design.spec.clone(),
            steady_state: checks,
            blast_radius: BlastRadius {
                affected_workloads: blast
                    .map(|b| {
                        b.affected_workloads
                            .iter()
                            .map(|w| w.as_str().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                affected_entry_points: blast
                    .map(|b| {
                        b.affected_entry_points
                            .iter()
                            .map(|e| e.as_str().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                pod_share_percent: blast.map_or(100, |b| b.pod_share_percent),
            },
            risk_score: design.risk_score,
            warnings: log.warnings.remove(&design.id).unwrap_or_default(),
        });
    }

    let count = |kind: NodeKind| map.nodes.iter().filter(|n| n.kind == kind).count() as i64;
    let summary = AnalysisSummary {
        services: count(NodeKind::Service),
        workloads: map.nodes.iter().filter(|n| n.kind.is_workload()).count() as i64,
        edges: map.edges.len() as i64,
        unresolved: count(NodeKind::Unresolved),
        findings: dependencies.findings.len() as i64,
        hypotheses: hypotheses.hypotheses.len() as i64,
        proposals: planned.len() as i64,
        dropped: log.dropped.len() as i64,
    };
    let rumsfeld_counts = RumsfeldCounts {
        known_knowns: rumsfeld.known_knowns.len() as i64,
        known_unknowns: rumsfeld.known_unknowns.len() as i64,
        unknown_knowns: rumsfeld.unknown_knowns.len() as i64,
        unknown_unknowns: rumsfeld.unknown_unknowns.len() as i64,
    };
    let mut dropped = log.dropped;
    dropped.sort();
    let mut adjusted = log.adjusted;
    adjusted.sort();
    notes.sort();
    AnalysisResult {
        map_hash: map_hash(map),
        engine: engine.to_string(),
        config: config.clone(),
        summary,
        rumsfeld_counts,
        discovery,
        dependencies,
        steady_state,
        hypotheses,
        experiments,
        blast_radius,
        rumsfeld,
        planned,
        dropped,
        adjusted,
        notes,
    }
}
