//! The admission policy that makes approval something the API server enforces, not a convention.
//!
//! A `ValidatingAdmissionPolicy` on ExperimentProposal creates and updates: whenever the decision
//! (`spec.approval`) is set to Approved or Rejected, or changed once it is, the requesting user
//! must hold the custom RBAC verb `approve` on experimentproposals in the proposal's namespace,
//! `approvedBy` must be that very user, and the operator's own service account is refused
//! outright. The operator's identity is a parameter (a ConfigMap the binding points to), so the
//! policy itself is the same for every installation and only the binding and its parameter name
//! the namespace the operator runs in.
//!
//! The CRD's own CEL rules (see [`super::ExperimentProposalSpec`]) keep an Approved experiment
//! immutable and the decision final; this policy decides *who* may decide.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ParamKind, ParamRef,
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingAdmissionPolicyBindingSpec, ValidatingAdmissionPolicySpec, Validation,
};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::{GROUP, VERSION};

/// Name of the policy, its binding and its parameter ConfigMap.
pub const APPROVAL_POLICY_NAME: &str = "smart-chaos-approval";
/// The custom RBAC verb that allows deciding on a proposal.
pub const APPROVE_VERB: &str = "approve";
/// Key in the parameter ConfigMap holding the operator's username.
pub const OPERATOR_USERNAME_KEY: &str = "operatorUsername";
/// Namespace the operator runs in unless told otherwise.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "smart-chaos-system";
/// The operator's ServiceAccount unless told otherwise.
pub const DEFAULT_OPERATOR_SERVICE_ACCOUNT: &str = "smart-chaos";

/// The service account the operator runs as; it may never decide on a proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorIdentity {
    /// Namespace of the ServiceAccount (and of the policy's parameter ConfigMap).
    pub namespace: String,
    /// Name of the ServiceAccount.
    pub service_account: String,
}

impl Default for OperatorIdentity {
    fn default() -> Self {
        OperatorIdentity {
            namespace: DEFAULT_OPERATOR_NAMESPACE.into(),
            service_account: DEFAULT_OPERATOR_SERVICE_ACCOUNT.into(),
        }
    }
}

impl OperatorIdentity {
    /// The username the API server gives this service account's tokens.
    pub fn username(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
}

/// Matches requests that set or change a decision: a create with a non-Pending state, or an
/// update whose approval differs from before and is not Pending. Everything else (the operator
/// writing proposals, status updates, labels) is not this policy's business.
const DECISION_CHANGES: &str = "has(object.spec.approval) && object.spec.approval.state != 'Pending' && (request.operation == 'CREATE' || !has(oldObject.spec.approval) || object.spec.approval != oldObject.spec.approval)";

/// The requesting user may `approve` experimentproposals in the proposal's namespace.
const MAY_APPROVE: &str = "authorizer.group('chaos.smartchaos.io').resource('experimentproposals').namespace(object.metadata.namespace).check('approve').allowed()";
const MAY_APPROVE_MESSAGE: &str = "'user ' + request.userInfo.username + ' may not decide on ExperimentProposals in namespace ' + object.metadata.namespace + ': deciding (Approved or Rejected) needs the RBAC verb \"approve\" on experimentproposals.chaos.smartchaos.io there; ask for a binding to the smart-chaos-approver ClusterRole'";

/// `approvedBy` names the requesting user.
const DECIDER_IS_REQUESTER: &str = "has(object.spec.approval.approvedBy) && object.spec.approval.approvedBy == request.userInfo.username";
const DECIDER_IS_REQUESTER_MESSAGE: &str = "'spec.approval.approvedBy must be the requesting user ' + request.userInfo.username + (has(object.spec.approval.approvedBy) ? ', not ' + object.spec.approval.approvedBy : '') + '; `smart-chaos approve NS/NAME` sets it for you'";

/// The operator's service account is refused, whatever RBAC grants it. Fails closed when the
/// parameter lacks the operator's username.
const NOT_THE_OPERATOR: &str = "has(params.data) && 'operatorUsername' in params.data && request.userInfo.username != params.data.operatorUsername";
const NOT_THE_OPERATOR_MESSAGE: &str = "!has(params.data) || !('operatorUsername' in params.data) ? 'the approval policy parameter (ConfigMap smart-chaos-approval) lacks data.operatorUsername, so no decision is accepted; reinstall smart-chaos' : 'the smart-chaos operator (' + request.userInfo.username + ') may never decide on a proposal: a person with the approve verb must'";

/// The ValidatingAdmissionPolicy; the same for every installation.
pub fn approval_policy() -> ValidatingAdmissionPolicy {
    let validation = |expression: &str, message_expression: &str, reason: &str| Validation {
        expression: expression.into(),
        message: None,
        message_expression: Some(message_expression.into()),
        reason: Some(reason.into()),
    };
    ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(APPROVAL_POLICY_NAME.into()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            param_kind: Some(ParamKind {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
            }),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![NamedRuleWithOperations {
                    api_groups: Some(vec![GROUP.into()]),
                    api_versions: Some(vec![VERSION.into()]),
                    operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
                    // Not `experimentproposals/status`: the operator writes run status there.
                    resources: Some(vec!["experimentproposals".into()]),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            match_conditions: Some(vec![MatchCondition {
                name: "decision-changes".into(),
                expression: DECISION_CHANGES.into(),
            }]),
            validations: Some(vec![
                // The operator first, so that its refusal names the real reason.
                validation(NOT_THE_OPERATOR, NOT_THE_OPERATOR_MESSAGE, "Forbidden"),
                validation(MAY_APPROVE, MAY_APPROVE_MESSAGE, "Forbidden"),
                validation(
                    DECIDER_IS_REQUESTER,
                    DECIDER_IS_REQUESTER_MESSAGE,
                    "Forbidden",
                ),
            ]),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        status: None,
    }
}

/// The binding of [`approval_policy`] to its parameter in the operator's namespace. Requests fail
/// when the parameter is missing, so a half-installed policy never lets a decision through.
pub fn approval_policy_binding(identity: &OperatorIdentity) -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(APPROVAL_POLICY_NAME.into()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(APPROVAL_POLICY_NAME.into()),
            param_ref: Some(ParamRef {
                name: Some(APPROVAL_POLICY_NAME.into()),
                namespace: Some(identity.namespace.clone()),
                parameter_not_found_action: Some("Deny".into()),
                selector: None,
            }),
            validation_actions: Some(vec!["Deny".into()]),
            match_resources: None,
        }),
    }
}

/// The policy's parameter: the operator's username.
pub fn approval_policy_params(identity: &OperatorIdentity) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(APPROVAL_POLICY_NAME.into()),
            namespace: Some(identity.namespace.clone()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            OPERATOR_USERNAME_KEY.into(),
            identity.username(),
        )])),
        ..ConfigMap::default()
    }
}

fn part_of_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/part-of".into(), "smart-chaos".into())])
}

/// Appends one object as a YAML document; k8s-openapi's serialisation writes apiVersion and kind.
fn push_doc<T: Serialize>(out: &mut String, object: &T) -> Result<(), serde_yaml::Error> {
    out.push_str("---\n");
    out.push_str(&serde_yaml::to_string(object)?);
    Ok(())
}

/// The policy alone, as `smart-chaos crds --policy-only` prints it and `crds/approval-policy.yaml`
/// holds. It names no namespace, so deploy/ and the Helm chart ship it verbatim.
pub fn policy_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    push_doc(&mut out, &approval_policy())?;
    Ok(out)
}

/// The policy, its binding and its parameter for one operator identity.
pub fn policy_with_binding_yaml(identity: &OperatorIdentity) -> Result<String, serde_yaml::Error> {
    let mut out = policy_yaml()?;
    push_doc(&mut out, &approval_policy_binding(identity))?;
    push_doc(&mut out, &approval_policy_params(identity))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_username_is_the_service_account_user() {
        assert_eq!(
            OperatorIdentity::default().username(),
            "system:serviceaccount:smart-chaos-system:smart-chaos"
        );
    }

    #[test]
    fn policy_matches_proposal_writes_but_not_status() {
        let policy = approval_policy();
        let spec = policy.spec.unwrap();
        let rules = spec.match_constraints.unwrap().resource_rules.unwrap();
        assert_eq!(
            rules[0].resources.as_deref(),
            Some(&["experimentproposals".to_string()][..])
        );
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let validations = spec.validations.unwrap();
        assert_eq!(validations.len(), 3);
        assert!(validations[0].expression.contains("operatorUsername"));
        assert!(validations[1].expression.contains("check('approve')"));
        assert!(
            validations
                .iter()
                .all(|v| v.message_expression.is_some() && v.reason.is_some())
        );
    }

    #[test]
    fn binding_points_at_the_parameter_in_the_operator_namespace() {
        let identity = OperatorIdentity {
            namespace: "chaos-ops".into(),
            service_account: "runner".into(),
        };
        let binding = approval_policy_binding(&identity);
        let param_ref = binding.spec.unwrap().param_ref.unwrap();
        assert_eq!(param_ref.namespace.as_deref(), Some("chaos-ops"));
        assert_eq!(
            param_ref.parameter_not_found_action.as_deref(),
            Some("Deny")
        );
        let params = approval_policy_params(&identity);
        assert_eq!(
            params.data.unwrap()[OPERATOR_USERNAME_KEY],
            "system:serviceaccount:chaos-ops:runner"
        );
    }

    #[test]
    fn yaml_has_kinds_and_one_document_per_object() {
        let yaml = policy_with_binding_yaml(&OperatorIdentity::default()).unwrap();
        assert_eq!(yaml.matches("---\n").count(), 3);
        assert!(yaml.contains("kind: ValidatingAdmissionPolicy\n"));
        assert!(yaml.contains("kind: ValidatingAdmissionPolicyBinding\n"));
        assert!(yaml.contains("kind: ConfigMap\n"));
        assert!(yaml.contains("apiVersion: admissionregistration.k8s.io/v1\n"));
    }
}
