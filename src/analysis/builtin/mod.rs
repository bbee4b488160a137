//! The built-in engine: deterministic rules that produce every stage's output from the map. It is
//! the default, needs no network, and is the fallback whenever another engine fails.

mod blast_radius;
mod dependencies;
mod discovery;
mod drift;
mod experiments;
mod hypotheses;
mod rumsfeld;
mod steady_state;

use async_trait::async_trait;

pub use blast_radius::{blast_radius_for, blast_radius_of, pod_touch};
pub use experiments::default_test_case;

use super::index::MapIndex;
use super::stages::{EngineError, StageEngine, StageId, StageInput, StageOutput};
use crate::servicemap::{Edge, Evidence, EvidenceKind, NodeKind};

/// The engine name used in notes.
pub const BUILTIN_ENGINE: &str = "builtin";

/// Deterministic rules over the map.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinEngine;

impl BuiltinEngine {
    /// Runs `stage` synchronously (the rules never wait on anything).
    pub fn run_now(stage: StageId, input: &StageInput<'_>) -> Result<StageOutput, EngineError> {
        if let Some(&missing) = stage.inputs().iter().find(|&&s| !input.earlier.has(s)) {
            return Err(EngineError::MissingInput { stage, missing });
        }
        let earlier = input.earlier;
        let missing = |missing| EngineError::MissingInput { stage, missing };
        Ok(match stage {
            StageId::Discovery => StageOutput::Discovery(discovery::run(input.index)),
            StageId::Dependencies => StageOutput::Dependencies(dependencies::run(input.index)),
            StageId::SteadyState => StageOutput::SteadyState(steady_state::run(
                input.index,
                input.config,
                earlier
                    .discovery
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Discovery))?,
                earlier
                    .dependencies
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Dependencies))?,
            )),
            StageId::Hypotheses => StageOutput::Hypotheses(hypotheses::run(
                input,
                earlier
                    .dependencies
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Dependencies))?,
                earlier
                    .steady_state
                    .as_ref()
                    .ok_or_else(|| missing(StageId::SteadyState))?,
            )),
            StageId::Experiments => StageOutput::Experiments(experiments::run(
                input,
                earlier
                    .hypotheses
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Hypotheses))?,
                earlier
                    .steady_state
                    .as_ref()
                    .ok_or_else(|| missing(StageId::SteadyState))?,
            )),
            StageId::BlastRadius => StageOutput::BlastRadius(blast_radius::run(
                input.index,
                earlier
                    .experiments
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Experiments))?,
            )),
            StageId::Rumsfeld => StageOutput::Rumsfeld(rumsfeld::run(
                input.index,
                earlier
                    .dependencies
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Dependencies))?,
                earlier
                    .hypotheses
                    .as_ref()
                    .ok_or_else(|| missing(StageId::Hypotheses))?,
            )),
        })
    }
}

#[async_trait]
impl StageEngine for BuiltinEngine {
    fn name(&self) -> &str {
        BUILTIN_ENGINE
    }

    async fn run(
        &self,
        stage: StageId,
        input: &StageInput<'_>,
    ) -> Result<StageOutput, EngineError> {
        Self::run_now(stage, input)
    }
}

/// Distinct callers (workloads and entry points) and callees of a node, looking through Services.
pub(crate) fn fan(index: &MapIndex<'_>, i: usize) -> (u32, u32) {
    let fan_in = index.callers(i).len();
    let fan_out = index.successors(i).len();
    (
        u32::try_from(fan_in).unwrap_or(u32::MAX),
        u32::try_from(fan_out).unwrap_or(u32::MAX),
    )
}

/// Evidence that the caller's configuration states the call (env, ConfigMaps, arguments, routes);
/// network policies and mesh routes only allow a call.
pub(crate) fn states_call(evidence: &Evidence) -> bool {
    evidence.kind() == EvidenceKind::Config
        && !matches!(
            evidence,
            Evidence::NetworkPolicy { .. } | Evidence::IstioRoute { .. }
        )
}

/// The configuration or the team's architecture declares the edge.
pub(crate) fn is_declared(edge: &Edge) -> bool {
    edge.evidence.iter().any(states_call) || edge.has_kind(EvidenceKind::Declared)
}

/// Whether the map holds any runtime traffic evidence: only then is "never observed" news.
pub(crate) fn has_traffic_evidence(index: &MapIndex<'_>) -> bool {
    index
        .map()
        .edges
        .iter()
        .any(|e| e.has_kind(EvidenceKind::Traffic))
}

/// Kinds whose availability depends on replicas (what SPOF rules are about).
pub(crate) fn is_replicated_kind(kind: NodeKind) -> bool {
    matches!(kind, NodeKind::Deployment | NodeKind::StatefulSet)
}

/// A short, readable name of a node for sentences: `kind name` (`Deployment cartservice`).
pub(crate) fn label(index: &MapIndex<'_>, i: usize) -> String {
    let node = index.node(i);
    format!("{} {}", node.kind.as_str(), node.name)
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeSet;

    use super::super::config::AnalysisConfig;
    use super::super::index::MapIndex;
    use super::super::stages::{StageId, StageInput, StageOutputs};
    use super::BuiltinEngine;
    use crate::servicemap::ServiceMap;

    /// Runs the built-in stages in order up to and including `last`, without grounding.
    pub fn run_until(map: &ServiceMap, config: &AnalysisConfig, last: StageId) -> StageOutputs {
        let index = MapIndex::new(map);
        let namespaces: BTreeSet<String> = config.effective_namespaces(map);
        let mut outputs = StageOutputs::default();
        for stage in StageId::ALL {
            let input = StageInput {
                map,
                index: &index,
                config,
                namespaces: &namespaces,
                earlier: &outputs,
            };
            let output = BuiltinEngine::run_now(stage, &input).unwrap();
            outputs.insert(output);
            if stage == last {
                break;
            }
        }
        outputs
    }
}
