//! The kill switch: one cluster-scoped `ChaosHalt` object that GitOps can hold, and the admission
//! policy that takes it as its parameter.
//!
//! Chaos Mesh has no global kill switch (chaos-mesh#2423, #4291). While the halt is set:
//! - the operator pauses every running experiment created from a proposal (`controller::halt`),
//!   and `smart-chaos halt` does the same with the caller's own rights, so a halt works while the
//!   operator is down;
//! - the `smart-chaos-halt` ValidatingAdmissionPolicy refuses every new Chaos Mesh experiment,
//!   schedule or workflow, taking the pause off one, and every approval. The API server enforces
//!   it, whoever asks and whether or not the operator runs.
//!
//! Resuming is explicit (`halted: false`): approvals are accepted again, but nothing paused is
//! restarted by it.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ParamKind, ParamRef,
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingAdmissionPolicyBindingSpec, ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{GROUP, VERSION};
use crate::chaosmesh::PAUSE_ANNOTATION;

/// The one ChaosHalt the operator, the CLI and the admission policy read.
pub const HALT_NAME: &str = "smart-chaos";
/// Name of the halt admission policy and its binding.
pub const HALT_POLICY_NAME: &str = "smart-chaos-halt";
/// The most transitions a halt's status keeps, newest last.
pub const MAX_HALT_HISTORY: usize = 20;

/// The kill switch for every experiment smart-chaos runs.
///
/// Only the object named `smart-chaos` counts. While `spec.halted` is true, running experiments
/// created from proposals are paused, and the API server refuses new Chaos Mesh experiments and
/// approvals. Setting it back to false resumes approvals; paused experiments stay paused.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "chaos.smartchaos.io",
    version = "v1alpha1",
    kind = "ChaosHalt",
    plural = "chaoshalts",
    status = "ChaosHaltStatus",
    shortname = "halt",
    category = "smartchaos",
    printcolumn = r#"{"name":"Halted","type":"boolean","jsonPath":".spec.halted"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".spec.reason"}"#,
    printcolumn = r#"{"name":"Paused","type":"integer","jsonPath":".status.pausedExperiments"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.halted || (has(self.reason) && size(self.reason) > 0)").message("a halt needs a reason, so that whoever resumes knows what they are undoing").field_path(".reason"))]
pub struct ChaosHaltSpec {
    /// True stops chaos: running experiments are paused, new ones and approvals are refused.
    pub halted: bool,
    /// Why, in the words of whoever set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// The namespaces the halt covers; empty means every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub namespaces: Vec<String>,
    /// Who set the current state, as `smart-chaos halt|resume` found them (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub changed_by: Option<String>,
}

impl ChaosHaltSpec {
    /// Whether the halt covers `namespace`.
    pub fn covers(&self, namespace: &str) -> bool {
        self.halted
            && (self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace))
    }
}

/// What the operator last did about the halt.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChaosHaltStatus {
    /// The state the operator last acted on.
    #[serde(default)]
    pub halted: bool,
    /// When that state began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
    /// Experiments paused by the operator for the current halt.
    #[serde(default)]
    pub paused_experiments: i32,
    /// The generation of the spec acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The latest halts and resumes, newest last.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub history: Vec<HaltTransition>,
}

/// One halt or resume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HaltTransition {
    /// When the operator saw it.
    pub time: Time,
    /// True for a halt, false for a resume.
    pub halted: bool,
    /// The reason given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// Who set it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub changed_by: Option<String>,
}

/// Appends to a bounded history, dropping the oldest entries.
pub fn record_halt_transition(history: &mut Vec<HaltTransition>, transition: HaltTransition) {
    history.push(transition);
    let excess = history.len().saturating_sub(MAX_HALT_HISTORY);
    history.drain(..excess);
}

/// The Chaos Mesh kinds that inject faults, or make something that does: none may be created
/// while halted. The per-pod kinds Chaos Mesh's controller keeps for itself (podnetworkchaos, ...)
/// are left alone, so that recovering a paused experiment is never refused.
pub const HALTED_CHAOS_RESOURCES: [&str; 16] = [
    "podchaos",
    "networkchaos",
    "stresschaos",
    "iochaos",
    "dnschaos",
    "httpchaos",
    "timechaos",
    "jvmchaos",
    "kernelchaos",
    "blockchaos",
    "awschaos",
    "azurechaos",
    "gcpchaos",
    "physicalmachinechaos",
    "schedules",
    "workflows",
];

/// Requests the halt may refuse: creating chaos, taking the pause off chaos, approving a proposal.
fn halt_match_condition() -> MatchCondition {
    let paused = |object: &str| {
        format!(
            "(has({object}.metadata.annotations) && '{PAUSE_ANNOTATION}' in {object}.metadata.annotations && {object}.metadata.annotations['{PAUSE_ANNOTATION}'] == 'true')"
        )
    };
    let chaos = format!(
        "request.resource.group == '{}' && (request.operation == 'CREATE' || ({} && !{}))",
        crate::chaosmesh::GROUP,
        paused("oldObject"),
        paused("object")
    );
    let approval = format!(
        "request.resource.group == '{GROUP}' && has(object.spec.approval) && object.spec.approval.state == 'Approved' && (request.operation == 'CREATE' || !has(oldObject.spec.approval) || oldObject.spec.approval.state != 'Approved')"
    );
    MatchCondition {
        name: "starts-chaos".into(),
        expression: format!("({chaos}) || ({approval})"),
    }
}

/// The ValidatingAdmissionPolicy whose parameter is the ChaosHalt; the same for every
/// installation.
pub fn halt_policy() -> ValidatingAdmissionPolicy {
    let rule = |group: &str, resources: Vec<String>| NamedRuleWithOperations {
        api_groups: Some(vec![group.into()]),
        api_versions: Some(vec!["*".into()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
        // Not the status subresources: Chaos Mesh records its progress there.
        resources: Some(resources),
        ..NamedRuleWithOperations::default()
    };
    let chaos_resources = HALTED_CHAOS_RESOURCES.iter().map(|r| (*r).into()).collect();
    ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(HALT_POLICY_NAME.into()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            param_kind: Some(ParamKind {
                api_version: Some(format!("{GROUP}/{VERSION}")),
                kind: Some("ChaosHalt".into()),
            }),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![
                    rule(crate::chaosmesh::GROUP, chaos_resources),
                    rule(GROUP, vec!["experimentproposals".into()]),
                ]),
                ..MatchResources::default()
            }),
            match_conditions: Some(vec![halt_match_condition()]),
            variables: Some(vec![Variable {
                name: "halted".into(),
                expression: "params.spec.halted && (!has(params.spec.namespaces) || size(params.spec.namespaces) == 0 || object.metadata.namespace in params.spec.namespaces)".into(),
            }]),
            validations: Some(vec![Validation {
                expression: "!variables.halted".into(),
                message: None,
                message_expression: Some(
                    "'chaos is halted (ChaosHalt smart-chaos: ' + (has(params.spec.reason) ? params.spec.reason : 'no reason given') + '): no new experiment, no un-pausing and no approval until `smart-chaos resume`'".into(),
                ),
                reason: Some("Forbidden".into()),
            }]),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        status: None,
    }
}

/// The binding to the singleton. A missing ChaosHalt means "not halted", so the binding allows
/// then; the policy itself fails closed when the halt cannot be evaluated.
pub fn halt_policy_binding() -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(HALT_POLICY_NAME.into()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(HALT_POLICY_NAME.into()),
            param_ref: Some(ParamRef {
                name: Some(HALT_NAME.into()),
                namespace: None,
                parameter_not_found_action: Some("Allow".into()),
                selector: None,
            }),
            validation_actions: Some(vec!["Deny".into()]),
            match_resources: None,
        }),
    }
}

fn part_of_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/part-of".into(), "smart-chaos".into())])
}

/// The policy and its binding (which names no namespace), as `smart-chaos crds --halt-only`
/// prints them and `crds/halt-policy.yaml` holds.
pub fn halt_policy_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::from("---\n");
    out.push_str(&serde_yaml::to_string(&halt_policy())?);
    out.push_str("---\n");
    out.push_str(&serde_yaml::to_string(&halt_policy_binding())?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_halt_covers_its_namespaces_or_all() {
        let mut spec = ChaosHaltSpec {
            halted: true,
            reason: Some("incident".into()),
            ..ChaosHaltSpec::default()
        };
        assert!(spec.covers("shop"));
        spec.namespaces = vec!["pay".into()];
        assert!(!spec.covers("shop"));
        assert!(spec.covers("pay"));
        spec.halted = false;
        assert!(!spec.covers("pay"));
    }

    #[test]
    fn history_keeps_the_newest() {
        let mut history = Vec::new();
        for second in 0..30 {
            record_halt_transition(
                &mut history,
                HaltTransition {
                    time: Time(jiff::Timestamp::from_second(second).unwrap()),
                    halted: second % 2 == 0,
                    reason: None,
                    changed_by: None,
                },
            );
        }
        assert_eq!(history.len(), MAX_HALT_HISTORY);
        assert_eq!(history[0].time.0.as_second(), 10);
        assert_eq!(history[MAX_HALT_HISTORY - 1].time.0.as_second(), 29);
    }

    #[test]
    fn the_policy_takes_the_singleton_as_parameter_and_allows_without_it() {
        let policy = halt_policy().spec.unwrap();
        assert_eq!(
            policy.param_kind.unwrap().kind.as_deref(),
            Some("ChaosHalt")
        );
        let rules = policy.match_constraints.unwrap().resource_rules.unwrap();
        let chaos = rules[0].resources.as_ref().unwrap();
        assert!(chaos.iter().any(|r| r == "podchaos"));
        assert!(
            chaos.iter().all(|r| !r.contains('/')),
            "no status subresources"
        );
        assert!(
            !chaos
                .iter()
                .any(|r| r.starts_with("pod") && r != "podchaos")
        );
        let binding = halt_policy_binding().spec.unwrap().param_ref.unwrap();
        assert_eq!(binding.name.as_deref(), Some(HALT_NAME));
        assert_eq!(binding.parameter_not_found_action.as_deref(), Some("Allow"));
        let yaml = halt_policy_yaml().unwrap();
        assert_eq!(yaml.matches("---\n").count(), 2);
    }
}
