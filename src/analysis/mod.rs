//! The analysis: from a service map to a reviewed chaos plan, offline and deterministic.
//!
//! Sans-IO: no Kubernetes client, no cloud SDK, no network, no files. The stages form a DAG
//! ([`StageId::inputs`]); any [`StageEngine`] (the [`BuiltinEngine`] now, LLM providers later)
//! produces their typed outputs; [`grounding`] and [`guardrails`] hold every output to the map and
//! the limits of [`AnalysisConfig`]; [`pipeline::run`] ties it together and [`proposals`] turns the
//! result into `ExperimentProposal` drafts and Chaos Mesh manifests.

pub mod builtin;
pub mod chat;
pub mod check_target;
mod compact_rows;
pub mod config;
pub mod duration;
pub mod grounding;
pub mod guardrails;
pub mod index;
pub mod items;
pub mod map_context;
pub mod measured;
pub mod memory;
pub mod model;
pub mod model_answer;
pub mod naming;
pub mod pipeline;
pub mod prompt;
pub mod proposals;
pub mod redact;
pub mod render;
pub mod result;
pub mod score;
pub mod stages;
pub mod user_cases;
mod validate;
pub mod whatif;
pub mod whatif_text;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use futures::FutureExt;

pub use builtin::BuiltinEngine;
pub use config::{AnalysisConfig, ConfigError, SYSTEM_NAMESPACES};
pub use duration::{DurationError, format_go_duration, parse_go_duration};
pub use index::MapIndex;
pub use items::{InvalidItem, ItemAnswer};
pub use measured::{MeasuredQuery, Measurements, ServiceBaseline};
pub use model::*;
pub use pipeline::{map_hash, steady_state_check};
pub use proposals::{build_chaos_manifests, build_proposals};
pub use render::render_map_compact;
pub use result::{
    AdjustedItem, AnalysisResult, ArchitectureCall, DroppedItem, PlannedExperiment, ResultItem,
    StageNote,
};
pub use stages::{
    EngineError, ParseError, StageEngine, StageId, StageInput, StageOutput, StageOutputs,
};

use crate::servicemap::ServiceMap;

/// Errors of the analysis' own entry points.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The engine did not finish without waiting; only [`analyze`] can drive such engines.
    #[error("engine {0} needs an async runtime; call analysis::analyze instead")]
    EngineNotImmediate(String),
}

/// Analyses `map` with `engine` (falling back to the built-in rules per stage where it fails) and
/// returns the grounded, guarded result.
pub async fn analyze(
    map: &ServiceMap,
    config: &AnalysisConfig,
    engine: &dyn StageEngine,
) -> AnalysisResult {
    pipeline::run(map, config, engine).await
}

/// Analyses `map` with the built-in rules, without an async runtime (they never wait).
pub fn analyze_builtin(
    map: &ServiceMap,
    config: &AnalysisConfig,
) -> Result<AnalysisResult, AnalysisError> {
    let engine = BuiltinEngine;
    pipeline::run(map, config, &engine)
        .now_or_never()
        .ok_or_else(|| AnalysisError::EngineNotImmediate(builtin::BUILTIN_ENGINE.to_string()))
}
