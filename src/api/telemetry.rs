//! `spec.telemetry`: runtime data an analysis reads besides the cluster's objects.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::analysis::SecretKeyRef;

/// Runtime telemetry: observed calls become edges of the map (with traffic evidence), and
/// measured baselines become the thresholds of steady states the operator checks during runs.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Telemetry {
    /// A Prometheus holding Istio, Linkerd or OpenTelemetry service-graph metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
}

/// Where the Prometheus is and how to reach it. The operator asks it which series exist and
/// reads only `istio_requests_total`, `istio_tcp_connections_opened_total`, Linkerd's
/// `response_total`/`request_total` and `traces_service_graph_request_total` (with their error
/// and latency series), whichever exist.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSource {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus.monitoring:9090`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("url must be an http:// or https:// URL"))]
    pub url: String,
    /// How far back calls are counted and baselines measured, as a Go duration (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub window: Option<String>,
    /// A Secret key holding a bearer token. The operator reads this one Secret and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret_ref: Option<SecretKeyRef>,
    /// The CA that signed the server's certificate, when it is not a public one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CaSource>,
}

/// A PEM CA: inline, or one key of a ConfigMap in the analysis' namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.pem) != has(self.configMapKeyRef)").message("ca needs exactly one of pem and configMapKeyRef"))]
pub struct CaSource {
    /// PEM certificates, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub pem: Option<String>,
    /// A ConfigMap key holding PEM certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<ConfigMapKeyRef>,
}

/// A reference to one key of a ConfigMap in the analysis' namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
