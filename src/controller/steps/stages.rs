//! Step `stages`: whether the stages must run again, and running them with the analysis'
//! provider (pure stages; a model engine does its I/O through its trait).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::super::{Context, provider};
use crate::analysis::{self, AnalysisConfig, AnalysisResult};
use crate::api::{AnalysisPhase, ChaosAnalysis, ChaosAnalysisStatus, UsageStatus};
use crate::llm::factory::Engine;
use crate::servicemap::ServiceMap;

/// Whether the stages must run: a new generation, a new map (unless refresh.onMapChange is
/// off), a due refresh interval, or no result yet.
pub fn needed(analysis: &ChaosAnalysis, previous: &ChaosAnalysisStatus, map_hash: &str) -> bool {
    if previous.phase != Some(AnalysisPhase::Ready)
        || previous.observed_generation != analysis.metadata.generation
    {
        return true;
    }
    if analysis.spec.refresh.on_map_change && previous.map_hash.as_deref() != Some(map_hash) {
        return true;
    }
    let interval = analysis
        .spec
        .refresh
        .interval
        .as_deref()
        .and_then(|i| analysis::parse_go_duration(i).ok());
    match (interval, &previous.last_analyzed) {
        (Some(ms), Some(Time(last))) => {
            let due = last
                .as_millisecond()
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
            Timestamp::now().as_millisecond() >= due
        }
        _ => false,
    }
}

/// The outcome of the stages, with what the provider cost and why it fell short, if it did.
pub struct Analyzed {
    /// The stages' result.
    pub result: AnalysisResult,
    /// What the provider cost.
    pub usage: Option<UsageStatus>,
    /// Set when the configured provider could not be used at all.
    pub provider_problem: Option<String>,
    /// Set when the analysis' Prometheus could not be read.
    pub telemetry_problem: Option<String>,
}

/// Runs the stages with the analysis' provider: the built-in engine, or a model engine built from
/// the spec (credentials from the one named Secret, if any). Where the provider cannot be built,
/// the built-in engine runs and the problem is reported, never hidden.
pub async fn run(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    map: &ServiceMap,
    config: &AnalysisConfig,
) -> Analyzed {
    let (engine, provider_problem) =
        match provider::engine_for(ctx, &analysis.spec.provider, ns).await {
            Ok(engine) => (engine, None),
            Err(problem) => (Engine::Builtin, Some(problem)),
        };
    let result = analysis::analyze(map, config, engine.stage_engine().as_ref()).await;
    let usage = engine.usage_report().map(|report| {
        for row in &report.stages {
            ctx.metrics.record_llm_usage(
                &report.engine,
                row.model.as_deref().unwrap_or("unknown"),
                row.input_tokens,
                row.cache_read_tokens,
                row.output_tokens,
                row.cost_usd,
            );
        }
        UsageStatus {
            input_tokens: i64::try_from(report.total.input_tokens).unwrap_or(i64::MAX),
            cached_input_tokens: i64::try_from(report.total.cache_read_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(report.total.output_tokens).unwrap_or(i64::MAX),
            estimated_cost_usd: format!("{:.4}", report.total.cost_usd),
            cached_stages: report
                .stages
                .iter()
                .filter(|r| r.calls == 0 && r.cached > 0)
                .count()
                .try_into()
                .unwrap_or(i64::MAX),
        }
    });
    Analyzed {
        result,
        usage,
        provider_problem,
        telemetry_problem: None,
    }
}
