//! `--prometheus URL` for `map` and `analyze`: calls observed in a Prometheus join the map, and
//! (for `analyze`) measured baselines set the steady states.

use std::time::Duration;

use anyhow::Context;

use crate::analysis::{Measurements, parse_go_duration};
use crate::servicemap::ServiceMap;
use crate::traffic::prometheus::{self, PrometheusClient, PrometheusConfig};

/// Where the observed calls come from.
#[derive(Debug, Clone, clap::Args)]
pub struct PrometheusArgs {
    /// A Prometheus with Istio, Linkerd or OpenTelemetry service-graph metrics: the calls they
    /// count join the map as traffic evidence, and their baselines set the steady states.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// How far back calls are counted and baselines measured (Go duration).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub prometheus_window: String,
    /// Bearer token for the Prometheus (or set SMART_CHAOS_PROMETHEUS_TOKEN).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SMART_CHAOS_PROMETHEUS_TOKEN",
        hide_env_values = true
    )]
    pub prometheus_token: Option<String>,
    /// PEM file with the CA that signed the Prometheus' certificate.
    #[arg(long, value_name = "FILE")]
    pub prometheus_ca: Option<std::path::PathBuf>,
}

impl PrometheusArgs {
    /// Adds what the Prometheus observed to `map` and returns the baselines; `None` without
    /// `--prometheus`. When the server cannot be read, a warning says why and the map from the
    /// manifests stands.
    pub async fn enrich(&self, map: &mut ServiceMap) -> anyhow::Result<Option<Measurements>> {
        let Some(url) = &self.prometheus else {
            return Ok(None);
        };
        let window = Duration::from_millis(
            parse_go_duration(&self.prometheus_window).context("--prometheus-window")?,
        );
        let ca_pem = match &self.prometheus_ca {
            None => None,
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --prometheus-ca {}", path.display()))?,
            ),
        };
        let client = PrometheusClient::new(&PrometheusConfig {
            url: url.clone(),
            bearer_token: self.prometheus_token.clone(),
            ca_pem,
            timeout: None,
        })
        .context("--prometheus")?;
        match prometheus::enrich(&client, map, window).await {
            Ok(enrichment) => {
                eprintln!(
                    "prometheus: {} observed calls attached ({} new edges, {} unmatched) from {}; {} Services measured",
                    enrichment.attached.attached,
                    enrichment.attached.new_edges,
                    enrichment.attached.unmatched_calls,
                    if enrichment.metrics.is_empty() {
                        "no edge metric (none of the known ones exists on the server)".to_owned()
                    } else {
                        enrichment.metrics.join(", ")
                    },
                    enrichment.measurements.services.len()
                );
                Ok(Some(enrichment.measurements))
            }
            Err(error) => {
                eprintln!(
                    "warning: {error}; the map holds what the manifests declare, without observed calls or measured steady states"
                );
                Ok(None)
            }
        }
    }
}
