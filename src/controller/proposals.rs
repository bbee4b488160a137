//! The ExperimentProposal controller: a Pending or Rejected proposal never runs; an Approved one
//! gets its Chaos Mesh resource (owned by the proposal, labelled back to it), has its steady-state
//! checks watched while it runs, is paused when one breaks (the stop condition), and ends with a
//! verdict on its hypothesis.
//!
//! Reconcile is a visible pipeline: `gather` (read the Chaos Mesh resource, evaluate the checks)
//! → `run::next_step` (pure) → `apply` (the resource, then status by server-side apply, then an
//! event when the phase changed).

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, DeserializeGuard, GroupVersionKind};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use tracing::{debug, info, instrument, warn};

use super::checks::{self, CheckResult, PrometheusAccess};
use super::run::{self, RunInputs, RunStep};
use super::workflow_run::{self, RunObject};
use super::{Context, Error, reasons};
use super::{injection, telemetry, timeline};
use crate::analysis::check_target::CheckTargets;
use crate::api::{
    ANALYSIS_LABEL, ApprovalState, ChaosAnalysis, CheckKind, ExperimentProposal,
    ExperimentProposalStatus, FIELD_MANAGER, PROPOSAL_LABEL, RunPhase,
};
use crate::chaosmesh::{self, ChaosKind, ChaosManifest, ChaosSpec, PAUSE_ANNOTATION};

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "proposals";

/// The dynamic API of one Chaos Mesh kind.
pub fn chaos_resource(kind: ChaosKind) -> ApiResource {
    let gvk = GroupVersionKind::gvk(chaosmesh::GROUP, chaosmesh::VERSION, kind.as_str());
    ApiResource::from_gvk_with_plural(&gvk, kind.plural())
}

/// The Chaos Mesh object for a proposal: same name and namespace, owned by it (controller), with
/// the proposal and analysis labels, and the pause annotation when `paused`.
///
/// Where it lives (tenancy): in the proposal's namespace, which is the analysis' namespace, not the
/// target's. An owner reference cannot cross namespaces, and the people who approved it can see
/// and pause it there. Its selector names the target namespaces, so the target's protection does
/// not depend on where the object lives: approval needs the `approve` verb in every namespace the
/// selectors name (the approval admission policy), Chaos Mesh's namespace filter still requires the
/// target's `chaos-mesh.org/inject=enabled` opt-in (analyses with the filter on propose nothing
/// elsewhere), and Chaos Mesh's own namespace-scoped RBAC applies to people, while the operator
/// only creates what such a person approved.
pub fn chaos_manifest(
    proposal: &ExperimentProposal,
    spec: &ChaosSpec,
    paused: bool,
) -> Result<ChaosManifest, Error> {
    let name = proposal.name_any();
    let mut owner = proposal
        .controller_owner_ref(&())
        .ok_or(Error::MissingMetadata("uid"))?;
    owner.block_owner_deletion = Some(true);
    let labels = BTreeMap::from([
        (PROPOSAL_LABEL.to_string(), name.clone()),
        (
            ANALYSIS_LABEL.to_string(),
            proposal.spec.analysis_ref.clone(),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            "smart-chaos".to_string(),
        ),
    ]);
    let annotations =
        paused.then(|| BTreeMap::from([(PAUSE_ANNOTATION.to_string(), "true".to_string())]));
    Ok(spec.to_manifest(kube::api::ObjectMeta {
        name: Some(name),
        namespace: proposal.namespace(),
        labels: Some(labels),
        annotations,
        owner_references: Some(vec![owner]),
        ..kube::api::ObjectMeta::default()
    }))
}

/// Whether `object` is controlled by `proposal` (so it is ours to change).
fn owned_by(object: &DynamicObject, proposal: &ExperimentProposal) -> bool {
    let uid = proposal.uid();
    object
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

/// The SSA body for /status.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct StatusApply<'a> {
    api_version: String,
    kind: &'static str,
    status: &'a ExperimentProposalStatus,
}

/// Reconciles one proposal.
#[instrument(skip(obj, ctx), fields(namespace = obj.namespace(), name = obj.name_any()))]
pub async fn reconcile(
    obj: Arc<DeserializeGuard<ExperimentProposal>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let ctx: &Context = &ctx;
    super::prologue::reconcile(CONTROLLER, &obj, ctx, |proposal| async move {
        match proposal.spec.approval.state {
            ApprovalState::Pending => not_started(proposal, ctx, waiting_message(proposal)).await,
            ApprovalState::Rejected => not_started(proposal, ctx, rejected_message(proposal)).await,
            ApprovalState::Approved => approved(proposal, ctx).await,
        }
    })
    .await
}

fn waiting_message(proposal: &ExperimentProposal) -> String {
    let ns = proposal.namespace().unwrap_or_default();
    format!(
        "waiting for a person to approve it (smart-chaos approve {ns}/{}); nothing runs until then",
        proposal.name_any()
    )
}

fn rejected_message(proposal: &ExperimentProposal) -> String {
    let approval = &proposal.spec.approval;
    let by = approval.approved_by.as_deref().unwrap_or("someone");
    match approval.reason.as_deref() {
        Some(reason) => format!("rejected by {by} ({reason}); it never runs"),
        None => format!("rejected by {by}; it never runs"),
    }
}

/// Pending or Rejected: status NotStarted, nothing else.
async fn not_started(
    proposal: &ExperimentProposal,
    ctx: &Context,
    message: String,
) -> Result<Action, Error> {
    let desired = ExperimentProposalStatus {
        phase: Some(RunPhase::NotStarted),
        observed_generation: proposal.metadata.generation,
        message: Some(message),
        ..ExperimentProposalStatus::default()
    };
    let previous = proposal.status.clone().unwrap_or_default();
    if write_status(proposal, ctx, &desired).await?
        && proposal.spec.approval.state == ApprovalState::Rejected
        && previous.phase != Some(RunPhase::NotStarted)
    {
        publish(
            ctx,
            proposal,
            EventType::Normal,
            reasons::REJECTED,
            desired.message.clone(),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Approved: drive the run.
async fn approved(proposal: &ExperimentProposal, ctx: &Context) -> Result<Action, Error> {
    let name = proposal.name_any();
    let ns = proposal
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let previous = proposal.status.clone().unwrap_or_default();
    if matches!(
        previous.phase,
        Some(RunPhase::Completed) | Some(RunPhase::Failed) | Some(RunPhase::InjectionFailed)
    ) {
        return Ok(Action::await_change());
    }
    let spec = match ChaosSpec::try_from(proposal.spec.experiment.clone()) {
        Ok(spec) => super::deadman::bounded(
            spec,
            ctx.config.default_window,
            ctx.config.max_experiment_duration,
        ),
        Err(missing) => {
            fail(proposal, ctx, &previous, missing.to_string()).await?;
            return Ok(Action::await_change());
        }
    };
    // A bare chaos object, or a Workflow when Chaos Mesh holds some of the checks.
    let (run, _) = workflow_run::plan(proposal, &spec, &ctx.config);
    let workflow = matches!(run, RunObject::Workflow(_));
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &run.resource());
    let existing = api
        .get_opt(&name)
        .await
        .map_err(|source| Error::ReadChaos {
            name: name.clone(),
            source,
        })?;
    if let Some(object) = &existing
        && !owned_by(object, proposal)
    {
        let message = format!(
            "a {} named {name} already exists and is not owned by this proposal; it was left alone",
            run.kind_name()
        );
        fail(proposal, ctx, &previous, message).await?;
        return Ok(Action::await_change());
    }

    if let Some(halt) = ctx.halt.covering(&ns) {
        return super::halt::hold(
            proposal,
            ctx,
            &halt,
            existing.as_ref(),
            spec.kind(),
            workflow,
        )
        .await;
    }
    let chaos_status = match &existing {
        // Chaos Mesh records the injection on the chaos object the Workflow's fault node made.
        Some(_) if workflow => {
            Some(workflow_run::fault_status(&ctx.client, &ns, &name, spec.kind()).await?)
        }
        Some(object) => Some(injection::chaos_status(object).unwrap_or_else(|error| {
            warn!(%error, "the Chaos Mesh status is not in the expected shape; read as empty");
            Default::default()
        })),
        None => None,
    };
    let chaos_object = format!("{}/{name}", run.kind_name());
    // Whole seconds: status times are stored at that precision, so an unchanged status compares
    // equal to what was read back and is not written again.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH);

    if previous.phase == Some(RunPhase::Paused) {
        // Level-triggered stop condition: keep the pause annotation on, whatever happened since.
        let paused = existing.as_ref().is_some_and(|o| {
            o.annotations().get(PAUSE_ANNOTATION).map(String::as_str) == Some("true")
        });
        // A Workflow's chaos objects are looked at every time: its fault node may have made one.
        if existing.is_some() && (!paused || workflow) {
            apply_run(ctx, &api, proposal, &spec, &run, true).await?;
        }
        // Until Chaos Mesh records the pause, look again: its status does not wake this controller.
        let Some(chaos) = &chaos_status else {
            return Ok(Action::await_change());
        };
        if let Some(timeline) = timeline::while_paused(&previous, chaos, &chaos_object, now) {
            let desired = ExperimentProposalStatus {
                timeline,
                ..previous.clone()
            };
            write_status(proposal, ctx, &desired).await?;
        }
        return Ok(if chaos.paused() {
            Action::await_change()
        } else {
            Action::requeue(ctx.config.check_interval)
        });
    }

    let prometheus = prometheus_access(ctx, proposal, &ns).await;
    let targets = CheckTargets::of(&ns, &spec, &ctx.config.check_targets);
    let mut results: Vec<CheckResult> = Vec::with_capacity(proposal.spec.steady_state.len());
    for check in &proposal.spec.steady_state {
        results.push(
            checks::evaluate(&ctx.client, &prometheus, &ctx.http_prober, &targets, check).await?,
        );
    }
    let window = run::experiment_window(spec.duration(), ctx.config.default_window);
    let inputs = RunInputs {
        status: &previous,
        chaos_created_at: existing
            .as_ref()
            .and_then(|o| o.metadata.creation_timestamp.as_ref())
            .map(|t| t.0),
        checks: &results,
        window,
        now,
    };
    let step = run::next_step(&inputs);
    debug!(?step, "next step");
    if let Some(message) = injection::failure(&previous, chaos_status.as_ref(), &step) {
        // Stop Chaos Mesh retrying; the run ends here without a verdict.
        apply_run(ctx, &api, proposal, &spec, &run, true).await?;
        let mut desired = injection::failed_status(
            &previous,
            &message,
            proposal.metadata.generation,
            &name,
            now,
        );
        timeline::injection_failed(&mut desired.timeline, &message, now);
        write_status(proposal, ctx, &desired).await?;
        publish(
            ctx,
            proposal,
            EventType::Warning,
            reasons::INJECTION_FAILED,
            Some(message),
        )
        .await;
        return Ok(Action::await_change());
    }
    match &step {
        RunStep::Start => apply_run(ctx, &api, proposal, &spec, &run, false).await?,
        RunStep::Pause { .. } | RunStep::Blind { .. } if existing.is_some() => {
            apply_run(ctx, &api, proposal, &spec, &run, true).await?
        }
        _ => {}
    }
    let mut desired = run::status_after(&step, &inputs, proposal.metadata.generation, &name);
    desired.timeline = timeline::after_round(&timeline::Round {
        previous: &previous,
        step: &step,
        desired: &desired,
        checks: &results,
        chaos: chaos_status.as_ref(),
        chaos_object: &chaos_object,
        approval: &proposal.spec.approval,
        sample_every: ctx.config.check_interval,
        now,
    });
    let changed_phase = previous.phase != desired.phase;
    write_status(proposal, ctx, &desired).await?;
    if changed_phase {
        let (type_, reason) = match &step {
            RunStep::Wait { .. } => (EventType::Warning, reasons::WAITING_FOR_STEADY_STATE),
            RunStep::Start | RunStep::Continue => (EventType::Normal, reasons::EXPERIMENT_STARTED),
            RunStep::Pause { .. } => (EventType::Warning, reasons::STEADY_STATE_BROKEN),
            RunStep::Blind { .. } => (EventType::Warning, reasons::STEADY_STATE_UNOBSERVABLE),
            RunStep::Complete { .. } => (EventType::Normal, reasons::HYPOTHESIS_HELD),
            RunStep::Lost { .. } => (EventType::Warning, reasons::EXPERIMENT_LOST),
        };
        info!(
            reason,
            message = desired.message.as_deref().unwrap_or_default(),
            "run transition"
        );
        publish(ctx, proposal, type_, reason, desired.message.clone()).await;
    }
    Ok(match step {
        RunStep::Wait { .. } | RunStep::Start | RunStep::Continue => {
            Action::requeue(ctx.config.check_interval)
        }
        RunStep::Pause { .. }
        | RunStep::Blind { .. }
        | RunStep::Complete { .. }
        | RunStep::Lost { .. } => Action::await_change(),
    })
}

/// The Prometheus of the proposal's analysis, when it names one (only read when a check needs it).
async fn prometheus_access(
    ctx: &Context,
    proposal: &ExperimentProposal,
    ns: &str,
) -> PrometheusAccess {
    if !proposal
        .spec
        .steady_state
        .iter()
        .any(|c| c.kind == CheckKind::Prometheus)
    {
        return PrometheusAccess::NotConfigured;
    }
    let analyses: Api<ChaosAnalysis> = Api::namespaced(ctx.client.clone(), ns);
    let analysis = match analyses.get_opt(&proposal.spec.analysis_ref).await {
        Ok(Some(analysis)) => analysis,
        Ok(None) => {
            return PrometheusAccess::Broken(format!(
                "the analysis {ns}/{} that names the Prometheus is gone",
                proposal.spec.analysis_ref
            ));
        }
        Err(e) => {
            return PrometheusAccess::Broken(format!(
                "reading the analysis {ns}/{}: {e}",
                proposal.spec.analysis_ref
            ));
        }
    };
    let Some(source) = analysis
        .spec
        .telemetry
        .as_ref()
        .and_then(|t| t.prometheus.as_ref())
    else {
        return PrometheusAccess::NotConfigured;
    };
    match telemetry::prometheus_client(&ctx.client, ns, source).await {
        Ok(client) => PrometheusAccess::Ready(client),
        Err(reason) => PrometheusAccess::Broken(reason),
    }
}

/// Records a run that cannot happen.
async fn fail(
    proposal: &ExperimentProposal,
    ctx: &Context,
    previous: &ExperimentProposalStatus,
    message: String,
) -> Result<(), Error> {
    let desired = ExperimentProposalStatus {
        phase: Some(RunPhase::Failed),
        observed_generation: proposal.metadata.generation,
        message: Some(message.clone()),
        ..ExperimentProposalStatus::default()
    };
    if write_status(proposal, ctx, &desired).await? && previous.phase != Some(RunPhase::Failed) {
        publish(
            ctx,
            proposal,
            EventType::Warning,
            reasons::EXPERIMENT_FAILED,
            Some(message),
        )
        .await;
    }
    Ok(())
}

/// Server-side applies the Chaos Mesh object (the chaos object or the Workflow). Pausing a
/// Workflow also pauses the chaos objects it made, which is what Chaos Mesh honours.
async fn apply_run(
    ctx: &Context,
    api: &Api<DynamicObject>,
    proposal: &ExperimentProposal,
    spec: &ChaosSpec,
    run: &RunObject,
    paused: bool,
) -> Result<(), Error> {
    let manifest = run.manifest(proposal, spec, paused)?;
    let name = proposal.name_any();
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Apply(&manifest),
    )
    .await
    .map_err(|source| Error::ApplyChaos {
        name: name.clone(),
        source,
    })?;
    if paused && let (RunObject::Workflow(_), Some(ns)) = (run, proposal.namespace()) {
        let outcome = workflow_run::pause_workflow(&ctx.client, &ns, &name, spec.kind()).await;
        if let Some(failure) = outcome.failures.into_iter().next() {
            return Err(Error::ApplyChaos {
                name,
                source: failure.into_source(),
            });
        }
    }
    Ok(())
}

/// Server-side applies `desired` to /status unless it equals what is there. Returns whether it
/// wrote.
pub(super) async fn write_status(
    proposal: &ExperimentProposal,
    ctx: &Context,
    desired: &ExperimentProposalStatus,
) -> Result<bool, Error> {
    // Every status says who holds each check, whichever step wrote it.
    let desired = &workflow_run::with_holdings(proposal, &ctx.config, desired);
    if proposal.status.as_ref() == Some(desired) {
        return Ok(false);
    }
    let ns = proposal
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<ExperimentProposal> = Api::namespaced(ctx.client.clone(), &ns);
    let body = StatusApply {
        api_version: ExperimentProposal::api_version(&()).into_owned(),
        kind: "ExperimentProposal",
        status: desired,
    };
    api.patch_status(
        &proposal.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::Status)?;
    Ok(true)
}

/// Publishes an event about a proposal's run.
async fn publish(
    ctx: &Context,
    proposal: &ExperimentProposal,
    type_: EventType,
    reason: &str,
    note: Option<String>,
) {
    super::publish_event(ctx, proposal, "Run", type_, reason, note).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        Approval, BlastRadius, CheckKind, ExperimentProposalSpec, ProposalHypothesis,
        SteadyStateCheck,
    };
    use crate::chaosmesh::{PodChaosAction, PodChaosSpec, PodSelector, SelectorMode};

    fn proposal() -> (ExperimentProposal, ChaosSpec) {
        let spec = ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector: PodSelector {
                namespaces: vec!["shop".into()],
                label_selectors: BTreeMap::from([("app".into(), "web".into())]),
            },
            mode: SelectorMode::One,
            value: None,
            duration: Some("30s".into()),
            container_names: vec![],
        });
        let mut p = ExperimentProposal::new(
            "kill-web",
            ExperimentProposalSpec {
                analysis_ref: "shop".into(),
                target: "shop/Deployment/web".into(),
                hypothesis: ProposalHypothesis {
                    id: "h1".into(),
                    statement: "If one web pod dies, web stays available".into(),
                },
                steady_state: vec![SteadyStateCheck {
                    name: "web".into(),
                    kind: CheckKind::AvailableReplicas,
                    subject: Some("shop/Deployment/web".into()),
                    url: None,
                    query: None,
                    min_value: 1,
                    max_value: None,
                }],
                blast_radius: BlastRadius::default(),
                experiment: spec.clone().into(),
                approval: Approval::default(),
            },
        );
        p.metadata.namespace = Some("shop".into());
        p.metadata.uid = Some("uid-1".into());
        (p, spec)
    }

    #[test]
    fn the_chaos_object_is_owned_labelled_and_paused_on_demand() {
        let (p, spec) = proposal();
        let running = chaos_manifest(&p, &spec, false).unwrap();
        let owner = &running.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.uid, "uid-1");
        assert_eq!(owner.kind, "ExperimentProposal");
        assert_eq!(owner.controller, Some(true));
        let labels = running.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[PROPOSAL_LABEL], "kill-web");
        assert_eq!(labels[ANALYSIS_LABEL], "shop");
        assert!(running.metadata.annotations.is_none());
        let paused = chaos_manifest(&p, &spec, true).unwrap();
        assert_eq!(
            paused.metadata.annotations.unwrap()[PAUSE_ANNOTATION],
            "true"
        );
        let json = serde_json::to_value(&running).unwrap();
        assert_eq!(json["kind"], "PodChaos");
        assert_eq!(json["metadata"]["name"], "kill-web");
    }

    #[test]
    fn a_proposal_without_uid_cannot_own_anything() {
        let (mut p, spec) = proposal();
        p.metadata.uid = None;
        assert!(matches!(
            chaos_manifest(&p, &spec, false),
            Err(Error::MissingMetadata("uid"))
        ));
    }

    #[test]
    fn messages_tell_what_to_do() {
        let (mut p, _) = proposal();
        assert!(waiting_message(&p).contains("smart-chaos approve shop/kill-web"));
        p.spec.approval = Approval {
            state: ApprovalState::Rejected,
            approved_by: Some("alice".into()),
            decided_at: None,
            reason: Some("too risky".into()),
        };
        assert_eq!(
            rejected_message(&p),
            "rejected by alice (too risky); it never runs"
        );
    }

    #[test]
    fn every_kind_maps_to_its_plural() {
        for kind in ChaosKind::ALL {
            let ar = chaos_resource(kind);
            assert_eq!(ar.group, "chaos-mesh.org");
            assert_eq!(ar.plural, kind.plural());
            assert_eq!(ar.kind, kind.as_str());
        }
    }
}
