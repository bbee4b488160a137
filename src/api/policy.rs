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
    ValidatingAdmissionPolicyBindingSpec, ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::{GROUP, REQUESTED_BY_ANNOTATION, REQUESTED_BY_GROUPS_ANNOTATION, VERSION};
use crate::snapshot::cluster::READ_KINDS;

/// Name of the policy, its binding and its parameter ConfigMap.
pub const APPROVAL_POLICY_NAME: &str = "smart-chaos-approval";
/// The custom RBAC verb that allows deciding on a proposal.
pub const APPROVE_VERB: &str = "approve";
/// Key in the parameter ConfigMap holding the operator's username.
pub const OPERATOR_USERNAME_KEY: &str = "operatorUsername";
/// Most namespaces admission checks rights in, for one analysis' scope and for one experiment.
/// The API server allows two authorisation checks per CEL expression and about 28 per policy
/// binding, so each namespace costs a policy of its own (see [`scope_policies`]); larger scopes
/// are refused with a message saying so.
pub const MAX_CHECKED_NAMESPACES: usize = 8;
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

fn validation(expression: String, message_expression: String) -> Validation {
    Validation {
        expression,
        message: None,
        message_expression: Some(message_expression),
        reason: Some("Forbidden".into()),
    }
}

/// A policy on CREATE and UPDATE of one of our resources (never its status subresource), failing
/// closed.
fn policy(
    name: &str,
    resource: &str,
    with_params: bool,
    match_condition: MatchCondition,
    variables: Vec<Variable>,
    validations: Vec<Validation>,
) -> ValidatingAdmissionPolicy {
    ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".into()),
            param_kind: with_params.then(|| ParamKind {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
            }),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![NamedRuleWithOperations {
                    api_groups: Some(vec![GROUP.into()]),
                    api_versions: Some(vec![VERSION.into()]),
                    operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
                    // Not the status subresource: the operator writes status there.
                    resources: Some(vec![resource.into()]),
                    ..NamedRuleWithOperations::default()
                }]),
                ..MatchResources::default()
            }),
            match_conditions: Some(vec![match_condition]),
            variables: (!variables.is_empty()).then_some(variables),
            validations: Some(validations),
            ..ValidatingAdmissionPolicySpec::default()
        }),
        status: None,
    }
}

fn variable(name: &str, expression: String) -> Variable {
    Variable {
        name: name.into(),
        expression,
    }
}

/// The ValidatingAdmissionPolicy; the same for every installation.
pub fn approval_policy() -> ValidatingAdmissionPolicy {
    let mut validations = vec![
        // The operator first, so that its refusal names the real reason.
        validation(NOT_THE_OPERATOR.into(), NOT_THE_OPERATOR_MESSAGE.into()),
        validation(MAY_APPROVE.into(), MAY_APPROVE_MESSAGE.into()),
        validation(
            DECIDER_IS_REQUESTER.into(),
            DECIDER_IS_REQUESTER_MESSAGE.into(),
        ),
        validation(
            format!(
                "size(variables.touchedNamespaces) > 0 && size(variables.touchedNamespaces) <= {MAX_CHECKED_NAMESPACES}"
            ),
            format!(
                "'the experiment must name the namespaces it touches (at most {MAX_CHECKED_NAMESPACES}), so that approval can be checked in each; it names ' + string(size(variables.touchedNamespaces))"
            ),
        ),
    ];
    // One expression per namespace: CEL allows only two authorisation checks per expression.
    for index in 0..MAX_CHECKED_NAMESPACES {
        validations.push(validation(
            format!(
                "size(variables.touchedNamespaces) <= {index} || authorizer.group('{GROUP}').resource('experimentproposals').namespace(variables.touchedNamespaces[{index}]).check('{APPROVE_VERB}').allowed()"
            ),
            format!(
                "'user ' + request.userInfo.username + ' may not approve an experiment that touches namespace ' + variables.touchedNamespaces[{index}] + ': deciding needs the RBAC verb \"approve\" on experimentproposals.{GROUP} in every namespace the experiment selects, not only where the proposal lives'"
            ),
        ));
    }
    policy(
        APPROVAL_POLICY_NAME,
        "experimentproposals",
        true,
        MatchCondition {
            name: "decision-changes".into(),
            expression: DECISION_CHANGES.into(),
        },
        vec![variable("touchedNamespaces", touched_namespaces())],
        validations,
    )
}

/// The JSON field of each experiment spec in `spec.experiment` (see [`super::ExperimentTemplate`]).
const EXPERIMENT_SPEC_FIELDS: [&str; 7] = [
    "podChaos",
    "networkChaos",
    "stressChaos",
    "ioChaos",
    "dnsChaos",
    "httpChaos",
    "timeChaos",
];

/// CEL for every namespace an experiment's selectors name: the selected pods' and, for a
/// NetworkChaos, the target peer's. These are the namespaces Chaos Mesh injects into.
fn touched_namespaces() -> String {
    let list = |path: &str| format!("(has({path}.namespaces) ? {path}.namespaces : [])");
    let mut parts: Vec<String> = EXPERIMENT_SPEC_FIELDS
        .iter()
        .map(|field| {
            let spec = format!("object.spec.experiment.{field}");
            format!("(has({spec}) ? {} : [])", list(&format!("{spec}.selector")))
        })
        .collect();
    let network = "object.spec.experiment.networkChaos";
    parts.push(format!(
        "(has({network}) && has({network}.target) ? {} : [])",
        list(&format!("{network}.target.selector"))
    ));
    parts.join(" + ")
}

/// The binding of [`approval_policy`] to its parameter in the operator's namespace. Requests fail
/// when the parameter is missing, so a half-installed policy never lets a decision through.
pub fn approval_policy_binding(identity: &OperatorIdentity) -> ValidatingAdmissionPolicyBinding {
    binding(APPROVAL_POLICY_NAME, Some(operator_param(identity)))
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

/// Name of the tenancy policy (requester, scope shape, cluster-wide reads) and its binding.
pub const TENANCY_POLICY_NAME: &str = "smart-chaos-tenancy";

/// An annotation's value on `object` (or `oldObject`), `''` when absent.
fn annotation(object: &str, key: &str) -> String {
    format!(
        "(has({object}.metadata.annotations) && '{key}' in {object}.metadata.annotations ? {object}.metadata.annotations['{key}'] : '')"
    )
}

/// Matches a create, or an update that changes the spec or who asked for it. Metadata-only writes
/// (labels, the garbage collector's finalizers) do not change what the operator reads.
fn spec_or_requester_changes() -> MatchCondition {
    let changed = |key: &str| {
        format!(
            "{} != {}",
            annotation("object", key),
            annotation("oldObject", key)
        )
    };
    MatchCondition {
        name: "spec-or-requester-changes".into(),
        expression: format!(
            "request.operation == 'CREATE' || object.spec != oldObject.spec || {} || {}",
            changed(REQUESTED_BY_ANNOTATION),
            changed(REQUESTED_BY_GROUPS_ANNOTATION)
        ),
    }
}

const SCOPE_NAMESPACES: &str =
    "has(object.spec.scope.namespaces) ? object.spec.scope.namespaces : []";

/// The user as the API server authenticated them; `requested-by-groups` spells the groups
/// joined with commas.
const REQUESTER_GROUPS: &str =
    "has(request.userInfo.groups) ? request.userInfo.groups.join(',') : ''";

/// The tenancy policy: the analysis names its requester (so the operator can re-check that very
/// user later), its scope is small enough to check, allowedNamespaces lies within the scope, and
/// a scope of every namespace (a labelSelector alone) is the cluster-wide mode: only in the
/// operator's namespace (the parameter ConfigMap's namespace) and only for a user who may list
/// every kind cluster-wide.
pub fn tenancy_policy() -> ValidatingAdmissionPolicy {
    let mut validations = vec![
        validation(
            format!(
                "variables.requestedBy == request.userInfo.username && variables.requestedByGroups == ({REQUESTER_GROUPS})"
            ),
            format!(
                "'a ChaosAnalysis must say who asks for it, as the API server knows them: set metadata.annotations {REQUESTED_BY_ANNOTATION}: \"' + request.userInfo.username + '\" and {REQUESTED_BY_GROUPS_ANNOTATION}: \"' + ({REQUESTER_GROUPS}) + '\" (the operator re-checks the rights of this user before every run)'"
            ),
        ),
        validation(
            format!("size(variables.scopeNamespaces) <= {MAX_CHECKED_NAMESPACES}"),
            format!(
                "'spec.scope.namespaces names ' + string(size(variables.scopeNamespaces)) + ' namespaces; at most {MAX_CHECKED_NAMESPACES} can be checked at admission: split the analysis, or use a labelSelector scope in the namespace of the operator'"
            ),
        ),
        validation(
            "variables.clusterWide || variables.allowedNamespaces.all(ns, ns in variables.scopeNamespaces)".into(),
            "'spec.guardrails.allowedNamespaces names ' + variables.allowedNamespaces.filter(ns, !(ns in variables.scopeNamespaces))[0] + ', which is outside spec.scope.namespaces: experiments may only target namespaces the analysis reads'".into(),
        ),
    ];
    // One expression per kind: CEL allows only two authorisation checks per expression.
    for kind in READ_KINDS {
        validations.push(validation(
            format!(
                "!variables.clusterWide || authorizer.group('{}').resource('{}').check('list').allowed()",
                kind.group, kind.resource
            ),
            format!(
                "'user ' + request.userInfo.username + ' may not list {} in every namespace (cluster-wide): a scope given only by spec.scope.labelSelector reads every namespace, so it needs that right'",
                kind.qualified()
            ),
        ));
    }
    // After the rights, so that a user without them hears which right is missing; the API server
    // reports the first failing validation only.
    validations.push(validation(
            "!variables.clusterWide || object.metadata.namespace == params.metadata.namespace".into(),
            "'a scope of every namespace (spec.scope.labelSelector without namespaces) is the cluster-wide mode, allowed only for an analysis in the namespace of the operator, ' + params.metadata.namespace + ', because its results would show other namespaces to readers of ' + object.metadata.namespace".into(),
        ));
    policy(
        TENANCY_POLICY_NAME,
        "chaosanalyses",
        true,
        spec_or_requester_changes(),
        vec![
            variable("scopeNamespaces", SCOPE_NAMESPACES.into()),
            variable("clusterWide", "size(variables.scopeNamespaces) == 0".into()),
            variable(
                "allowedNamespaces",
                "has(object.spec.guardrails) && has(object.spec.guardrails.allowedNamespaces) ? object.spec.guardrails.allowedNamespaces : []".into(),
            ),
            variable("requestedBy", annotation("object", REQUESTED_BY_ANNOTATION)),
            variable(
                "requestedByGroups",
                annotation("object", REQUESTED_BY_GROUPS_ANNOTATION),
            ),
        ],
        validations,
    )
}

/// The name of the policy checking the scope's namespace number `index`.
pub fn scope_policy_name(index: usize) -> String {
    format!("smart-chaos-scope-{index}")
}

/// One policy per position in `spec.scope.namespaces`: the requesting user may `list` every kind
/// the operator reads ([`READ_KINDS`]) in that namespace. Sixteen checks fit one binding's cost
/// budget but not two namespaces' worth, hence a policy (and binding) per position.
pub fn scope_policies() -> Vec<ValidatingAdmissionPolicy> {
    (0..MAX_CHECKED_NAMESPACES)
        .map(|index| {
            let validations = READ_KINDS
                .iter()
                .map(|kind| {
                    validation(
                        format!(
                            "variables.scopeNamespace == '' || authorizer.group('{}').resource('{}').namespace(variables.scopeNamespace).check('list').allowed()",
                            kind.group, kind.resource
                        ),
                        format!(
                            "'user ' + request.userInfo.username + ' may not list {} in namespace ' + variables.scopeNamespace + ': an analysis may only scope namespaces its requester can read'",
                            kind.qualified()
                        ),
                    )
                })
                .collect();
            policy(
                &scope_policy_name(index),
                "chaosanalyses",
                false,
                spec_or_requester_changes(),
                vec![variable(
                    "scopeNamespace",
                    format!(
                        "has(object.spec.scope.namespaces) && size(object.spec.scope.namespaces) > {index} ? object.spec.scope.namespaces[{index}] : ''"
                    ),
                )],
                validations,
            )
        })
        .collect()
}

fn binding(policy_name: &str, param_ref: Option<ParamRef>) -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(policy_name.into()),
            labels: Some(part_of_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(policy_name.into()),
            param_ref,
            validation_actions: Some(vec!["Deny".into()]),
            match_resources: None,
        }),
    }
}

/// The parameter both parameterised policies read: the approval ConfigMap in the operator's
/// namespace. Requests fail when it is missing, so a half-installed policy lets nothing through.
fn operator_param(identity: &OperatorIdentity) -> ParamRef {
    ParamRef {
        name: Some(APPROVAL_POLICY_NAME.into()),
        namespace: Some(identity.namespace.clone()),
        parameter_not_found_action: Some("Deny".into()),
        selector: None,
    }
}

/// The tenancy policy's binding, to the operator's parameter.
pub fn tenancy_policy_binding(identity: &OperatorIdentity) -> ValidatingAdmissionPolicyBinding {
    binding(TENANCY_POLICY_NAME, Some(operator_param(identity)))
}

/// The tenancy policies and the scope policies' bindings (which name no namespace), as
/// `smart-chaos crds --tenancy-only` prints them and `crds/tenancy-policy.yaml` holds.
pub fn tenancy_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    push_doc(&mut out, &tenancy_policy())?;
    for (index, scope_policy) in scope_policies().iter().enumerate() {
        push_doc(&mut out, scope_policy)?;
        push_doc(&mut out, &binding(&scope_policy_name(index), None))?;
    }
    Ok(out)
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
    out.push_str(&tenancy_yaml()?);
    push_doc(&mut out, &approval_policy_binding(identity))?;
    push_doc(&mut out, &tenancy_policy_binding(identity))?;
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
        assert_eq!(validations.len(), 4 + MAX_CHECKED_NAMESPACES);
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
        // approval policy, tenancy policy, a policy and binding per scope position, two
        // parameterised bindings and the parameter.
        assert_eq!(
            yaml.matches("---\n").count(),
            2 + 2 * MAX_CHECKED_NAMESPACES + 3
        );
        assert!(yaml.contains("kind: ValidatingAdmissionPolicy\n"));
        assert!(yaml.contains("kind: ValidatingAdmissionPolicyBinding\n"));
        assert!(yaml.contains("kind: ConfigMap\n"));
        assert!(yaml.contains("apiVersion: admissionregistration.k8s.io/v1\n"));
    }

    #[test]
    fn every_experiment_spec_field_is_in_the_touched_namespaces() {
        let template = serde_json::to_value(crate::api::ExperimentTemplate::from(
            crate::chaosmesh::ChaosSpec::PodChaos(crate::chaosmesh::PodChaosSpec {
                action: crate::chaosmesh::PodChaosAction::PodKill,
                selector: crate::chaosmesh::PodSelector::default(),
                mode: crate::chaosmesh::SelectorMode::One,
                value: None,
                duration: None,
                container_names: vec![],
            }),
        ))
        .unwrap();
        assert!(template.get(EXPERIMENT_SPEC_FIELDS[0]).is_some());
        let schema =
            serde_json::to_value(schemars::schema_for!(crate::api::ExperimentTemplate)).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        for field in EXPERIMENT_SPEC_FIELDS {
            assert!(properties.contains_key(field), "{field}");
            assert!(touched_namespaces().contains(&format!("experiment.{field}.selector")));
        }
        // Besides the specs: `kind` and `checksHeldBy`, which select no pods.
        assert_eq!(properties.len(), EXPERIMENT_SPEC_FIELDS.len() + 2);
    }

    #[test]
    fn each_scope_policy_checks_every_read_kind_in_one_namespace() {
        let policies = scope_policies();
        assert_eq!(policies.len(), MAX_CHECKED_NAMESPACES);
        let spec = policies[3].spec.clone().unwrap();
        assert!(
            spec.variables.unwrap()[0]
                .expression
                .contains("namespaces[3]")
        );
        let validations = spec.validations.unwrap();
        assert_eq!(validations.len(), READ_KINDS.len());
        // The API server allows two authorisation checks per expression.
        assert!(
            validations
                .iter()
                .all(|v| v.expression.matches(".check(").count() == 1)
        );
        let tenancy = tenancy_policy().spec.unwrap();
        assert!(
            tenancy
                .validations
                .unwrap()
                .iter()
                .all(|v| v.expression.matches(".check(").count() <= 1)
        );
    }
}
