//! A Chaos Mesh `Workflow` that carries a proposal's HTTP steady-state checks next to its fault,
//! so that Chaos Mesh itself stops the fault when a check fails, even while the operator is down.
//!
//! The shape (as of Chaos Mesh 2.8, `../shared/chaos-mesh/crd.yaml`): an entry node of type
//! `Parallel` whose children are the fault (a chaos node, e.g. `templateType: PodChaos` with a
//! `podChaos:` spec) and one `StatusCheck` node per check. A status check node with
//! `abortWithStatusCheck: true` aborts the whole workflow once `failureThreshold` probes in a row
//! fail; Chaos Mesh then deletes the chaos objects of the aborted nodes, which recovers the fault.
//! Every node has a `deadline` no longer than the experiment's bounded duration (the dead man's
//! switch applies to the Workflow as to a bare experiment).
//!
//! Pure: types and a builder, no I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::{
    ChaosSpec, DnsChaosSpec, GROUP, HttpChaosSpec, IoChaosSpec, NetworkChaosSpec, PodChaosSpec,
    StressChaosSpec, TimeChaosSpec, VERSION,
};

/// The kind of the object.
pub const WORKFLOW_KIND: &str = "Workflow";
/// Its plural, for dynamic API access.
pub const WORKFLOW_PLURAL: &str = "workflows";
/// The label Chaos Mesh puts on the chaos objects a Workflow's nodes create, naming the Workflow
/// (`v1alpha1.LabelWorkflow`). A halt and a breach pause those objects through it.
pub const WORKFLOW_LABEL: &str = "chaos-mesh.org/workflow";
/// Name of the entry node's template.
pub const ENTRY_TEMPLATE: &str = "entry";
/// Name of the fault's template.
pub const FAULT_TEMPLATE: &str = "fault";
/// The statuses a held check accepts: 2xx and 3xx, as the operator's own probe does.
pub const HEALTHY_STATUS_CODES: &str = "200-399";

/// What a node of a Workflow does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateType {
    /// Runs its children at the same time.
    Parallel,
    /// Probes something and records the results.
    StatusCheck,
    PodChaos,
    NetworkChaos,
    StressChaos,
    IOChaos,
    DNSChaos,
    HTTPChaos,
    TimeChaos,
}

/// The fault of a chaos node: exactly one field, named after its kind.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum EmbeddedChaos {
    #[serde(rename = "podChaos")]
    PodChaos(PodChaosSpec),
    #[serde(rename = "networkChaos")]
    NetworkChaos(NetworkChaosSpec),
    #[serde(rename = "stressChaos")]
    StressChaos(StressChaosSpec),
    #[serde(rename = "ioChaos")]
    IOChaos(IoChaosSpec),
    #[serde(rename = "dnsChaos")]
    DNSChaos(DnsChaosSpec),
    #[serde(rename = "httpChaos")]
    HTTPChaos(HttpChaosSpec),
    #[serde(rename = "timeChaos")]
    TimeChaos(TimeChaosSpec),
}

impl EmbeddedChaos {
    /// The fault's kind.
    pub fn kind(&self) -> super::ChaosKind {
        use super::ChaosKind;
        match self {
            EmbeddedChaos::PodChaos(_) => ChaosKind::PodChaos,
            EmbeddedChaos::NetworkChaos(_) => ChaosKind::NetworkChaos,
            EmbeddedChaos::StressChaos(_) => ChaosKind::StressChaos,
            EmbeddedChaos::IOChaos(_) => ChaosKind::IOChaos,
            EmbeddedChaos::DNSChaos(_) => ChaosKind::DNSChaos,
            EmbeddedChaos::HTTPChaos(_) => ChaosKind::HTTPChaos,
            EmbeddedChaos::TimeChaos(_) => ChaosKind::TimeChaos,
        }
    }

    /// The fault of `spec` and the node type that runs it.
    pub fn of(spec: &ChaosSpec) -> (TemplateType, EmbeddedChaos) {
        match spec.clone() {
            ChaosSpec::PodChaos(s) => (TemplateType::PodChaos, EmbeddedChaos::PodChaos(s)),
            ChaosSpec::NetworkChaos(s) => {
                (TemplateType::NetworkChaos, EmbeddedChaos::NetworkChaos(s))
            }
            ChaosSpec::StressChaos(s) => (TemplateType::StressChaos, EmbeddedChaos::StressChaos(s)),
            ChaosSpec::IOChaos(s) => (TemplateType::IOChaos, EmbeddedChaos::IOChaos(s)),
            ChaosSpec::DNSChaos(s) => (TemplateType::DNSChaos, EmbeddedChaos::DNSChaos(s)),
            ChaosSpec::HTTPChaos(s) => (TemplateType::HTTPChaos, EmbeddedChaos::HTTPChaos(s)),
            ChaosSpec::TimeChaos(s) => (TemplateType::TimeChaos, EmbeddedChaos::TimeChaos(s)),
        }
    }
}

/// How a status check runs: `Continuous` probes until its deadline.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCheckMode {
    Synchronous,
    Continuous,
}

/// The only status check type Chaos Mesh has.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCheckType {
    #[serde(rename = "HTTP")]
    Http,
}

/// The HTTP method of a probe.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
}

/// When a probe counts as a success.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpCriteria {
    /// One status code or an inclusive range, e.g. `200-399`.
    pub status_code: String,
}

/// An HTTP probe.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HttpStatusCheck {
    pub url: String,
    pub method: HttpMethod,
    pub criteria: HttpCriteria,
}

/// A status check node's probe and its thresholds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusCheckSpec {
    pub mode: StatusCheckMode,
    #[serde(rename = "type")]
    pub type_: StatusCheckType,
    pub http: HttpStatusCheck,
    /// Consecutive failures that fail the check.
    pub failure_threshold: i32,
    /// Seconds between probes.
    pub interval_seconds: i32,
    /// Seconds one probe may take.
    pub timeout_seconds: i32,
}

/// One node template of a Workflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTemplate {
    pub name: String,
    pub template_type: TemplateType,
    /// How long the node may run (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Children of a Parallel node, by template name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    /// The probe of a StatusCheck node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_check: Option<StatusCheckSpec>,
    /// Whether a failed status check aborts the whole workflow (StatusCheck nodes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_with_status_check: Option<bool>,
    /// The fault of a chaos node, as `podChaos:` etc.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<EmbeddedChaos>,
}

/// What a Workflow runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    /// The template the run starts with.
    pub entry: String,
    pub templates: Vec<WorkflowTemplate>,
}

/// A whole Workflow object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowManifest {
    /// Always `chaos-mesh.org/v1alpha1`.
    pub api_version: String,
    /// Always `Workflow`.
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: WorkflowSpec,
}

impl WorkflowSpec {
    /// The complete object, ready to apply.
    pub fn to_manifest(&self, metadata: ObjectMeta) -> WorkflowManifest {
        WorkflowManifest {
            api_version: format!("{GROUP}/{VERSION}"),
            kind: WORKFLOW_KIND.into(),
            metadata,
            spec: self.clone(),
        }
    }
}

/// A check Chaos Mesh holds: an HTTP GET of `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldHttpCheck {
    pub url: String,
}

/// How often and how patiently Chaos Mesh probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    /// Failures in a row that abort the workflow.
    pub failure_threshold: i32,
}

impl Default for ProbeTiming {
    /// Every 5 s, 5 s per probe (the operator's own probe timeout), and the first failure aborts,
    /// as the first broken sample pauses a run the operator holds.
    fn default() -> Self {
        ProbeTiming {
            interval_seconds: 5,
            timeout_seconds: 5,
            failure_threshold: 1,
        }
    }
}

/// The template name of the `index`th held check (check names are free text; node names are not).
pub fn check_template(index: usize) -> String {
    format!("check-{index}")
}

/// The Workflow for a fault whose duration is already bounded (`deadline`, a Go duration) and the
/// checks Chaos Mesh holds, in order. `None` when there is no check to hold: then the fault runs
/// as a bare chaos object.
pub fn workflow_spec(
    fault: &ChaosSpec,
    checks: &[HeldHttpCheck],
    deadline: &str,
    timing: ProbeTiming,
) -> Option<WorkflowSpec> {
    if checks.is_empty() {
        return None;
    }
    let (fault_type, embedded) = EmbeddedChaos::of(fault);
    let check_names: Vec<String> = (0..checks.len()).map(check_template).collect();
    let mut templates = vec![WorkflowTemplate {
        name: ENTRY_TEMPLATE.into(),
        template_type: TemplateType::Parallel,
        deadline: Some(deadline.into()),
        children: std::iter::once(FAULT_TEMPLATE.to_string())
            .chain(check_names.iter().cloned())
            .collect(),
        status_check: None,
        abort_with_status_check: None,
        chaos: None,
    }];
    templates.push(WorkflowTemplate {
        name: FAULT_TEMPLATE.into(),
        template_type: fault_type,
        deadline: Some(deadline.into()),
        children: Vec::new(),
        status_check: None,
        abort_with_status_check: None,
        chaos: Some(embedded),
    });
    for (name, check) in check_names.into_iter().zip(checks) {
        templates.push(WorkflowTemplate {
            name,
            template_type: TemplateType::StatusCheck,
            deadline: Some(deadline.into()),
            children: Vec::new(),
            status_check: Some(StatusCheckSpec {
                mode: StatusCheckMode::Continuous,
                type_: StatusCheckType::Http,
                http: HttpStatusCheck {
                    url: check.url.clone(),
                    method: HttpMethod::Get,
                    criteria: HttpCriteria {
                        status_code: HEALTHY_STATUS_CODES.into(),
                    },
                },
                failure_threshold: timing.failure_threshold,
                interval_seconds: timing.interval_seconds,
                timeout_seconds: timing.timeout_seconds,
            }),
            abort_with_status_check: Some(true),
            chaos: None,
        });
    }
    Some(WorkflowSpec {
        entry: ENTRY_TEMPLATE.into(),
        templates,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::chaosmesh::{PodChaosAction, PodSelector, SelectorMode};

    fn pod_kill() -> ChaosSpec {
        ChaosSpec::PodChaos(PodChaosSpec {
            action: PodChaosAction::PodKill,
            selector: PodSelector {
                namespaces: vec!["shop".into()],
                label_selectors: BTreeMap::from([("app".into(), "web".into())]),
            },
            mode: SelectorMode::One,
            value: None,
            duration: Some("30s".into()),
            container_names: vec![],
        })
    }

    fn front() -> HeldHttpCheck {
        HeldHttpCheck {
            url: "http://frontend.shop.svc:80/".into(),
        }
    }

    #[test]
    fn no_held_check_means_no_workflow() {
        assert_eq!(
            workflow_spec(&pod_kill(), &[], "30s", ProbeTiming::default()),
            None
        );
    }

    #[test]
    fn the_fault_and_each_check_run_in_parallel_and_a_failed_check_aborts() {
        let spec = workflow_spec(&pod_kill(), &[front()], "30s", ProbeTiming::default()).unwrap();
        assert_eq!(spec.entry, ENTRY_TEMPLATE);
        let entry = &spec.templates[0];
        assert_eq!(entry.template_type, TemplateType::Parallel);
        assert_eq!(entry.children, vec!["fault", "check-0"]);
        let fault = &spec.templates[1];
        assert_eq!(fault.template_type, TemplateType::PodChaos);
        assert!(matches!(fault.chaos, Some(EmbeddedChaos::PodChaos(_))));
        let check = &spec.templates[2];
        assert_eq!(check.template_type, TemplateType::StatusCheck);
        assert_eq!(check.abort_with_status_check, Some(true));
        let probe = check.status_check.as_ref().unwrap();
        assert_eq!(probe.http.url, "http://frontend.shop.svc:80/");
        assert_eq!(probe.failure_threshold, 1);
        // Every node ends by Chaos Mesh's clock.
        assert!(
            spec.templates
                .iter()
                .all(|t| t.deadline.as_deref() == Some("30s"))
        );
    }

    #[test]
    fn it_serialises_as_chaos_meshs_example_does() {
        let spec = workflow_spec(&pod_kill(), &[front()], "30s", ProbeTiming::default()).unwrap();
        let manifest = spec.to_manifest(ObjectMeta {
            name: Some("kill-web".into()),
            ..ObjectMeta::default()
        });
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(json["apiVersion"], "chaos-mesh.org/v1alpha1");
        assert_eq!(json["kind"], "Workflow");
        let templates = json["spec"]["templates"].as_array().unwrap();
        assert_eq!(templates[1]["templateType"], "PodChaos");
        assert_eq!(templates[1]["podChaos"]["action"], "pod-kill");
        assert!(templates[1].get("kind").is_none());
        assert_eq!(templates[2]["statusCheck"]["type"], "HTTP");
        assert_eq!(templates[2]["statusCheck"]["mode"], "Continuous");
        assert_eq!(templates[2]["statusCheck"]["http"]["method"], "GET");
        assert_eq!(
            templates[2]["statusCheck"]["http"]["criteria"]["statusCode"],
            "200-399"
        );
        assert_eq!(templates[2]["abortWithStatusCheck"], true);
        let back: WorkflowManifest = serde_json::from_value(json).unwrap();
        assert_eq!(back, manifest);
    }

    #[test]
    fn every_kind_gets_its_own_field_name() {
        use crate::chaosmesh::{IoChaosAction, IoChaosSpec};
        let io = ChaosSpec::IOChaos(IoChaosSpec {
            action: IoChaosAction::Latency,
            selector: PodSelector::default(),
            mode: SelectorMode::One,
            value: None,
            volume_path: "/data".into(),
            path: None,
            delay: Some("10ms".into()),
            errno: None,
            percent: None,
            duration: None,
        });
        let spec = workflow_spec(&io, &[front()], "1m", ProbeTiming::default()).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["templates"][1]["templateType"], "IOChaos");
        assert_eq!(json["templates"][1]["ioChaos"]["volumePath"], "/data");
    }
}
