//! The ChaosAnalysis controller, as a visible pipeline:
//! `validate` (is the spec usable here?) → `gather` (snapshot of the scope, I/O) → `build map`
//! (pure) → `analyze` (pure stages through the engine) → `apply_proposals` (SSA, I/O) →
//! `apply_status` (SSA on /status, I/O).
//!
//! Re-analysis: every `map_check_interval` the scope is read again and the map's content hash
//! compared with the one in status; the stages only run again when the hash, the generation or
//! the refresh interval says so. Proposals are applied with deterministic names and the analysis
//! as controller owner; a proposal somebody has decided on is never touched again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use tracing::instrument;

use super::provider;
use super::run::condition;
use super::telemetry;
use super::{Context, Error, tenancy};
use crate::analysis::{self, AnalysisConfig, AnalysisResult};
use crate::api::UsageStatus;
use crate::api::{
    ANALYSIS_LABEL, AnalysisPhase, ApprovalState, ChaosAnalysis, ChaosAnalysisStatus,
    ExcludedNamespace, ExperimentProposal, FIELD_MANAGER, FindingStatus, HypothesisStatus,
    conditions,
};
use crate::llm::factory::Engine;
use crate::servicemap::{self, ServiceMap};
use crate::snapshot::cluster::{self, ClusterScope};
use crate::traffic::prometheus;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "analyses";

/// Most findings and hypotheses copied into status; the rest are in the proposals and the CLI
/// report. Keeps the object far below etcd's size limit on any map.
const STATUS_ITEMS: usize = 20;

mod reasons {
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const REQUESTER_NOT_ALLOWED: &str = "RequesterNotAllowed";
    pub const ANALYZING: &str = "Analyzing";
    pub const ANALYZED: &str = "Analyzed";
    pub const MAP_BUILT: &str = "MapBuilt";
    pub const STAGES_FELL_BACK: &str = "StagesFellBack";
    pub const PROVIDER_NOT_AVAILABLE: &str = "ProviderNotAvailable";
    pub const ALL_STAGES_OK: &str = "AllStagesOk";
    pub const TELEMETRY_NOT_AVAILABLE: &str = "TelemetryNotAvailable";
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct StatusApply<'a> {
    api_version: String,
    kind: &'static str,
    status: &'a ChaosAnalysisStatus,
}

/// Reconciles one ChaosAnalysis.
#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile_analysis(
    obj: Arc<DeserializeGuard<ChaosAnalysis>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let analysis = match &obj.0 {
        Ok(a) => a,
        Err(invalid) => {
            return Err(Error::InvalidObject {
                name: obj.name_any(),
                reason: invalid.error.clone(),
            });
        }
    };
    if !ctx.is_leader() {
        return Ok(Action::await_change());
    }
    let ns = analysis
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let previous = analysis.status.clone().unwrap_or_default();
    let generation = analysis.metadata.generation;
    let recheck = Action::requeue(ctx.config.map_check_interval);

    // validate
    if let Err(message) = validate(&ctx, analysis).await? {
        let status = failed_status(&previous, generation, &message);
        if apply_status(&ctx, analysis, &ns, &previous, &status).await? {
            publish(
                &ctx,
                analysis,
                EventType::Warning,
                reasons::INVALID_SPEC,
                message,
            )
            .await;
        }
        // Namespaces can appear later (GitOps ordering): look again, slowly, without an error loop.
        return Ok(recheck);
    }
    // authorize: nothing is read for a requester who could not read it themselves
    if let Err(message) = authorize(&ctx, analysis).await? {
        let status = refused_status(&previous, generation, &message);
        if apply_status(&ctx, analysis, &ns, &previous, &status).await? {
            publish(
                &ctx,
                analysis,
                EventType::Warning,
                reasons::REQUESTER_NOT_ALLOWED,
                message,
            )
            .await;
        }
        return Ok(recheck);
    }
    let mut config = AnalysisConfig::from_guardrails(
        &analysis.spec.guardrails,
        ctx.config.operator_namespace.as_deref(),
    )
    .map_err(|e| Error::InvalidSpec(format!("spec.guardrails: {e}")))?;

    // gather + build map
    let scope = ClusterScope {
        namespaces: analysis.spec.scope.namespaces.clone(),
        label_selector: analysis
            .spec
            .scope
            .label_selector
            .as_ref()
            .map(label_selector_string),
    };
    let snapshot = cluster::read(&ctx.client, &scope).await?;
    let mut map = servicemap::build(&snapshot);
    // The hash is the cluster objects' map: traffic counts change every minute and must not
    // re-run the stages on their own.
    let map_hash = map
        .content_hash()
        .map_err(|e| Error::Analysis(format!("hashing the map: {e}")))?;

    // Chaos Mesh's namespace filter: a namespace without the opt-in gets no proposal.
    let excluded = if analysis.spec.guardrails.chaos_mesh_namespace_filter
        || ctx.config.chaos_mesh_namespace_filter
    {
        without_chaos_mesh_opt_in(&ctx, config.effective_namespaces(&map)).await?
    } else {
        Vec::new()
    };
    config.without_chaos_mesh_opt_in = excluded.iter().map(|e| e.namespace.clone()).collect();

    // what earlier verdicts and decisions taught (see `memory`)
    let recalled = super::memory::gather(&ctx.client, analysis, &ns).await?;

    if !needs_analysis(analysis, &previous, &map_hash)
        && excluded == previous.excluded_namespaces
        && previous.recall_hash.as_deref() == Some(recalled.hash.as_str())
    {
        return Ok(recheck);
    }

    // A new generation (or a first run) shows as in progress while the stages run, so that
    // GitOps tools (kstatus, Argo CD) wait for it; a refresh of a Ready analysis stays Ready.
    let previous = if previous.phase != Some(AnalysisPhase::Ready)
        || previous.observed_generation != generation
    {
        let status = analyzing_status(&previous, generation);
        apply_status(&ctx, analysis, &ns, &previous, &status).await?;
        status
    } else {
        previous
    };

    // gather telemetry: observed calls and baselines; on failure the objects' map stands
    let telemetry_problem = match read_telemetry(&ctx, analysis, &ns, &mut map).await {
        Ok(measurements) => {
            config.measurements = measurements;
            None
        }
        Err(problem) => Some(problem),
    };

    // analyze (pure stages; a model engine does its I/O through the trait)
    let mut analyzed = analyze(&ctx, analysis, &ns, &map, &config).await?;
    analyzed.telemetry_problem = telemetry_problem;
    analysis::memory::remember(&mut analyzed.result, &map, &recalled.recall);
    let result = &analyzed.result;

    // apply proposals
    let proposals = apply_proposals(&ctx, analysis, &ns, result).await?;

    // apply status
    let mut status = ready_status(
        &previous, generation, &map, &map_hash, &analyzed, proposals, excluded,
    );
    super::memory::record(&mut status, result, &recalled);
    for problem in &recalled.problems {
        publish(
            &ctx,
            analysis,
            EventType::Warning,
            super::memory::INVALID_SUPPRESSIONS,
            problem.clone(),
        )
        .await;
    }
    let changed_phase = previous.phase != status.phase;
    apply_status(&ctx, analysis, &ns, &previous, &status).await?;
    if changed_phase {
        let note = format!(
            "{} services, {} dependencies, {} hypotheses, {} proposals",
            result.summary.services, result.summary.edges, result.summary.hypotheses, proposals
        );
        publish(&ctx, analysis, EventType::Normal, reasons::ANALYZED, note).await;
    }
    Ok(recheck)
}

/// `Err(message)` when the spec cannot be analysed here, with a message a person can act on.
async fn validate(ctx: &Context, analysis: &ChaosAnalysis) -> Result<Result<(), String>, Error> {
    let scope = &analysis.spec.scope;
    if scope.namespaces.is_empty() && scope.label_selector.is_none() {
        return Ok(Err(
            "spec.scope is empty: name the namespaces to analyse in spec.scope.namespaces \
             (or set spec.scope.labelSelector)"
                .into(),
        ));
    }
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let wanted: BTreeSet<&String> = scope
        .namespaces
        .iter()
        .chain(&analysis.spec.guardrails.allowed_namespaces)
        .collect();
    let mut missing = Vec::new();
    for name in wanted {
        match namespaces.get_opt(name).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(name.clone()),
            Err(source) => return Err(Error::ReadNamespaces(source)),
        }
    }
    if !missing.is_empty() {
        return Ok(Err(format!(
            "namespace(s) {} named in spec.scope.namespaces or spec.guardrails.allowedNamespaces \
             do not exist; create them or fix the spec",
            missing.join(", ")
        )));
    }
    if let Err(e) = AnalysisConfig::from_guardrails(&analysis.spec.guardrails, None) {
        return Ok(Err(format!("spec.guardrails: {e}")));
    }
    Ok(Ok(()))
}

/// The candidate target namespaces that lack Chaos Mesh's opt-in annotation, with the reason.
async fn without_chaos_mesh_opt_in(
    ctx: &Context,
    candidates: BTreeSet<String>,
) -> Result<Vec<ExcludedNamespace>, Error> {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let mut excluded = Vec::new();
    for name in candidates {
        let opted_in = namespaces
            .get_opt(&name)
            .await
            .map_err(Error::ReadNamespaces)?
            .is_some_and(|ns| {
                ns.annotations()
                    .get(analysis::config::CHAOS_MESH_INJECT_ANNOTATION)
                    .is_some_and(|v| v == "enabled")
            });
        if !opted_in {
            excluded.push(ExcludedNamespace {
                reason: analysis::config::NamespaceRefusal::NoChaosMeshOptIn.describe(&name),
                namespace: name,
            });
        }
    }
    Ok(excluded)
}

/// `Err(message)` when the analysis' requester may not have the operator read its scope: the
/// scope's shape, then a SubjectAccessReview per kind and namespace (see [`super::tenancy`]).
async fn authorize(ctx: &Context, analysis: &ChaosAnalysis) -> Result<Result<(), String>, Error> {
    if let Err(message) = tenancy::scope_shape(analysis, ctx.config.operator_namespace.as_deref()) {
        return Ok(Err(message));
    }
    let requester = match tenancy::requester(analysis) {
        Ok(requester) => requester,
        Err(message) => return Ok(Err(message)),
    };
    Ok(tenancy::may_read(&ctx.client, &requester, &analysis.spec.scope.namespaces).await?)
}

/// Whether the stages must run: a new generation, a new map (unless refresh.onMapChange is
/// off), a due refresh interval, or no result yet.
fn needs_analysis(
    analysis: &ChaosAnalysis,
    previous: &ChaosAnalysisStatus,
    map_hash: &str,
) -> bool {
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
struct Analyzed {
    result: AnalysisResult,
    usage: Option<UsageStatus>,
    /// Set when the configured provider could not be used at all.
    provider_problem: Option<String>,
    /// Set when the analysis' Prometheus could not be read.
    telemetry_problem: Option<String>,
}

/// Adds what the analysis' Prometheus observed to `map` and returns the baselines it measured;
/// `Ok(None)` without a Prometheus. The error is a message a person can act on.
async fn read_telemetry(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    map: &mut ServiceMap,
) -> Result<Option<crate::analysis::Measurements>, String> {
    let Some(source) = analysis
        .spec
        .telemetry
        .as_ref()
        .and_then(|t| t.prometheus.as_ref())
    else {
        return Ok(None);
    };
    let window = telemetry::window(source)?;
    let client = telemetry::prometheus_client(&ctx.client, ns, source).await?;
    let enrichment = prometheus::enrich(&client, map, window)
        .await
        .map_err(|e| {
            format!("{e}; check spec.telemetry.prometheus and that the operator can reach it")
        })?;
    Ok(Some(enrichment.measurements))
}

/// Runs the stages with the analysis' provider: the built-in engine, or a model engine built from
/// the spec (credentials from the one named Secret, if any). Where the provider cannot be built,
/// the built-in engine runs and the problem is reported, never hidden.
async fn analyze(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    map: &ServiceMap,
    config: &AnalysisConfig,
) -> Result<Analyzed, Error> {
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
    Ok(Analyzed {
        result,
        usage,
        provider_problem,
        telemetry_problem: None,
    })
}

/// Applies the proposals of `result`, owned by the analysis; deletes Pending proposals the new
/// result no longer contains; never touches a decided proposal. Returns how many exist now.
async fn apply_proposals(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    result: &AnalysisResult,
) -> Result<i64, Error> {
    let name = analysis.name_any();
    let api: Api<ExperimentProposal> = Api::namespaced(ctx.client.clone(), ns);
    let existing = api
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}={name}")))
        .await
        .map_err(Error::ListProposals)?;
    let decided: BTreeMap<String, ApprovalState> = existing
        .items
        .iter()
        .map(|p| (p.name_any(), p.approval_state()))
        .collect();
    let owner = analysis
        .controller_owner_ref(&())
        .ok_or(Error::MissingMetadata("uid"))?;
    let mut desired_names = BTreeSet::new();
    for mut proposal in analysis::build_proposals(result, &name) {
        let proposal_name = proposal.name_any();
        desired_names.insert(proposal_name.clone());
        if decided
            .get(&proposal_name)
            .is_some_and(|state| *state != ApprovalState::Pending)
        {
            continue;
        }
        // Proposals live beside their analysis (owner references cannot cross namespaces);
        // the experiment's selectors still name the target's namespace.
        proposal.metadata.namespace = Some(ns.to_string());
        proposal.metadata.owner_references = Some(vec![owner.clone()]);
        let body = ProposalApply::without_approval(&proposal)?;
        api.patch(
            &proposal_name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|source| Error::ApplyProposal {
            name: proposal_name.clone(),
            source,
        })?;
    }
    for (stale, state) in &decided {
        if *state == ApprovalState::Pending && !desired_names.contains(stale) {
            api.delete(stale, &DeleteParams::default())
                .await
                .map_err(|source| Error::ApplyProposal {
                    name: stale.clone(),
                    source,
                })?;
        }
    }
    let kept_decided = decided
        .iter()
        .filter(|(n, s)| **s != ApprovalState::Pending && !desired_names.contains(*n))
        .count();
    Ok(i64::try_from(desired_names.len() + kept_decided).unwrap_or(i64::MAX))
}

/// The SSA body of a proposal without `spec.approval`: the decision belongs to people, so the
/// operator never owns that field (the CRD defaults it to Pending on create).
struct ProposalApply;

impl ProposalApply {
    fn without_approval(proposal: &ExperimentProposal) -> Result<serde_json::Value, Error> {
        let mut body = serde_json::to_value(proposal)
            .map_err(|e| Error::Analysis(format!("serialising a proposal: {e}")))?;
        if let Some(spec) = body.get_mut("spec").and_then(|s| s.as_object_mut()) {
            spec.remove("approval");
        }
        if let Some(object) = body.as_object_mut() {
            object.remove("status");
        }
        Ok(body)
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
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
            .map(|n| format!("{:?}: {}", n.stage, n.message))
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
    ChaosAnalysisStatus {
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
                severity: format!("{:?}", f.severity).to_lowercase(),
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
        report_config_map: None,
        knowledge: None,
        recall_hash: None,
    }
}

/// Writes status when it differs from what is there; returns whether it wrote.
async fn apply_status(
    ctx: &Context,
    analysis: &ChaosAnalysis,
    ns: &str,
    previous: &ChaosAnalysisStatus,
    status: &ChaosAnalysisStatus,
) -> Result<bool, Error> {
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
    .map_err(Error::Status)?;
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
    super::publish_event(ctx, analysis, "Analyze", type_, reason, Some(note)).await;
}

/// A LabelSelector in the list API's string form.
pub(crate) fn label_selector_string(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.clone().unwrap_or_default().join(",");
        parts.push(match requirement.operator.as_str() {
            "In" => format!("{} in ({values})", requirement.key),
            "NotIn" => format!("{} notin ({values})", requirement.key),
            "Exists" => requirement.key.clone(),
            _ => format!("!{}", requirement.key),
        });
    }
    parts.join(",")
}

/// Changes in the scoped objects coalesce for this long before an analysis looks again.
const SCOPE_DEBOUNCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Adds the triggers of re-analysis to the analyses controller: the proposals it owns, and every
/// change of an object kind the map reads most (workloads, Services, ConfigMaps), mapped to the
/// analyses whose scope holds the object's namespace. The reconciler then compares map hashes, so
/// a change that does not alter the map costs one read of the scope and no stage run. These
/// watches keep no cache: events are mapped and dropped.
pub fn watch_scopes(
    controller: kube::runtime::Controller<DeserializeGuard<ChaosAnalysis>>,
    client: &kube::Client,
) -> kube::runtime::Controller<DeserializeGuard<ChaosAnalysis>> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    use kube::runtime::{controller, watcher};

    let store = controller.store();
    let in_scope = move |namespace: Option<String>| analyses_in_scope(&store, namespace.as_deref());
    let config = || watcher::Config::default().any_semantic();
    controller
        .with_config(controller::Config::default().debounce(SCOPE_DEBOUNCE))
        .owns(Api::<ExperimentProposal>::all(client.clone()), config())
        .watches(Api::<Deployment>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<StatefulSet>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<DaemonSet>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<Service>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<ConfigMap>::all(client.clone()), config(), move |o| {
            in_scope(o.namespace())
        })
}

/// The analyses whose scope covers `namespace` (an analysis scoped by labels only covers all).
fn analyses_in_scope(
    store: &kube::runtime::reflector::Store<DeserializeGuard<ChaosAnalysis>>,
    namespace: Option<&str>,
) -> Vec<kube::runtime::reflector::ObjectRef<DeserializeGuard<ChaosAnalysis>>> {
    let Some(namespace) = namespace else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|guard| match &guard.0 {
            Ok(a) => {
                a.spec.scope.namespaces.is_empty()
                    || a.spec.scope.namespaces.iter().any(|n| n == namespace)
            }
            Err(_) => false,
        })
        .map(|guard| kube::runtime::reflector::ObjectRef::from_obj(guard.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    #[test]
    fn label_selectors_render_in_the_list_api_form() {
        let selector = LabelSelector {
            match_labels: Some([("team".to_string(), "search".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["web".into(), "api".into()]),
            }]),
        };
        assert_eq!(
            label_selector_string(&selector),
            "team=search,tier in (web,api)"
        );
    }
}
