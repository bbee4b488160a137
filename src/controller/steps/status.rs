//! Step `status`: what the analysis' status becomes (a spec problem, analysing, ready) and
//! writing it by server-side apply on /status when it changed, with an event on transitions.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;

use super::super::run::condition;
use super::super::{Context, publish_event, reasons};
use super::estimate::RunForecast;
use super::stages::Analyzed;
use super::validate::SpecProblem;
use crate::analysis;
use crate::api::{
    AnalysisPhase, ChaosAnalysis, ChaosAnalysisStatus, ExcludedNamespace, FIELD_MANAGER,
    FindingStatus, HypothesisStatus, conditions,
};
use crate::servicemap::ServiceMap;

/// Most findings and hypotheses copied into status; the rest are in the proposals and the CLI
/// report. Keeps the object far below etcd's size limit on any map.
const STATUS_ITEMS: usize = 20;

/// Why status could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("writing status: {0}")]
    Write(#[source] kube::Error),
}

impl StatusError {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            StatusError::Write(_) => "WriteStatus",
        }
    }
}

/// Records a spec problem: Failed, with a Warning event when status changed. An invalid spec
/// keeps earlier results; a refused requester loses them, so nothing read on their behalf stays
/// visible.
pub async fn record_problem(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    previous: &ChaosAnalysisStatus,
    problem: &SpecProblem,
) -> Result<(), StatusError> {
    let generation = analysis.metadata.generation;
    let message = problem.to_string();
    let status = match problem {
        SpecProblem::RequesterNotAllowed(_) => refused_status(previous, generation, &message),
        _ => failed_status(previous, generation, &message),
    };
    if apply(ctx, analysis, ns, previous, &status).await? {
        publish(ctx, analysis, EventType::Warning, problem.reason(), message).await;
    }
    Ok(())
}

/// A new generation (or a first run) shows as in progress while the stages run, so that GitOps
/// tools (kstatus, Argo CD) wait for it; a refresh of a Ready analysis stays Ready. Returns the
/// status now in place.
pub async fn record_analyzing(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    previous: ChaosAnalysisStatus,
) -> Result<ChaosAnalysisStatus, StatusError> {
    let generation = analysis.metadata.generation;
    if previous.phase == Some(AnalysisPhase::Ready) && previous.observed_generation == generation {
        return Ok(previous);
    }
    let status = analyzing_status(&previous, generation);
    apply(ctx, analysis, ns, &previous, &status).await?;
    Ok(status)
}

/// Records the run's estimate before the first model call. A run over its budget is Failed
/// (Ready false with reason OverBudget, Stalled), with a Warning event when status changed, and
/// `None` says it must not start; otherwise the status now in place.
pub async fn record_estimate(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    previous: ChaosAnalysisStatus,
    forecast: Option<RunForecast>,
) -> Result<Option<ChaosAnalysisStatus>, StatusError> {
    let status = estimate_status(&previous, analysis.metadata.generation, forecast);
    let written = apply(ctx, analysis, ns, &previous, &status).await?;
    match over_budget(&status) {
        Some(message) => {
            if written {
                let note = message.to_string();
                publish(
                    ctx,
                    analysis,
                    EventType::Warning,
                    reasons::OVER_BUDGET,
                    note,
                )
                .await;
            }
            Ok(None)
        }
        None => Ok(Some(status)),
    }
}

/// Records the result: Ready, with an event when the phase changed.
#[allow(clippy::too_many_arguments)]
pub async fn record_ready(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    previous: &ChaosAnalysisStatus,
    map: &ServiceMap,
    map_hash: &str,
    analyzed: &Analyzed,
    proposals: i64,
    excluded: Vec<ExcludedNamespace>,
) -> Result<(), StatusError> {
    let generation = analysis.metadata.generation;
    let status = ready_status(
        previous, generation, map, map_hash, analyzed, proposals, excluded,
    );
    let changed_phase = previous.phase != status.phase;
    apply(ctx, analysis, ns, previous, &status).await?;
    ctx.metrics.observe_score(analyzed.result.score.score);
    if changed_phase {
        let summary = &analyzed.result.summary;
        let note = format!(
            "{} services, {} dependencies, {} hypotheses, {} proposals",
            summary.services, summary.edges, summary.hypotheses, proposals
        );
        publish(ctx, analysis, EventType::Normal, reasons::ANALYZED, note).await;
    }
    Ok(())
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct StatusApply<'a> {
    api_version: String,
    kind: &'static str,
    status: &'a ChaosAnalysisStatus,
}

fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `previous` with the estimate (none for the built-in provider), or Failed with the refusal when
/// the estimate is over the budget.
fn estimate_status(
    previous: &ChaosAnalysisStatus,
    generation: Option<i64>,
    forecast: Option<RunForecast>,
) -> ChaosAnalysisStatus {
    let (estimate, refusal) = match forecast {
        Some(RunForecast { estimate, refusal }) => (Some(estimate), refusal),
        None => (None, None),
    };
    let Some(message) = refusal else {
        return ChaosAnalysisStatus {
            estimate,
            ..previous.clone()
        };
    };
    let now = now();
    ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Failed),
        observed_generation: generation,
        conditions: vec![
            condition(
                &previous.conditions,
                conditions::READY,
                false,
                reasons::OVER_BUDGET,
                &message,
                generation,
                now,
            ),
            // Stalled until the spec changes, as for an invalid spec.
            condition(
                &previous.conditions,
                conditions::STALLED,
                true,
                reasons::OVER_BUDGET,
                &message,
                generation,
                now,
            ),
        ],
        estimate,
        ..previous.clone()
    }
}

/// The refusal a status carries, if its run was refused for its estimate.
fn over_budget(status: &ChaosAnalysisStatus) -> Option<&str> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::READY && c.reason == reasons::OVER_BUDGET)
        .map(|c| c.message.as_str())
}

fn failed_status(
    previous: &ChaosAnalysisStatus,
    generation: Option<i64>,
    message: &str,
) -> ChaosAnalysisStatus {
    let now = now();
    ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Failed),
        observed_generation: generation,
        conditions: vec![
            condition(
                &previous.conditions,
                conditions::READY,
                false,
                reasons::INVALID_SPEC,
                message,
                generation,
                now,
            ),
            // Stalled: kstatus reports Failed, Argo CD's check Degraded, until the spec changes.
            condition(
                &previous.conditions,
                conditions::STALLED,
                true,
                reasons::INVALID_SPEC,
                message,
                generation,
                now,
            ),
        ],
        ..previous.clone()
    }
}

/// The status while the stages run for a new generation: Reconciling (kstatus InProgress, Argo
/// CD Progressing), not Ready, results of the last run kept.
fn analyzing_status(
    previous: &ChaosAnalysisStatus,
    generation: Option<i64>,
) -> ChaosAnalysisStatus {
    let now = now();
    let message = match generation {
        Some(g) => format!("analysing generation {g}"),
        None => "analysing".to_string(),
    };
    ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Analyzing),
        observed_generation: generation,
        conditions: vec![
            condition(
                &previous.conditions,
                conditions::READY,
                false,
                reasons::ANALYZING,
                &message,
                generation,
                now,
            ),
            condition(
                &previous.conditions,
                conditions::RECONCILING,
                true,
                reasons::ANALYZING,
                &message,
                generation,
                now,
            ),
        ],
        ..previous.clone()
    }
}

/// Failed because the requester may not (or no longer) read the scope: earlier results are
/// dropped from status too, so nothing read on their behalf stays visible.
fn refused_status(
    previous: &ChaosAnalysisStatus,
    generation: Option<i64>,
    message: &str,
) -> ChaosAnalysisStatus {
    ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Failed),
        observed_generation: generation,
        conditions: vec![condition(
            &previous.conditions,
            conditions::READY,
            false,
            reasons::REQUESTER_NOT_ALLOWED,
            message,
            generation,
            now(),
        )],
        ..ChaosAnalysisStatus::default()
    }
}

fn ready_status(
    previous: &ChaosAnalysisStatus,
    generation: Option<i64>,
    map: &ServiceMap,
    map_hash: &str,
    analyzed: &Analyzed,
    proposals: i64,
    excluded_namespaces: Vec<ExcludedNamespace>,
) -> ChaosAnalysisStatus {
    let now = now();
    let result = &analyzed.result;
    let mut summary = result.summary.clone();
    summary.proposals = proposals;
    let (degraded, degraded_reason, degraded_message) = if let Some(problem) =
        &analyzed.telemetry_problem
    {
        (
            true,
            reasons::TELEMETRY_NOT_AVAILABLE,
            format!(
                "{problem}; the map from the cluster's objects stands, without observed calls or measured steady states"
            ),
        )
    } else if let Some(problem) = &analyzed.provider_problem {
        (
            true,
            reasons::PROVIDER_NOT_AVAILABLE,
            format!("{problem}; the built-in engine's results stand"),
        )
    } else if !result.notes.is_empty() {
        let stages: Vec<String> = result
            .notes
            .iter()
            .map(|n| format!("{}: {}", n.stage, n.message))
            .collect();
        (
            true,
            reasons::STAGES_FELL_BACK,
            format!("built-in results stand for: {}", stages.join("; ")),
        )
    } else {
        (
            false,
            reasons::ALL_STAGES_OK,
            "every stage ran with the configured engine".to_string(),
        )
    };
    let conditions = vec![
        condition(
            &previous.conditions,
            conditions::READY,
            true,
            reasons::ANALYZED,
            &format!(
                "{} hypotheses, {proposals} proposals awaiting review",
                summary.hypotheses
            ),
            generation,
            now,
        ),
        condition(
            &previous.conditions,
            conditions::SERVICE_MAP_BUILT,
            true,
            reasons::MAP_BUILT,
            &format!("{} nodes, {} edges", map.nodes.len(), map.edges.len()),
            generation,
            now,
        ),
        condition(
            &previous.conditions,
            conditions::ANALYZED,
            true,
            reasons::ANALYZED,
            &format!("engine {}", result.engine),
            generation,
            now,
        ),
        condition(
            &previous.conditions,
            conditions::DEGRADED,
            degraded,
            degraded_reason,
            &degraded_message,
            generation,
            now,
        ),
    ];
    let mut findings: Vec<&analysis::Finding> = result.dependencies.findings.iter().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    let mut status = ChaosAnalysisStatus {
        phase: Some(AnalysisPhase::Ready),
        observed_generation: generation,
        excluded_namespaces,
        conditions,
        map_hash: Some(map_hash.to_string()),
        last_analyzed: Some(Time(now)),
        summary: Some(summary),
        findings: findings
            .into_iter()
            .take(STATUS_ITEMS)
            .map(|f| FindingStatus {
                id: f.id.clone(),
                severity: f.severity.to_string(),
                subject: f.subject.to_string(),
                message: f.message.clone(),
            })
            .collect(),
        hypotheses: result
            .hypotheses
            .hypotheses
            .iter()
            .take(STATUS_ITEMS)
            .map(|h| HypothesisStatus {
                id: h.id.clone(),
                statement: h.statement.clone(),
            })
            .collect(),
        rumsfeld: Some(result.rumsfeld_counts.clone()),
        usage: analyzed.usage.clone().or_else(|| previous.usage.clone()),
        test_cases: analyzed.test_cases.clone(),
        knowledge: (!result.knowledge.is_empty()).then(|| result.knowledge.bounded(STATUS_ITEMS)),
        recall_hash: analyzed.recall_hash.clone(),
        estimate: previous.estimate.clone(),
        ..ChaosAnalysisStatus::default()
    };
    super::score::record(&mut status, previous, result, now);
    status
}

/// Writes status when it differs from what is there; returns whether it wrote.
async fn apply(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    previous: &ChaosAnalysisStatus,
    status: &ChaosAnalysisStatus,
) -> Result<bool, StatusError> {
    if previous == status {
        return Ok(false);
    }
    let api: Api<ChaosAnalysis> = Api::namespaced(ctx.client.clone(), ns);
    let body = StatusApply {
        api_version: ChaosAnalysis::api_version(&()).into_owned(),
        kind: "ChaosAnalysis",
        status,
    };
    api.patch_status(
        &analysis.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(StatusError::Write)?;
    Ok(true)
}

/// Publishes an event about an analysis.
async fn publish(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    type_: EventType,
    reason: &str,
    note: String,
) {
    publish_event(ctx, analysis, "Analyze", type_, reason, Some(note)).await;
}
