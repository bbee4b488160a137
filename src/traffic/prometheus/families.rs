//! The edge metrics common meshes and collectors publish, and how their labels name the two ends
//! of a call. Pure: PromQL text and label mapping, no I/O. Only families whose series the server
//! reports are ever queried (see [`super::read`]).

use std::collections::BTreeMap;

use crate::servicemap::NameHints;

/// A metric family that counts calls between two named ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeFamily {
    /// Istio's standard metrics: `istio_requests_total` (HTTP and gRPC).
    Istio,
    /// Istio's TCP connections, `istio_tcp_connections_opened_total`: the calls to data stores
    /// and brokers, which HTTP metrics never see. A connection counts as a call; no errors.
    IstioTcp,
    /// Linkerd's proxy metrics, outbound: `response_total` (with a failure classification).
    LinkerdResponses,
    /// Linkerd's `request_total`, read when `response_total` is absent (no error counts).
    LinkerdRequests,
    /// The OpenTelemetry / Tempo / Alloy service graph: `traces_service_graph_request_total`.
    ServiceGraph,
}

impl EdgeFamily {
    /// Every family, in the order they are read.
    pub const ALL: [EdgeFamily; 5] = [
        EdgeFamily::Istio,
        EdgeFamily::IstioTcp,
        EdgeFamily::LinkerdResponses,
        EdgeFamily::LinkerdRequests,
        EdgeFamily::ServiceGraph,
    ];

    /// The counter of calls.
    pub fn requests_metric(self) -> &'static str {
        match self {
            EdgeFamily::Istio => "istio_requests_total",
            EdgeFamily::IstioTcp => "istio_tcp_connections_opened_total",
            EdgeFamily::LinkerdResponses => "response_total",
            EdgeFamily::LinkerdRequests => "request_total",
            EdgeFamily::ServiceGraph => "traces_service_graph_request_total",
        }
    }

    /// Matchers every query of the family carries (besides a reporter the server decides).
    pub fn base_matchers(self) -> &'static str {
        match self {
            EdgeFamily::Istio | EdgeFamily::IstioTcp | EdgeFamily::ServiceGraph => "",
            EdgeFamily::LinkerdResponses | EdgeFamily::LinkerdRequests => "direction=\"outbound\"",
        }
    }

    /// Failed calls: another metric, or the same one with an extra matcher.
    pub fn errors(self) -> Option<(&'static str, &'static str)> {
        match self {
            EdgeFamily::Istio => Some(("istio_requests_total", "response_code=~\"5..\"")),
            EdgeFamily::LinkerdResponses => Some(("response_total", "classification=\"failure\"")),
            EdgeFamily::IstioTcp | EdgeFamily::LinkerdRequests => None,
            EdgeFamily::ServiceGraph => Some(("traces_service_graph_request_failed_total", "")),
        }
    }

    /// The latency histogram's bucket series and the microseconds in one of its units.
    pub fn latency(self) -> Option<(&'static str, f64)> {
        match self {
            EdgeFamily::Istio => Some(("istio_request_duration_milliseconds_bucket", 1_000.0)),
            EdgeFamily::IstioTcp => None,
            EdgeFamily::LinkerdResponses | EdgeFamily::LinkerdRequests => {
                Some(("response_latency_ms_bucket", 1_000.0))
            }
            EdgeFamily::ServiceGraph => Some((
                "traces_service_graph_request_server_seconds_bucket",
                1_000_000.0,
            )),
        }
    }

    /// Labels naming the caller.
    fn caller_labels(self) -> &'static [&'static str] {
        match self {
            EdgeFamily::Istio | EdgeFamily::IstioTcp => {
                &["source_workload", "source_workload_namespace"]
            }
            EdgeFamily::LinkerdResponses | EdgeFamily::LinkerdRequests => {
                &["namespace", "deployment", "statefulset", "daemonset"]
            }
            EdgeFamily::ServiceGraph => &["client"],
        }
    }

    /// Labels naming the callee (a Service, with its namespace).
    pub fn callee_labels(self) -> &'static [&'static str] {
        match self {
            EdgeFamily::Istio | EdgeFamily::IstioTcp => &[
                "destination_service_name",
                "destination_service_namespace",
                "destination_workload",
                "destination_service",
            ],
            EdgeFamily::LinkerdResponses | EdgeFamily::LinkerdRequests => &[
                "dst_namespace",
                "dst_service",
                "dst_deployment",
                "dst_statefulset",
            ],
            EdgeFamily::ServiceGraph => &["server"],
        }
    }

    /// Labels naming the called Service alone: what a baseline is grouped by.
    pub fn service_labels(self) -> &'static [&'static str] {
        match self {
            EdgeFamily::Istio | EdgeFamily::IstioTcp => {
                &["destination_service_name", "destination_service_namespace"]
            }
            EdgeFamily::LinkerdResponses | EdgeFamily::LinkerdRequests => {
                &["dst_service", "dst_namespace"]
            }
            EdgeFamily::ServiceGraph => &["server"],
        }
    }

    /// `caller labels, callee labels` for `sum by (...)`.
    pub fn edge_labels(self) -> String {
        self.caller_labels()
            .iter()
            .chain(self.callee_labels())
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The two ends of a call as the labels name them.
    pub fn hints(self, labels: &BTreeMap<String, String>) -> (NameHints, NameHints) {
        let get = |key: &str| {
            labels
                .get(key)
                .filter(|v| !v.is_empty() && v.as_str() != "unknown")
                .cloned()
        };
        match self {
            EdgeFamily::Istio | EdgeFamily::IstioTcp => (
                NameHints {
                    namespace: get("source_workload_namespace"),
                    workload: get("source_workload"),
                    ..NameHints::default()
                },
                NameHints {
                    namespace: get("destination_service_namespace"),
                    service: get("destination_service_name"),
                    workload: get("destination_workload"),
                    host: get("destination_service"),
                    ..NameHints::default()
                },
            ),
            EdgeFamily::LinkerdResponses | EdgeFamily::LinkerdRequests => (
                NameHints {
                    namespace: get("namespace"),
                    workload: get("deployment")
                        .or_else(|| get("statefulset"))
                        .or_else(|| get("daemonset")),
                    ..NameHints::default()
                },
                NameHints {
                    namespace: get("dst_namespace"),
                    service: get("dst_service"),
                    workload: get("dst_deployment").or_else(|| get("dst_statefulset")),
                    ..NameHints::default()
                },
            ),
            EdgeFamily::ServiceGraph => (
                NameHints {
                    service_name: get("client"),
                    ..NameHints::default()
                },
                NameHints {
                    service_name: get("server"),
                    ..NameHints::default()
                },
            ),
        }
    }
}

/// `{a, b}` with the empty parts left out; `""` when all are empty.
pub fn selector(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// A PromQL label value: quotes and backslashes escaped.
pub fn label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Matchers selecting exactly the label set `labels` restricted to `keys` (absent keys are
/// matched as empty, which PromQL reads as "label not set").
pub fn exact_matchers(labels: &BTreeMap<String, String>, keys: &[&str]) -> String {
    keys.iter()
        .map(|key| {
            let value = labels.get(*key).map(String::as_str).unwrap_or_default();
            format!("{key}=\"{}\"", label_value(value))
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn istio_labels_name_workload_and_service() {
        let (caller, callee) = EdgeFamily::Istio.hints(&labels(&[
            ("source_workload", "orders"),
            ("source_workload_namespace", "sock-shop"),
            ("destination_service_name", "carts"),
            ("destination_service_namespace", "sock-shop"),
            ("destination_workload", "unknown"),
        ]));
        assert_eq!(caller.workload.as_deref(), Some("orders"));
        assert_eq!(caller.namespace.as_deref(), Some("sock-shop"));
        assert_eq!(callee.service.as_deref(), Some("carts"));
        assert_eq!(callee.workload, None, "Istio's 'unknown' is no name");
    }

    #[test]
    fn linkerd_and_service_graph_labels() {
        let (caller, callee) = EdgeFamily::LinkerdResponses.hints(&labels(&[
            ("deployment", "web"),
            ("namespace", "emojivoto"),
            ("dst_service", "voting-svc"),
            ("dst_namespace", "emojivoto"),
        ]));
        assert_eq!(caller.workload.as_deref(), Some("web"));
        assert_eq!(callee.service.as_deref(), Some("voting-svc"));
        let (caller, callee) =
            EdgeFamily::ServiceGraph.hints(&labels(&[("client", "frontend"), ("server", "cart")]));
        assert_eq!(caller.service_name.as_deref(), Some("frontend"));
        assert_eq!(callee.service_name.as_deref(), Some("cart"));
    }

    #[test]
    fn selectors_escape_values() {
        assert_eq!(selector(&["", ""]), "");
        assert_eq!(selector(&["a=\"b\"", "", "c=\"d\""]), "{a=\"b\",c=\"d\"}");
        assert_eq!(
            exact_matchers(&labels(&[("x", "a\"b")]), &["x", "y"]),
            "x=\"a\\\"b\",y=\"\""
        );
    }
}
