//! The ChaosAnalysis controller, as a visible pipeline of [`super::steps`]:
//! `validate` (is the spec usable here, may the requester read the scope?) → `snapshot` (read
//! the scope, I/O) → `map` (pure; then telemetry, I/O) → `stages` (the analysis through the
//! engine) → `apply proposals` (SSA, I/O) → `status` (SSA on /status, I/O).
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

use super::steps::{apply_proposals, map, snapshot, stages, status, validate};
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
    let mut config = validate::config(ctx, analysis)?;

    let snapshot = snapshot::read(ctx, analysis).await?;
    let (mut map, map_hash) = map::build(&snapshot)?;
    // Chaos Mesh's namespace filter: a namespace without the opt-in gets no proposal.
    let excluded =
        snapshot::without_chaos_mesh_opt_in(ctx, analysis, config.effective_namespaces(&map))
            .await?;
    config.without_chaos_mesh_opt_in = excluded.iter().map(|e| e.namespace.clone()).collect();
    if !stages::needed(analysis, &previous, &map_hash) && excluded == previous.excluded_namespaces {
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
    let mut analyzed = stages::run(ctx, analysis, &ns, &map, &config).await;
    analyzed.telemetry_problem = telemetry_problem;

    let proposals = apply_proposals::apply(ctx, analysis, &ns, &analyzed.result).await?;
    status::record_ready(
        ctx, analysis, &ns, &previous, &map, &map_hash, &analyzed, proposals, excluded,
    )
    .await?;
    Ok(recheck)
}
