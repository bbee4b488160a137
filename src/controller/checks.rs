//! Steady-state checks, evaluated while an experiment runs.
//!
//! The operator evaluates the Kubernetes checks itself: `AvailableReplicas` reads the status of
//! the Deployment, StatefulSet or DaemonSet named by the subject, `ReadyEndpoints` counts the
//! ready endpoints in the EndpointSlices of the Service. `Prometheus` checks are queried in the
//! Prometheus the proposal's analysis names (`spec.telemetry.prometheus`); when that server cannot
//! answer, the check is *unavailable*, which keeps a run from starting and pauses one that runs.
//! `Http` checks are probed by the operator itself (see [`super::http_check`]).

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::api::{CheckKind, SteadyStateCheck};
use crate::traffic::prometheus::PrometheusClient;

/// The label EndpointSlices carry naming their Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A map id `namespace/Kind/name`, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

impl Subject {
    /// Splits a map id; `None` unless it has exactly three non-empty parts.
    pub fn parse(id: &str) -> Option<Subject> {
        let mut parts = id.split('/');
        let (namespace, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || [namespace, kind, name].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Subject {
            namespace: namespace.into(),
            kind: kind.into(),
            name: name.into(),
        })
    }
}

/// What one evaluation of a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The value is at least the minimum.
    Holds { value: i64 },
    /// The value is below the minimum, or the subject is gone.
    Broken { reason: String },
    /// The operator cannot evaluate this check.
    NotEvaluated { reason: String },
    /// The check should be evaluated, but its source (Prometheus) cannot answer.
    Unavailable { reason: String },
}

/// How the operator reaches the Prometheus of a proposal's analysis.
#[derive(Clone, Debug)]
pub enum PrometheusAccess {
    /// The analysis names no Prometheus.
    NotConfigured,
    /// It names one, but it cannot be used (a Secret, the CA, the URL): why.
    Broken(String),
    /// A client for it.
    Ready(PrometheusClient),
}

/// A check's name with its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub outcome: CheckOutcome,
}

impl CheckResult {
    /// Whether the check broke.
    pub fn is_broken(&self) -> bool {
        matches!(self.outcome, CheckOutcome::Broken { .. })
    }
    /// Whether the operator evaluated the check (held or broke).
    pub fn is_evaluated(&self) -> bool {
        matches!(
            self.outcome,
            CheckOutcome::Holds { .. } | CheckOutcome::Broken { .. }
        )
    }
    /// Whether the check should have been evaluated but its source could not answer.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.outcome, CheckOutcome::Unavailable { .. })
    }
    /// One line for status messages and events.
    pub fn describe(&self) -> String {
        match &self.outcome {
            CheckOutcome::Holds { value } => format!("{} holds ({value})", self.name),
            CheckOutcome::Broken { reason } => format!("{} broke: {reason}", self.name),
            CheckOutcome::NotEvaluated { reason } => {
                format!("{} not evaluated by the operator: {reason}", self.name)
            }
            CheckOutcome::Unavailable { reason } => {
                format!("{} cannot be evaluated: {reason}", self.name)
            }
        }
    }
}

/// Reading a subject failed for a reason other than its absence.
#[derive(Debug, thiserror::Error)]
#[error("reading {what} for steady-state check {check:?}: {source}")]
pub struct CheckError {
    pub check: String,
    pub what: String,
    #[source]
    pub source: kube::Error,
}

/// Compares a measured value with the minimum.
pub fn judge(value: i64, min_value: i64, what: &str) -> CheckOutcome {
    if value >= min_value {
        CheckOutcome::Holds { value }
    } else {
        CheckOutcome::Broken {
            reason: format!("{what} is {value}, below the minimum {min_value}"),
        }
    }
}

/// Compares a measured value with the bounds: at least `min_value`, at most `max_value`.
pub fn judge_measured(
    value: f64,
    min_value: i64,
    max_value: Option<i64>,
    what: &str,
) -> CheckOutcome {
    if value.is_nan() {
        return CheckOutcome::Broken {
            reason: format!("{what} is not a number (no calls measured)"),
        };
    }
    if value < min_value as f64 {
        return CheckOutcome::Broken {
            reason: format!("{what} is {value:.2}, below the minimum {min_value}"),
        };
    }
    if let Some(max) = max_value
        && value > max as f64
    {
        return CheckOutcome::Broken {
            reason: format!("{what} is {value:.2}, above the maximum {max}"),
        };
    }
    CheckOutcome::Holds {
        value: value.round() as i64,
    }
}

/// Evaluates a Prometheus check's query.
async fn evaluate_prometheus(check: &SteadyStateCheck, access: &PrometheusAccess) -> CheckOutcome {
    let Some(query) = check.query.as_deref() else {
        return CheckOutcome::NotEvaluated {
            reason: "the check has no query".into(),
        };
    };
    let client = match access {
        PrometheusAccess::NotConfigured => {
            return CheckOutcome::NotEvaluated {
                reason: "the proposal's analysis names no Prometheus (spec.telemetry.prometheus)"
                    .into(),
            };
        }
        PrometheusAccess::Broken(reason) => {
            return CheckOutcome::Unavailable {
                reason: reason.clone(),
            };
        }
        PrometheusAccess::Ready(client) => client,
    };
    match client.query(query).await {
        Err(error) => CheckOutcome::Unavailable {
            reason: error.to_string(),
        },
        Ok(samples) => match samples.first() {
            None => CheckOutcome::Broken {
                reason: "the query returned no samples: no calls were measured".into(),
            },
            Some(sample) => judge_measured(
                sample.value,
                check.min_value,
                check.max_value,
                &format!("the query's value in {}", client.url()),
            ),
        },
    }
}

/// Ready endpoints across a Service's slices. An endpoint with no `ready` condition counts as
/// ready (the API's own rule); an endpoint in two slices (dual stack) counts once.
pub fn ready_endpoints(slices: &[EndpointSlice]) -> i64 {
    let ready: BTreeSet<String> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .filter_map(|e| match &e.target_ref {
            Some(target) => target
                .uid
                .clone()
                .or_else(|| target.name.clone())
                .map(|id| format!("ref:{id}")),
            None => e.addresses.first().map(|a| format!("addr:{a}")),
        })
        .collect();
    i64::try_from(ready.len()).unwrap_or(i64::MAX)
}

/// Evaluates one check against the cluster.
pub async fn evaluate(
    client: &Client,
    prometheus: &PrometheusAccess,
    http: &super::http_check::HttpProber,
    targets: &crate::analysis::check_target::CheckTargets<'_>,
    check: &SteadyStateCheck,
) -> Result<CheckResult, CheckError> {
    let outcome = match check.kind {
        CheckKind::Http => http.probe(check, targets).await,
        CheckKind::Prometheus => evaluate_prometheus(check, prometheus).await,
        CheckKind::AvailableReplicas | CheckKind::ReadyEndpoints => {
            match check.subject.as_deref().and_then(Subject::parse) {
                None => CheckOutcome::NotEvaluated {
                    reason: format!(
                        "subject {:?} is not a map id namespace/Kind/name",
                        check.subject.as_deref().unwrap_or_default()
                    ),
                },
                Some(subject) => evaluate_kubernetes(client, check, &subject).await?,
            }
        }
    };
    Ok(CheckResult {
        name: check.name.clone(),
        outcome,
    })
}

async fn evaluate_kubernetes(
    client: &Client,
    check: &SteadyStateCheck,
    subject: &Subject,
) -> Result<CheckOutcome, CheckError> {
    let what = format!("{}/{}/{}", subject.namespace, subject.kind, subject.name);
    let error = |source| CheckError {
        check: check.name.clone(),
        what: what.clone(),
        source,
    };
    let gone = || CheckOutcome::Broken {
        reason: format!("{what} does not exist"),
    };
    let ns = subject.namespace.as_str();
    let min = check.min_value;
    let outcome = match (check.kind, subject.kind.as_str()) {
        (CheckKind::AvailableReplicas, "Deployment") => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&subject.name).await.map_err(error)? {
                None => gone(),
                Some(d) => {
                    let n = d.status.and_then(|s| s.available_replicas).unwrap_or(0);
                    judge(i64::from(n), min, &format!("available replicas of {what}"))
                }
            }
        }
        (CheckKind::AvailableReplicas, "StatefulSet") => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&subject.name).await.map_err(error)? {
                None => gone(),
                Some(s) => {
                    let n = s.status.and_then(|s| s.available_replicas).unwrap_or(0);
                    judge(i64::from(n), min, &format!("available replicas of {what}"))
                }
            }
        }
        (CheckKind::AvailableReplicas, "DaemonSet") => {
            let api: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&subject.name).await.map_err(error)? {
                None => gone(),
                Some(d) => {
                    let n = d.status.and_then(|s| s.number_available).unwrap_or(0);
                    judge(i64::from(n), min, &format!("available pods of {what}"))
                }
            }
        }
        (CheckKind::ReadyEndpoints, "Service") => {
            let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
            let selector = format!("{SERVICE_NAME_LABEL}={}", subject.name);
            let slices = api
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(error)?;
            judge(
                ready_endpoints(&slices.items),
                min,
                &format!("ready endpoints of {what}"),
            )
        }
        (kind, other) => CheckOutcome::NotEvaluated {
            reason: format!("a {kind} check cannot read a {other}"),
        },
    };
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};

    use super::*;

    #[test]
    fn subjects_parse_only_as_three_parts() {
        assert_eq!(
            Subject::parse("shop/Deployment/web"),
            Some(Subject {
                namespace: "shop".into(),
                kind: "Deployment".into(),
                name: "web".into()
            })
        );
        for bad in [
            "shop/web",
            "shop/Deployment/web/x",
            "/Deployment/web",
            "shop//web",
        ] {
            assert_eq!(Subject::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn judge_compares_with_the_minimum() {
        assert_eq!(judge(2, 2, "x"), CheckOutcome::Holds { value: 2 });
        match judge(0, 1, "available replicas of shop/Deployment/web") {
            CheckOutcome::Broken { reason } => {
                assert_eq!(
                    reason,
                    "available replicas of shop/Deployment/web is 0, below the minimum 1"
                )
            }
            other => panic!("expected Broken, got {other:?}"),
        }
    }

    fn endpoint(pod: &str, ready: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![format!("10.0.0.{}", pod.len())],
            conditions: Some(EndpointConditions {
                ready,
                ..EndpointConditions::default()
            }),
            target_ref: Some(ObjectReference {
                name: Some(pod.into()),
                ..ObjectReference::default()
            }),
            ..Endpoint::default()
        }
    }

    #[test]
    fn ready_endpoints_count_unset_as_ready_and_dual_stack_once() {
        let v4 = EndpointSlice {
            address_type: "IPv4".into(),
            endpoints: vec![
                endpoint("a", Some(true)),
                endpoint("bb", None),
                endpoint("ccc", Some(false)),
            ],
            ..EndpointSlice::default()
        };
        let mut v6 = v4.clone();
        v6.address_type = "IPv6".into();
        assert_eq!(ready_endpoints(std::slice::from_ref(&v4)), 2);
        assert_eq!(ready_endpoints(&[v4, v6]), 2);
        assert_eq!(ready_endpoints(&[]), 0);
    }

    #[test]
    fn measured_values_are_held_to_both_bounds() {
        assert_eq!(
            judge_measured(99.6, 98, None, "v"),
            CheckOutcome::Holds { value: 100 }
        );
        assert!(matches!(
            judge_measured(42.0, 98, None, "success"),
            CheckOutcome::Broken { reason } if reason == "success is 42.00, below the minimum 98"
        ));
        assert!(matches!(
            judge_measured(300.0, 0, Some(240), "p99"),
            CheckOutcome::Broken { reason } if reason.contains("above the maximum 240")
        ));
        assert!(matches!(
            judge_measured(f64::NAN, 0, Some(240), "p99"),
            CheckOutcome::Broken { .. }
        ));
    }

    #[test]
    fn descriptions_name_the_check() {
        let r = CheckResult {
            name: "web-available".into(),
            outcome: CheckOutcome::Broken {
                reason: "x is 0".into(),
            },
        };
        assert!(r.is_broken() && r.is_evaluated());
        assert_eq!(r.describe(), "web-available broke: x is 0");
    }
}
