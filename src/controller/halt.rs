//! The kill switch in the operator: it watches the `ChaosHalt` singleton and, while it is set,
//! pauses every running experiment created from a proposal (Chaos Mesh's pause annotation), keeps
//! proposals from starting, and records halts and resumes as Events, in the halt's status and in
//! metrics.
//!
//! The operator is only one of three lines: the admission policy refuses new chaos and approvals
//! whatever runs, and `smart-chaos halt` pauses with the caller's own rights
//! ([`pause_proposal_experiments`] is shared by both), so a halt never depends on the operator.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::watch;

use super::proposals::chaos_resource;
use super::{Context, Error};
use crate::api::{
    ChaosHalt, ChaosHaltSpec, ChaosHaltStatus, ExperimentProposal, ExperimentProposalStatus,
    FIELD_MANAGER, HALT_NAME, HaltTransition, PROPOSAL_LABEL, RunEvent, RunEventKind, RunPhase,
    Verdict, halt::record_halt_transition, record_run_event,
};
use crate::chaosmesh::{ChaosKind, ChaosSpec, PAUSE_ANNOTATION};

/// Field manager of the pause annotation, apart from the operator's own apply of the experiment,
/// so that the operator re-applying the experiment never takes a halt's pause off.
pub const PAUSE_FIELD_MANAGER: &str = "smart-chaos-halt";
/// How many pause patches are in flight at once.
const PAUSE_CONCURRENCY: usize = 32;

/// The halt as this replica last saw it: `None` when there is no ChaosHalt.
#[derive(Debug)]
pub struct HaltSwitch {
    state: watch::Sender<Option<ChaosHaltSpec>>,
}

impl Default for HaltSwitch {
    fn default() -> Self {
        HaltSwitch {
            state: watch::Sender::new(None),
        }
    }
}

impl HaltSwitch {
    /// The halt covering `namespace`, if one is set.
    pub fn covering(&self, namespace: &str) -> Option<ChaosHaltSpec> {
        self.state
            .borrow()
            .as_ref()
            .filter(|h| h.covers(namespace))
            .cloned()
    }

    /// Yields whenever the halt changes (to trigger a pass over every proposal).
    pub fn changes(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        tokio_stream_of(self.state.subscribe())
    }

    fn set(&self, spec: Option<ChaosHaltSpec>) {
        self.state.send_if_modified(|current| {
            let changed = *current != spec;
            *current = spec;
            changed
        });
    }
}

fn tokio_stream_of(
    rx: watch::Receiver<Option<ChaosHaltSpec>>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

/// Labels of halt transitions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// `halted` or `resumed`.
    pub to: &'static str,
}

/// The kill switch's metrics: `smart_chaos_halted`, `smart_chaos_halt_transitions_total{to}`,
/// `smart_chaos_halt_paused_experiments_total`.
#[derive(Debug, Default)]
pub struct HaltMetrics {
    halted: Gauge,
    transitions: Family<TransitionLabels, Counter>,
    paused: Counter,
}

impl HaltMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = HaltMetrics::default();
        registry.register(
            "halted",
            "1 while the ChaosHalt is set, else 0",
            metrics.halted.clone(),
        );
        registry.register(
            "halt_transitions",
            "Halts and resumes the operator acted on",
            metrics.transitions.clone(),
        );
        registry.register(
            "halt_paused_experiments",
            "Experiments the operator paused because of a halt",
            metrics.paused.clone(),
        );
        metrics
    }
}

/// One Chaos Mesh object paused by a halt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PausedExperiment {
    pub kind: ChaosKind,
    pub namespace: String,
    pub name: String,
}

/// Why an experiment could not be listed or paused.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("listing {kind} labelled {PROPOSAL_LABEL} in {where_}: {source}")]
    List {
        kind: ChaosKind,
        where_: String,
        #[source]
        source: kube::Error,
    },
    #[error("pausing {kind} {namespace}/{name}: {source}")]
    Pause {
        kind: ChaosKind,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("marking Workflow {namespace}/{name} paused: {source}")]
    PauseWorkflow {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("listing Workflows labelled {PROPOSAL_LABEL} in {where_}: {source}")]
    ListWorkflows {
        where_: String,
        #[source]
        source: kube::Error,
    },
}

impl PauseError {
    /// The API server's error underneath.
    pub fn into_source(self) -> kube::Error {
        match self {
            PauseError::List { source, .. }
            | PauseError::Pause { source, .. }
            | PauseError::PauseWorkflow { source, .. }
            | PauseError::ListWorkflows { source, .. } => source,
        }
    }
}

/// What a pass over the experiments did.
#[derive(Debug, Default)]
pub struct PauseOutcome {
    /// Paused now.
    pub paused: Vec<PausedExperiment>,
    /// Found paused already.
    pub already_paused: usize,
    /// What could not be listed or paused.
    pub failures: Vec<PauseError>,
}

/// The namespaces to pause in: every namespace, or these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    All,
    Namespaces(Vec<String>),
}

impl Reach {
    /// Where a halt reaches for a client that watches `watch_namespace` (everything when `None`).
    pub fn of(halt: &ChaosHaltSpec, watch_namespace: Option<&str>) -> Reach {
        match (watch_namespace, halt.namespaces.is_empty()) {
            (Some(ns), _) if halt.covers(ns) => Reach::Namespaces(vec![ns.to_string()]),
            (Some(_), _) => Reach::Namespaces(Vec::new()),
            (None, true) => Reach::All,
            (None, false) => Reach::Namespaces(halt.namespaces.clone()),
        }
    }
}

/// The merge patch that pauses: only the annotation, so nothing else of the object is touched.
#[derive(Serialize, Debug)]
struct PausePatch {
    metadata: ObjectMeta,
}

fn is_paused(object: &DynamicObject) -> bool {
    object
        .annotations()
        .get(PAUSE_ANNOTATION)
        .map(String::as_str)
        == Some("true")
}

/// Pauses every Chaos Mesh experiment labelled with a proposal within `reach`, with the rights of
/// `client`. Lists and patches run concurrently: a halt is measured in seconds.
pub async fn pause_proposal_experiments(client: &Client, reach: &Reach) -> PauseOutcome {
    let mut lists = Vec::new();
    for kind in ChaosKind::ALL {
        let resource = chaos_resource(kind);
        let apis: Vec<(String, Api<DynamicObject>)> = match reach {
            Reach::All => vec![(
                "every namespace".into(),
                Api::all_with(client.clone(), &resource),
            )],
            Reach::Namespaces(namespaces) => namespaces
                .iter()
                .map(|ns| {
                    (
                        format!("namespace {ns}"),
                        Api::namespaced_with(client.clone(), ns, &resource),
                    )
                })
                .collect(),
        };
        for (where_, api) in apis {
            lists.push(async move {
                let listed = api
                    .list(&ListParams::default().labels(PROPOSAL_LABEL))
                    .await
                    .map_err(|source| PauseError::List {
                        kind,
                        where_,
                        source,
                    });
                (kind, listed)
            });
        }
    }
    let mut outcome = PauseOutcome::default();
    let mut to_pause = Vec::new();
    for (kind, listed) in futures::future::join_all(lists).await {
        match listed {
            Ok(list) => {
                for object in list.items {
                    if is_paused(&object) {
                        outcome.already_paused += 1;
                    } else if let Some(namespace) = object.namespace() {
                        to_pause.push(PausedExperiment {
                            kind,
                            namespace,
                            name: object.name_any(),
                        });
                    }
                }
            }
            Err(error) => outcome.failures.push(error),
        }
    }
    let paused = pause_all(client, to_pause).await;
    outcome.paused = paused.paused;
    outcome.failures.extend(paused.failures);
    // Workflows carry the proposal label; the chaos objects they create carry Chaos Mesh's.
    let workflows = super::workflow_run::pause_proposal_workflows(client, reach).await;
    outcome.paused.extend(workflows.paused);
    outcome.already_paused += workflows.already_paused;
    outcome.failures.extend(workflows.failures);
    outcome
}

/// Pauses each of `experiments`, concurrently. One that does not exist is skipped: there is
/// nothing to pause.
pub async fn pause_all(client: &Client, experiments: Vec<PausedExperiment>) -> PauseOutcome {
    let results: Vec<Result<PausedExperiment, PauseError>> = futures::stream::iter(experiments)
        .map(|experiment| pause_one(client, experiment))
        .buffer_unordered(PAUSE_CONCURRENCY)
        .collect()
        .await;
    let mut outcome = PauseOutcome::default();
    for result in results {
        match result {
            Ok(paused) => outcome.paused.push(paused),
            Err(PauseError::Pause {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 404 => {}
            Err(error) => outcome.failures.push(error),
        }
    }
    outcome
}

/// The experiments the operator's own proposals say are running within `reach`: paused straight
/// from the cache, before a sweep lists everything else that carries a proposal label. Listing
/// seven kinds costs a round of requests that a halt should not wait for.
pub fn running_experiments(
    proposals: &[Arc<DeserializeGuard<ExperimentProposal>>],
    halt: &ChaosHaltSpec,
) -> Vec<PausedExperiment> {
    proposals
        .iter()
        .filter_map(|guarded| guarded.0.as_ref().ok())
        .filter(|p| {
            p.status.as_ref().and_then(|s| s.phase) == Some(RunPhase::Running)
                && p.namespace().is_some_and(|ns| halt.covers(&ns))
        })
        .filter_map(|p| {
            let kind = ChaosSpec::try_from(p.spec.experiment.clone()).ok()?.kind();
            Some(PausedExperiment {
                kind,
                namespace: p.namespace()?,
                name: p.name_any(),
            })
        })
        .collect()
}

async fn pause_one(
    client: &Client,
    experiment: PausedExperiment,
) -> Result<PausedExperiment, PauseError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &experiment.namespace,
        &chaos_resource(experiment.kind),
    );
    let patch = PausePatch {
        metadata: ObjectMeta {
            annotations: Some([(PAUSE_ANNOTATION.to_string(), "true".to_string())].into()),
            ..ObjectMeta::default()
        },
    };
    match api
        .patch(
            &experiment.name,
            &PatchParams {
                field_manager: Some(PAUSE_FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(experiment),
        Err(source) => Err(PauseError::Pause {
            kind: experiment.kind,
            namespace: experiment.namespace,
            name: experiment.name,
            source,
        }),
    }
}

/// Watches the ChaosHalt singleton until `stop`: keeps [`Context::halt`] current on every replica
/// and, on the leader, pauses what the halt covers and records each halt and resume.
pub async fn watch_halt(
    ctx: Arc<Context>,
    metrics: Arc<HaltMetrics>,
    proposals: Store<DeserializeGuard<ExperimentProposal>>,
    watch_namespace: Option<String>,
    mut leading: watch::Receiver<bool>,
) {
    let api: Api<ChaosHalt> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("metadata.name={HALT_NAME}"));
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    let mut current: Option<ChaosHalt> = None;
    loop {
        tokio::select! {
            event = events.try_next() => match event {
                Ok(Some(watcher::Event::Apply(halt) | watcher::Event::InitApply(halt))) => {
                    current = Some(halt);
                }
                Ok(Some(watcher::Event::Delete(_))) => current = None,
                Ok(Some(watcher::Event::Init)) => continue,
                Ok(Some(watcher::Event::InitDone)) => {}
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%error, "watching the ChaosHalt");
                    continue;
                }
            },
            changed = leading.changed() => if changed.is_err() { return },
        }
        let leader = *leading.borrow_and_update();
        // Pause first, then tell the proposals' reconciles: they would only compete with the
        // pausing for the API server while it matters most.
        let outcome = match (&current, leader) {
            (Some(halt), true) if halt.spec.halted => {
                let known = pause_all(
                    &ctx.client,
                    running_experiments(&proposals.state(), &halt.spec),
                )
                .await;
                let sweep = pause_proposal_experiments(
                    &ctx.client,
                    &Reach::of(&halt.spec, watch_namespace.as_deref()),
                )
                .await;
                PauseOutcome {
                    already_paused: sweep.already_paused.saturating_sub(known.paused.len()),
                    paused: known.paused.into_iter().chain(sweep.paused).collect(),
                    failures: known.failures.into_iter().chain(sweep.failures).collect(),
                }
            }
            _ => PauseOutcome::default(),
        };
        ctx.halt.set(current.as_ref().map(|h| h.spec.clone()));
        metrics
            .halted
            .set(i64::from(current.as_ref().is_some_and(|h| h.spec.halted)));
        if let (true, Some(halt)) = (leader, &current) {
            record(&ctx, &metrics, halt, outcome).await;
        }
    }
}

/// The leader's part after a pass: count what the halt holds, and record a transition once (an
/// Event, the halt's status, metrics).
async fn record(ctx: &Context, metrics: &HaltMetrics, halt: &ChaosHalt, outcome: PauseOutcome) {
    let previous = halt.status.clone().unwrap_or_default();
    let transition = previous.halted != halt.spec.halted
        || (halt.spec.halted && previous.observed_generation != halt.metadata.generation);
    for failure in &outcome.failures {
        tracing::warn!(error = %failure, "a halt could not pause an experiment");
    }
    metrics
        .paused
        .inc_by(u64::try_from(outcome.paused.len()).unwrap_or(u64::MAX));
    // Everything the halt holds now, whoever paused it (the CLI, a proposal's reconcile, or us).
    let holding = i32::try_from(outcome.paused.len().saturating_add(outcome.already_paused))
        .unwrap_or(i32::MAX);
    let holding = if halt.spec.halted { holding } else { 0 };
    if !transition && holding == previous.paused_experiments {
        return;
    }
    let mut status = ChaosHaltStatus {
        halted: halt.spec.halted,
        observed_generation: halt.metadata.generation,
        paused_experiments: holding,
        ..previous.clone()
    };
    if transition {
        let now = Time(Timestamp::now());
        status.since = Some(now.clone());
        record_halt_transition(
            &mut status.history,
            HaltTransition {
                time: now,
                halted: halt.spec.halted,
                reason: halt.spec.reason.clone(),
                changed_by: halt.spec.changed_by.clone(),
            },
        );
        let (to, reason) = if halt.spec.halted {
            ("halted", "Halted")
        } else {
            ("resumed", "Resumed")
        };
        metrics
            .transitions
            .get_or_create(&TransitionLabels { to })
            .inc();
        let note = transition_note(halt, &outcome);
        tracing::info!(reason, note, "kill switch");
        super::publish_event(ctx, halt, "Halt", EventType::Warning, reason, Some(note)).await;
    }
    if let Err(error) = write_halt_status(&ctx.client, &status).await {
        tracing::warn!(%error, "writing the ChaosHalt status");
    }
}

fn transition_note(halt: &ChaosHalt, outcome: &PauseOutcome) -> String {
    let by = halt.spec.changed_by.as_deref().unwrap_or("someone");
    let reason = halt.spec.reason.as_deref().unwrap_or("no reason given");
    if halt.spec.halted {
        format!(
            "chaos halted by {by} ({reason}): {} experiments paused now, {} were paused already, {} could not be paused",
            outcome.paused.len(),
            outcome.already_paused,
            outcome.failures.len()
        )
    } else {
        format!(
            "chaos resumed by {by}: approvals are accepted again; paused experiments stay paused"
        )
    }
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
struct HaltStatusApply<'a> {
    api_version: String,
    kind: &'static str,
    status: &'a ChaosHaltStatus,
}

async fn write_halt_status(client: &Client, status: &ChaosHaltStatus) -> Result<(), kube::Error> {
    let api: Api<ChaosHalt> = Api::all(client.clone());
    let body = HaltStatusApply {
        api_version: ChaosHalt::api_version(&()).into_owned(),
        kind: "ChaosHalt",
        status,
    };
    api.patch_status(
        HALT_NAME,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

/// An approved proposal while a halt covers its namespace: a running experiment is paused and the
/// proposal says so (phase Paused, verdict Inconclusive, a `Paused` timeline entry with the halt's
/// reason); one that has not started does not start. Looked at again while the halt lasts, so that
/// it starts once the halt is lifted.
pub async fn hold(
    proposal: &ExperimentProposal,
    ctx: &Context,
    halt: &ChaosHaltSpec,
    chaos: Option<&DynamicObject>,
    kind: ChaosKind,
    workflow: bool,
) -> Result<Action, Error> {
    let previous = proposal.status.clone().unwrap_or_default();
    let reason = halt.reason.as_deref().unwrap_or("no reason given");
    let running = previous.phase == Some(RunPhase::Running);
    if !running {
        // Not started (or already paused): nothing runs, nothing to write but a word on why.
        return Ok(Action::requeue(ctx.config.check_interval));
    }
    let name = proposal.name_any();
    let into_error = |e: PauseError| Error::ApplyChaos {
        name: name.clone(),
        source: e.into_source(),
    };
    if let (Some(object), Some(namespace)) = (chaos, proposal.namespace()) {
        if workflow {
            // A Workflow's own annotation is not what Chaos Mesh honours: its chaos objects are.
            let outcome =
                super::workflow_run::pause_workflow(&ctx.client, &namespace, &name, kind).await;
            if let Some(failure) = outcome.failures.into_iter().next() {
                return Err(into_error(failure));
            }
        } else if !is_paused(object) {
            pause_one(
                &ctx.client,
                PausedExperiment {
                    kind,
                    namespace,
                    name: name.clone(),
                },
            )
            .await
            .map_err(into_error)?;
        }
    }
    let message = format!("paused by a halt: {reason}");
    // Whole seconds, as the run loop stores times (an unchanged status then compares equal).
    let now =
        Time(Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH));
    let mut status = ExperimentProposalStatus {
        finished_at: Some(now.clone()),
        phase: Some(RunPhase::Paused),
        verdict: Some(Verdict::Inconclusive),
        message: Some(message.clone()),
        observed_generation: proposal.metadata.generation,
        ..previous
    };
    record_run_event(
        &mut status.timeline,
        RunEvent {
            time: now,
            kind: RunEventKind::Paused,
            message: Some(message.clone()),
            samples: Vec::new(),
        },
    );
    super::proposals::write_status(proposal, ctx, &status).await?;
    super::publish_event(
        ctx,
        proposal,
        "Run",
        EventType::Warning,
        "Halted",
        Some(message),
    )
    .await;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halt(namespaces: &[&str]) -> ChaosHaltSpec {
        ChaosHaltSpec {
            halted: true,
            reason: Some("incident".into()),
            namespaces: namespaces.iter().map(|n| (*n).to_string()).collect(),
            changed_by: None,
        }
    }

    #[test]
    fn reach_is_the_halt_within_what_the_operator_watches() {
        assert_eq!(Reach::of(&halt(&[]), None), Reach::All);
        assert_eq!(
            Reach::of(&halt(&["a", "b"]), None),
            Reach::Namespaces(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            Reach::of(&halt(&[]), Some("a")),
            Reach::Namespaces(vec!["a".into()])
        );
        assert_eq!(
            Reach::of(&halt(&["b"]), Some("a")),
            Reach::Namespaces(vec![])
        );
    }

    #[test]
    fn the_switch_says_which_namespaces_are_held() {
        let switch = HaltSwitch::default();
        assert!(switch.covering("a").is_none());
        switch.set(Some(halt(&["a"])));
        assert!(switch.covering("a").is_some());
        assert!(switch.covering("b").is_none());
        switch.set(Some(ChaosHaltSpec {
            halted: false,
            ..halt(&[])
        }));
        assert!(switch.covering("a").is_none());
    }
}
