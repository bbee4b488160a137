//! An approved proposal whose checks Chaos Mesh holds runs as a Chaos Mesh `Workflow` instead of a
//! bare chaos object: same name, namespace, labels and owner, so approval, the halt policy,
//! garbage collection and tenancy apply to it exactly as to a chaos object.
//!
//! Pausing: Chaos Mesh honours `experiment.chaos-mesh.org/pause` on chaos objects (its
//! desired-phase controller recovers a paused one), not on a Workflow, whose nodes only create
//! and delete chaos objects. So a breach or a halt pauses the chaos objects the Workflow's fault
//! node created (labelled `chaos-mesh.org/workflow=<name>` by Chaos Mesh), and marks the Workflow
//! itself with the annotation too, so that taking it off is refused by the halt policy like any
//! other un-pausing.

use std::collections::BTreeSet;

use kube::api::{Api, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt};
use serde::Serialize;

use super::halt::{PAUSE_FIELD_MANAGER, PauseError, PauseOutcome, PausedExperiment, Reach};
use super::proposals::{chaos_manifest, chaos_resource};
use super::{ControllerSettings, Error};
use crate::analysis::check_target::{CheckTargets, holdings};
use crate::api::{
    CheckHolder, CheckHolding, ExperimentProposal, ExperimentProposalStatus, PROPOSAL_LABEL,
    holdings_summary,
};
use crate::chaosmesh::status::ChaosStatus;
use crate::chaosmesh::workflow::{
    HeldHttpCheck, ProbeTiming, WORKFLOW_KIND, WORKFLOW_LABEL, WORKFLOW_PLURAL, WorkflowManifest,
    WorkflowSpec, workflow_spec,
};
use crate::chaosmesh::{self, ChaosKind, ChaosManifest, ChaosSpec, PAUSE_ANNOTATION};

/// What the operator creates for an approved proposal.
#[derive(Clone, Debug, PartialEq)]
pub enum RunObject {
    /// The chaos object alone; the operator holds every check.
    Chaos(ChaosKind),
    /// A Workflow running the fault beside the checks Chaos Mesh holds.
    Workflow(WorkflowSpec),
}

/// The object to apply.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum RunManifest {
    // Both boxed: the manifests differ in size, and the value only lives until it is sent.
    Chaos(Box<ChaosManifest>),
    Workflow(Box<WorkflowManifest>),
}

/// The dynamic API of Chaos Mesh Workflows.
pub fn workflow_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(chaosmesh::GROUP, chaosmesh::VERSION, WORKFLOW_KIND);
    ApiResource::from_gvk_with_plural(&gvk, WORKFLOW_PLURAL)
}

/// Who holds each of the proposal's checks, decided from the approved spec alone.
pub fn holdings_of(
    proposal: &ExperimentProposal,
    settings: &ControllerSettings,
) -> Vec<CheckHolding> {
    let namespace = proposal.namespace().unwrap_or_default();
    match ChaosSpec::try_from(proposal.spec.experiment.clone()) {
        Ok(fault) => holdings(
            &proposal.spec.steady_state,
            proposal.spec.experiment.checks_held_by,
            &CheckTargets::of(&namespace, &fault, &settings.check_targets),
        ),
        // Without a fault there is no run; the operator holds what there is.
        Err(_) => holdings(
            &proposal.spec.steady_state,
            CheckHolder::Operator,
            &CheckTargets {
                namespaces: BTreeSet::from([namespace]),
                settings: &settings.check_targets,
            },
        ),
    }
}

/// `desired` with who holds each check.
pub fn with_holdings(
    proposal: &ExperimentProposal,
    settings: &ControllerSettings,
    desired: &ExperimentProposalStatus,
) -> ExperimentProposalStatus {
    let held_by = holdings_of(proposal, settings);
    ExperimentProposalStatus {
        checks_held_by: holdings_summary(&held_by),
        held_by,
        ..desired.clone()
    }
}

/// Who holds each of the proposal's checks, and what to create for it. `fault` is the experiment
/// as the dead man's switch bounded it, so its duration is every node's deadline.
pub fn plan(
    proposal: &ExperimentProposal,
    fault: &ChaosSpec,
    settings: &ControllerSettings,
) -> (RunObject, Vec<CheckHolding>) {
    let namespace = proposal.namespace().unwrap_or_default();
    let targets = CheckTargets::of(&namespace, fault, &settings.check_targets);
    let held = holdings(
        &proposal.spec.steady_state,
        proposal.spec.experiment.checks_held_by,
        &targets,
    );
    let by_chaos_mesh: Vec<HeldHttpCheck> = proposal
        .spec
        .steady_state
        .iter()
        .zip(&held)
        .filter(|(_, holding)| holding.held_by == CheckHolder::ChaosMesh)
        .filter_map(|(check, _)| check.url.clone())
        .map(|url| HeldHttpCheck { url })
        .collect();
    let timing = ProbeTiming {
        interval_seconds: i32::try_from(settings.check_interval.as_secs().max(1)).unwrap_or(5),
        ..ProbeTiming::default()
    };
    let deadline = fault.duration().unwrap_or("1m");
    let run = workflow_spec(fault, &by_chaos_mesh, deadline, timing)
        .map_or(RunObject::Chaos(fault.kind()), RunObject::Workflow);
    (run, held)
}

impl RunObject {
    /// The dynamic API of the object.
    pub fn resource(&self) -> ApiResource {
        match self {
            RunObject::Chaos(kind) => chaos_resource(*kind),
            RunObject::Workflow(_) => workflow_resource(),
        }
    }

    /// The kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            RunObject::Chaos(kind) => kind.as_str(),
            RunObject::Workflow(_) => WORKFLOW_KIND,
        }
    }

    /// The object for `proposal`: the metadata of [`chaos_manifest`] (name, labels, owner, the
    /// pause annotation when `paused`) on either kind.
    pub fn manifest(
        &self,
        proposal: &ExperimentProposal,
        fault: &ChaosSpec,
        paused: bool,
    ) -> Result<RunManifest, Error> {
        let chaos = chaos_manifest(proposal, fault, paused)?;
        Ok(match self {
            RunObject::Chaos(_) => RunManifest::Chaos(Box::new(chaos)),
            RunObject::Workflow(spec) => {
                RunManifest::Workflow(Box::new(spec.to_manifest(chaos.metadata)))
            }
        })
    }
}

/// The chaos objects a Workflow's fault node created (Chaos Mesh names them `<node>-<random>`).
async fn generated(
    client: &Client,
    namespace: &str,
    workflow: &str,
    kind: ChaosKind,
) -> Result<Vec<DynamicObject>, kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &chaos_resource(kind));
    let selector = format!("{WORKFLOW_LABEL}={workflow}");
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// What Chaos Mesh recorded on the Workflow's chaos object: the newest one's status, the default
/// (nothing recorded) while the node has not created one.
pub async fn fault_status(
    client: &Client,
    namespace: &str,
    workflow: &str,
    kind: ChaosKind,
) -> Result<ChaosStatus, Error> {
    let mut objects = generated(client, namespace, workflow, kind)
        .await
        .map_err(|source| Error::ReadChaos {
            name: workflow.to_string(),
            source,
        })?;
    objects.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
    });
    Ok(objects
        .last()
        .map(|object| {
            super::injection::chaos_status(object).unwrap_or_else(|error| {
                tracing::warn!(%error, "the Chaos Mesh status is not in the expected shape; read as empty");
                ChaosStatus::default()
            })
        })
        .unwrap_or_default())
}

/// The merge patch that marks an object paused: only the annotation.
#[derive(Serialize, Debug)]
struct PausePatch {
    metadata: ObjectMeta,
}

/// Marks the Workflow paused, then pauses the chaos objects its fault node created.
pub async fn pause_workflow(
    client: &Client,
    namespace: &str,
    name: &str,
    kind: ChaosKind,
) -> PauseOutcome {
    let mut outcome = PauseOutcome::default();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &workflow_resource());
    let patch = PausePatch {
        metadata: ObjectMeta {
            annotations: Some([(PAUSE_ANNOTATION.to_string(), "true".to_string())].into()),
            ..ObjectMeta::default()
        },
    };
    let params = PatchParams {
        field_manager: Some(PAUSE_FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    match api.patch(name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return outcome,
        Err(source) => outcome.failures.push(PauseError::PauseWorkflow {
            namespace: namespace.to_string(),
            name: name.to_string(),
            source,
        }),
    }
    match generated(client, namespace, name, kind).await {
        Ok(objects) => {
            let (already, to_pause): (Vec<_>, Vec<_>) = objects.iter().partition(|o| {
                o.annotations().get(PAUSE_ANNOTATION).map(String::as_str) == Some("true")
            });
            outcome.already_paused += already.len();
            let to_pause = to_pause
                .into_iter()
                .map(|o| PausedExperiment {
                    kind,
                    namespace: namespace.to_string(),
                    name: o.name_any(),
                })
                .collect();
            let paused = super::halt::pause_all(client, to_pause).await;
            outcome.paused.extend(paused.paused);
            outcome.failures.extend(paused.failures);
        }
        Err(source) => outcome.failures.push(PauseError::List {
            kind,
            where_: format!("namespace {namespace}, Workflow {name}"),
            source,
        }),
    }
    outcome
}

/// The halt's sweep over Workflows: every Workflow created from a proposal within `reach` is
/// marked paused and the chaos objects it created are paused, with the rights of `client` (the
/// operator's, or the halting user's).
pub async fn pause_proposal_workflows(client: &Client, reach: &Reach) -> PauseOutcome {
    let apis: Vec<(String, Api<DynamicObject>)> = match reach {
        Reach::All => vec![(
            "every namespace".into(),
            Api::all_with(client.clone(), &workflow_resource()),
        )],
        Reach::Namespaces(namespaces) => namespaces
            .iter()
            .map(|ns| {
                (
                    format!("namespace {ns}"),
                    Api::namespaced_with(client.clone(), ns, &workflow_resource()),
                )
            })
            .collect(),
    };
    let mut outcome = PauseOutcome::default();
    let mut workflows = BTreeSet::new();
    for (where_, api) in apis {
        match api
            .list(&ListParams::default().labels(PROPOSAL_LABEL))
            .await
        {
            Ok(list) => {
                for workflow in list.items {
                    if let (Some(namespace), Some(kind)) =
                        (workflow.namespace(), fault_kind(&workflow))
                    {
                        workflows.insert((namespace, workflow.name_any(), kind));
                    }
                }
            }
            // Without Chaos Mesh's Workflow CRD there is nothing to pause.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => outcome
                .failures
                .push(PauseError::ListWorkflows { where_, source }),
        }
    }
    let passes = workflows
        .iter()
        .map(|(namespace, name, kind)| pause_workflow(client, namespace, name, *kind));
    for pass in futures::future::join_all(passes).await {
        outcome.paused.extend(pass.paused);
        outcome.already_paused += pass.already_paused;
        outcome.failures.extend(pass.failures);
    }
    outcome
}

/// The chaos kind of a Workflow's fault node, read from the object as stored.
fn fault_kind(workflow: &DynamicObject) -> Option<ChaosKind> {
    let spec: WorkflowSpec = serde_json::from_value(workflow.data.get("spec")?.clone()).ok()?;
    spec.templates
        .iter()
        .find_map(|t| t.chaos.as_ref())
        .map(|chaos| chaos.kind())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::analysis::check_target::CheckTargetSettings;
    use crate::api::{
        Approval, BlastRadius, CheckKind, ExperimentProposalSpec, ProposalHypothesis,
        SteadyStateCheck,
    };
    use crate::chaosmesh::{PodChaosAction, PodChaosSpec, PodSelector, SelectorMode};

    fn proposal(held_by: CheckHolder, url: &str) -> (ExperimentProposal, ChaosSpec) {
        let fault = ChaosSpec::PodChaos(PodChaosSpec {
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
        let mut experiment: crate::api::ExperimentTemplate = fault.clone().into();
        experiment.checks_held_by = held_by;
        let mut p = ExperimentProposal::new(
            "kill-web",
            ExperimentProposalSpec {
                analysis_ref: "shop".into(),
                target: "shop/Deployment/web".into(),
                hypothesis: ProposalHypothesis {
                    id: "h1".into(),
                    statement: "web survives".into(),
                },
                steady_state: vec![
                    SteadyStateCheck {
                        name: "front".into(),
                        kind: CheckKind::Http,
                        subject: None,
                        url: Some(url.into()),
                        query: None,
                        min_value: 1,
                        max_value: None,
                    },
                    SteadyStateCheck {
                        name: "web".into(),
                        kind: CheckKind::AvailableReplicas,
                        subject: Some("shop/Deployment/web".into()),
                        url: None,
                        query: None,
                        min_value: 1,
                        max_value: None,
                    },
                ],
                blast_radius: BlastRadius::default(),
                experiment,
                approval: Approval::default(),
            },
        );
        p.metadata.namespace = Some("shop".into());
        p.metadata.uid = Some("uid-1".into());
        (p, fault)
    }

    #[test]
    fn by_default_the_operator_holds_everything_and_a_bare_chaos_object_runs() {
        let (p, fault) = proposal(CheckHolder::Operator, "http://frontend.shop.svc/");
        let (run, held) = plan(&p, &fault, &ControllerSettings::default());
        assert_eq!(run, RunObject::Chaos(ChaosKind::PodChaos));
        assert!(held.iter().all(|h| h.held_by == CheckHolder::Operator));
    }

    #[test]
    fn asked_for_chaos_mesh_the_http_check_goes_into_a_workflow() {
        let (p, fault) = proposal(CheckHolder::ChaosMesh, "http://frontend.shop.svc/");
        let (run, held) = plan(&p, &fault, &ControllerSettings::default());
        assert_eq!(held[0].held_by, CheckHolder::ChaosMesh);
        assert_eq!(held[1].held_by, CheckHolder::Operator);
        let RunObject::Workflow(spec) = &run else {
            panic!("{run:?}")
        };
        assert_eq!(spec.templates.len(), 3);
        let manifest = run.manifest(&p, &fault, false).unwrap();
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(json["kind"], "Workflow");
        assert_eq!(json["metadata"]["name"], "kill-web");
        assert_eq!(json["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(json["metadata"]["labels"][PROPOSAL_LABEL], "kill-web");
        assert_eq!(json["spec"]["templates"][1]["deadline"], "30s");
    }

    #[test]
    fn a_refused_url_stays_with_the_operator_and_makes_no_workflow() {
        let (p, fault) = proposal(CheckHolder::ChaosMesh, "http://169.254.169.254/");
        let (run, held) = plan(&p, &fault, &ControllerSettings::default());
        assert_eq!(run, RunObject::Chaos(ChaosKind::PodChaos));
        assert_eq!(held[0].held_by, CheckHolder::Operator);
        // Loopback only with the operator's explicit setting.
        let settings = ControllerSettings {
            check_targets: CheckTargetSettings {
                allow_loopback: true,
                ..CheckTargetSettings::default()
            },
            ..ControllerSettings::default()
        };
        let (p, fault) = proposal(CheckHolder::ChaosMesh, "http://127.0.0.1:9/");
        assert!(matches!(
            plan(&p, &fault, &settings).0,
            RunObject::Workflow(_)
        ));
    }
}
