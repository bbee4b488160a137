//! The ChaosAnalysis controller, as a visible pipeline of [`super::steps`]:
//! `validate` (is the spec usable here, may the requester read the scope?) → `snapshot` (read
//! the scope, I/O) → `map` (pure; then telemetry, I/O) → `estimate` (into status before any
//! model call; over budget, no run) → `memory` (what earlier verdicts and decisions taught, I/O) → `stages`
//! (the analysis through the engine, held against that memory) → `score`
//! (verdicts of owned proposals) → `apply proposals` (SSA, I/O) → `status` (SSA on /status, I/O).
//!
//! Re-analysis: every `map_check_interval` the scope is read again and the map's content hash
//! compared with the one in status; the stages only run again when the hash, the generation or
//! the refresh interval says so. Proposals are applied with deterministic names and the analysis
//! as controller owner; a proposal somebody has decided on is never touched again.

use std::sync::Arc;

use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use tracing::instrument;

use super::architecture;
use super::steps::{
    apply_proposals, estimate, map, memory, score, snapshot, stages, status, validate,
};
use super::{Context, Error};
use crate::api::ChaosAnalysis;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "analyses";

/// Reconciles one ChaosAnalysis.
#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile_analysis(
    obj: Arc<DeserializeGuard<ChaosAnalysis>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let ctx: &Context = &ctx;
    super::prologue::reconcile(CONTROLLER, &obj, ctx, |analysis| pipeline(ctx, analysis)).await
}

async fn pipeline(ctx: &Context, analysis: &ChaosAnalysis) -> Result<Action, Error> {
    let ns = analysis
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let previous = analysis.status.clone().unwrap_or_default();
    let recheck = Action::requeue(ctx.config.map_check_interval);

    if let Some(problem) = validate::spec_problem(ctx, analysis).await? {
        status::record_problem(ctx, analysis, &ns, &previous, &problem).await?;
        // Namespaces can appear later (GitOps ordering): look again, slowly, without an error loop.
        return Ok(recheck);
    }
    // The team's architecture: the named ConfigMaps only, as the requester could read them.
    let architecture_sources = match architecture::gather(ctx, analysis, &ns).await? {
        Ok(sources) => sources,
        Err(problem) => {
            status::record_problem(ctx, analysis, &ns, &previous, &problem).await?;
            return Ok(recheck);
        }
    };
    let mut config = validate::config(ctx, analysis)?;

    let snapshot = snapshot::read(ctx, analysis).await?;
    let (mut map, map_hash) = map::build(&snapshot, &architecture_sources)?;
    // Chaos Mesh's namespace filter: a namespace without the opt-in gets no proposal.
    let excluded =
        snapshot::without_chaos_mesh_opt_in(ctx, analysis, config.effective_namespaces(&map))
            .await?;
    config.without_chaos_mesh_opt_in = excluded.iter().map(|e| e.namespace.clone()).collect();
    // Verdicts and decisions change no object the map reads: their own hash triggers a re-run.
    let recalled = memory::gather(&ctx.client, analysis, &ns).await?;
    if !stages::needed(analysis, &previous, &map_hash)
        && excluded == previous.excluded_namespaces
        && previous.recall_hash.as_deref() == Some(recalled.hash.as_str())
    {
        return Ok(recheck);
    }

    let previous = status::record_analyzing(ctx, analysis, &ns, previous).await?;
    // Observed calls and baselines; on failure the objects' map stands and status says why.
    let telemetry_problem = match map::add_telemetry(ctx, analysis, &ns, &mut map).await {
        Ok(measurements) => {
            config.measurements = measurements;
            None
        }
        Err(problem) => Some(problem),
    };
    // What a model run would use goes into status before its first call; over budget, no run.
    let forecast = estimate::forecast(&analysis.spec.provider, &map, &config);
    let Some(previous) = status::record_estimate(ctx, analysis, &ns, previous, forecast).await?
    else {
        return Ok(recheck);
    };
    let mut analyzed =
        stages::run(ctx, analysis, &ns, &mut map, &architecture_sources, &config).await;
    analyzed.telemetry_problem = telemetry_problem;
    analyzed.test_cases = architecture::plan_test_cases(analysis, &map, &mut analyzed.result);
    crate::analysis::memory::remember(&mut analyzed.result, &map, &recalled.recall);
    analyzed.recall_hash = Some(recalled.hash.clone());
    memory::report_problems(ctx, analysis, &recalled).await;
    score::rescore(ctx, &ns, &analysis.name_any(), &map, &mut analyzed.result).await?;

    let proposals = apply_proposals::apply(ctx, analysis, &ns, &analyzed.result).await?;
    status::record_ready(
        ctx, analysis, &ns, &previous, &map, &map_hash, &analyzed, proposals, excluded,
    )
    .await?;
    Ok(recheck)
}
