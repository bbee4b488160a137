//! Reaching the Prometheus an analysis names: its URL, the bearer token from the one Secret key
//! it names, and its CA (inline, or from a ConfigMap key).

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::Api;

use crate::analysis::parse_go_duration;
use crate::api::{PrometheusSource, SecretKeyRef};
use crate::traffic::prometheus::{PrometheusClient, PrometheusConfig};

/// The window when the analysis sets none.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// The Secret `name` that the spec field `field` names, in the analysis' namespace. This is the
/// only way the operator reads a Secret: the one an analysis names.
pub async fn named_secret(
    client: &Client,
    ns: &str,
    name: &str,
    field: &str,
) -> Result<Secret, String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets.get(name).await.map_err(|e| {
        format!("cannot read Secret {ns}/{name} named in {field} ({e}); grant the operator get on that Secret")
    })
}

/// The value of one Secret key, trimmed; `field` names the spec field for messages.
pub async fn secret_value(
    client: &Client,
    ns: &str,
    reference: &SecretKeyRef,
    field: &str,
) -> Result<String, String> {
    let secret = named_secret(client, ns, &reference.name, field).await?;
    let value = secret
        .data
        .and_then(|d| d.get(&reference.key).cloned())
        .ok_or_else(|| {
            format!(
                "Secret {ns}/{} has no key {:?}",
                reference.name, reference.key
            )
        })?;
    String::from_utf8(value.0)
        .map(|v| v.trim().to_string())
        .map_err(|_| {
            format!(
                "Secret {ns}/{} key {:?} is not UTF-8",
                reference.name, reference.key
            )
        })
}

/// The window of `source`.
pub fn window(source: &PrometheusSource) -> Result<Duration, String> {
    match &source.window {
        None => Ok(DEFAULT_WINDOW),
        Some(text) => parse_go_duration(text)
            .map(Duration::from_millis)
            .map_err(|e| format!("spec.telemetry.prometheus.window: {e}")),
    }
}

/// A client for the Prometheus `source` names, or a message a person can act on.
pub async fn prometheus_client(
    client: &Client,
    ns: &str,
    source: &PrometheusSource,
) -> Result<PrometheusClient, String> {
    let bearer_token = match &source.bearer_token_secret_ref {
        None => None,
        Some(reference) => Some(
            secret_value(
                client,
                ns,
                reference,
                "spec.telemetry.prometheus.bearerTokenSecretRef",
            )
            .await?,
        ),
    };
    let ca_pem = match &source.ca {
        None => None,
        Some(ca) => match (&ca.pem, &ca.config_map_key_ref) {
            (Some(pem), _) => Some(pem.clone()),
            (None, Some(reference)) => {
                let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
                let map = maps.get(&reference.name).await.map_err(|e| {
                    format!(
                        "cannot read ConfigMap {ns}/{} named in spec.telemetry.prometheus.ca ({e})",
                        reference.name
                    )
                })?;
                Some(
                    map.data
                        .and_then(|d| d.get(&reference.key).cloned())
                        .ok_or_else(|| {
                            format!(
                                "ConfigMap {ns}/{} has no key {:?}",
                                reference.name, reference.key
                            )
                        })?,
                )
            }
            (None, None) => None,
        },
    };
    PrometheusClient::new(&PrometheusConfig {
        url: source.url.clone(),
        bearer_token,
        ca_pem,
        timeout: None,
    })
    .map_err(|e| format!("spec.telemetry.prometheus: {e}"))
}
