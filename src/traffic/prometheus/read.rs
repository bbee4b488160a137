//! Reading a Prometheus: which edge metrics exist (asked, never guessed), the calls they count
//! over a window as [`NamedCall`]s, and the per-Service baselines the steady states start from.

use std::collections::BTreeMap;
use std::time::Duration;

use super::client::{PrometheusClient, PrometheusError, Sample};
use super::families::{EdgeFamily, exact_matchers, selector};
use crate::analysis::{MeasuredQuery, Measurements, ServiceBaseline};
use crate::servicemap::names::Callee;
use crate::servicemap::{Evidence, Matching, NameIndex, NamedCall, ServiceMap, TrafficEvidence};

/// The window live checks look at: short, so a breach shows within a few scrapes.
pub const LIVE_WINDOW: &str = "2m";

/// An edge family the server has, with the matchers its queries carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresentFamily {
    pub family: EdgeFamily,
    /// The family's own matchers plus a reporter chosen from the series that exist.
    pub matchers: String,
    /// Whether the failed-calls series exist.
    pub has_errors: bool,
    /// Whether the latency histogram exists.
    pub has_latency: bool,
}

impl PresentFamily {
    fn with(&self, extra: &[&str]) -> String {
        let mut parts = vec![self.matchers.as_str()];
        parts.extend_from_slice(extra);
        selector(&parts)
    }

    /// `M{matchers, extra}` for the requests counter.
    fn requests(&self, extra: &[&str]) -> String {
        format!("{}{}", self.family.requests_metric(), self.with(extra))
    }

    /// The failed-calls selector, when the server has it.
    fn errors(&self, extra: &[&str]) -> Option<String> {
        let (metric, matcher) = self.family.errors().filter(|_| self.has_errors)?;
        let mut parts = extra.to_vec();
        parts.push(matcher);
        Some(format!("{metric}{}", self.with(&parts)))
    }

    /// The latency buckets' selector and the microseconds per unit, when the server has them.
    fn latency(&self, extra: &[&str]) -> Option<(String, f64)> {
        let (metric, micros) = self.family.latency().filter(|_| self.has_latency)?;
        Some((format!("{metric}{}", self.with(extra)), micros))
    }
}

/// The edge families the server has series of, from its metric names.
pub async fn present_families(
    client: &PrometheusClient,
    window: Duration,
) -> Result<Vec<PresentFamily>, PrometheusError> {
    let names = client.metric_names().await?;
    let mut present = Vec::new();
    for family in EdgeFamily::ALL {
        if !names.contains(family.requests_metric())
            || (family == EdgeFamily::LinkerdRequests
                && names.contains(EdgeFamily::LinkerdResponses.requests_metric()))
        {
            continue;
        }
        let mut matchers = family.base_matchers().to_owned();
        if matches!(family, EdgeFamily::Istio | EdgeFamily::IstioTcp) {
            // Both proxies report a call; counting one side keeps the numbers true. The source
            // side names the calling workload, so prefer it where it exists.
            let source = client
                .series(
                    &format!("{}{{reporter=\"source\"}}", family.requests_metric()),
                    window,
                )
                .await?;
            if !source.is_empty() {
                matchers = "reporter=\"source\"".into();
            } else {
                matchers = "reporter=\"destination\"".into();
            }
        }
        present.push(PresentFamily {
            family,
            matchers,
            has_errors: family
                .errors()
                .is_some_and(|(metric, _)| names.contains(metric)),
            has_latency: family
                .latency()
                .is_some_and(|(metric, _)| names.contains(metric)),
        });
    }
    Ok(present)
}

/// A window as PromQL spells it.
fn range(window: Duration) -> String {
    format!("{}s", window.as_secs().max(1))
}

/// Samples keyed by their label sets.
fn keyed(samples: Vec<Sample>) -> BTreeMap<BTreeMap<String, String>, f64> {
    samples
        .into_iter()
        .filter(|s| s.value.is_finite())
        .map(|s| (s.labels, s.value))
        .collect()
}

/// Calls observed over the last `window`, with what the data says about them.
#[derive(Clone, Debug, Default)]
pub struct ObservedCalls {
    /// One call per (caller, callee) label set with at least one request in the window.
    pub calls: Vec<NamedCall>,
    /// The metrics they came from.
    pub metrics: Vec<String>,
}

/// Reads every edge family the server has over the last `window`.
pub async fn read_calls(
    client: &PrometheusClient,
    window: Duration,
) -> Result<ObservedCalls, PrometheusError> {
    let families = present_families(client, window).await?;
    let mut observed = ObservedCalls::default();
    let w = range(window);
    for present in &families {
        let by = present.family.edge_labels();
        let requests = keyed(
            client
                .query(&format!(
                    "sum by ({by}) (increase({}[{w}]))",
                    present.requests(&[])
                ))
                .await?,
        );
        let errors = match present.errors(&[]) {
            Some(errors) => keyed(
                client
                    .query(&format!("sum by ({by}) (increase({errors}[{w}]))"))
                    .await?,
            ),
            None => BTreeMap::new(),
        };
        let mut quantiles: [BTreeMap<BTreeMap<String, String>, f64>; 2] = Default::default();
        if let Some((buckets, micros)) = present.latency(&[]) {
            for (slot, q) in quantiles.iter_mut().zip(["0.5", "0.99"]) {
                *slot = keyed(
                    client
                        .query(&format!(
                            "{micros} * histogram_quantile({q}, sum by (le, {by}) (rate({buckets}[{w}])))"
                        ))
                        .await?,
                );
            }
        }
        let origin = present.family.requests_metric().to_owned();
        for (labels, count) in requests {
            let requests = count.round();
            if requests < 1.0 {
                continue; // no call in the window: nothing observed
            }
            let (caller, callee) = present.family.hints(&labels);
            let micros = |slot: usize| quantiles[slot].get(&labels).map(|v| v.round() as u64);
            observed.calls.push(NamedCall {
                caller,
                callee,
                evidence: Evidence::Traffic(TrafficEvidence {
                    origin: origin.clone(),
                    window_seconds: Some(window.as_secs()),
                    requests: requests as u64,
                    errors: errors.get(&labels).map_or(0, |e| e.round().max(0.0) as u64),
                    p50_micros: micros(0),
                    p99_micros: micros(1),
                }),
            });
        }
        observed.metrics.push(origin);
    }
    Ok(observed)
}

/// Per-Service baselines over the last `window`: success ratio, p99 latency and call rate of
/// the calls into each Service of `map` an edge family counts.
pub async fn measure_baselines(
    client: &PrometheusClient,
    map: &ServiceMap,
    window: Duration,
) -> Result<Measurements, PrometheusError> {
    let families = present_families(client, window).await?;
    let index = NameIndex::new(map);
    let w = range(window);
    let mut services: BTreeMap<String, ServiceBaseline> = BTreeMap::new();
    // Only a family that counts failures says what "steady" is.
    for present in families.iter().filter(|f| f.has_errors) {
        let keys = present.family.service_labels();
        let by = keys.join(", ");
        let rates = keyed(
            client
                .query(&format!(
                    "sum by ({by}) (rate({}[{w}]))",
                    present.requests(&[])
                ))
                .await?,
        );
        let errors = match present.errors(&[]) {
            Some(errors) => keyed(
                client
                    .query(&format!("sum by ({by}) (rate({errors}[{w}]))"))
                    .await?,
            ),
            None => BTreeMap::new(),
        };
        let p99 = match present.latency(&[]) {
            Some((buckets, micros)) => keyed(
                client
                    .query(&format!(
                        "{} * histogram_quantile(0.99, sum by (le, {by}) (rate({buckets}[{w}])))",
                        micros / 1000.0
                    ))
                    .await?,
            ),
            None => BTreeMap::new(),
        };
        for (labels, rate) in rates {
            if rate <= 0.0 {
                continue;
            }
            let (_, callee) = present.family.hints(&labels);
            let Ok(Callee::Service(service)) = index.callee(&callee, Matching::Exact) else {
                continue;
            };
            if services.contains_key(service.as_str()) {
                continue; // an earlier family already measures it
            }
            let this = exact_matchers(&labels, keys);
            let measure = |over: &str| -> (String, String, String) {
                let total = format!("sum(rate({}[{over}]))", present.requests(&[&this]));
                let failed = present
                    .errors(&[&this])
                    .map(|e| format!("(sum(rate({e}[{over}])) or vector(0))"));
                let success = match failed {
                    Some(failed) => format!("100 * (1 - {failed} / {total})"),
                    None => format!("100 * ({total} > bool 0)"),
                };
                let p99 = present
                    .latency(&[&this])
                    .map(|(buckets, micros)| {
                        format!(
                            "{} * histogram_quantile(0.99, sum by (le) (rate({buckets}[{over}])))",
                            micros / 1000.0
                        )
                    })
                    .unwrap_or_default();
                (success, p99, format!("60 * {total}"))
            };
            let (live_success, live_p99, live_rate) = measure(LIVE_WINDOW);
            let (base_success, base_p99, base_rate) = measure(&w);
            let error_rate = errors.get(&labels).copied().unwrap_or(0.0);
            let success = 100.0 * (1.0 - error_rate / rate);
            let milli = |v: f64| (v * 1000.0).round() as i64;
            services.insert(
                service.as_str().to_owned(),
                ServiceBaseline {
                    service,
                    origin: present.family.requests_metric().to_owned(),
                    success_percent: MeasuredQuery {
                        query: live_success,
                        baseline_query: base_success,
                        baseline_milli: milli(success.clamp(0.0, 100.0)),
                    },
                    p99_millis: p99.get(&labels).map(|&v| MeasuredQuery {
                        query: live_p99,
                        baseline_query: base_p99,
                        baseline_milli: milli(v),
                    }),
                    requests_per_minute: MeasuredQuery {
                        query: live_rate,
                        baseline_query: base_rate,
                        baseline_milli: milli(60.0 * rate),
                    },
                },
            );
        }
    }
    Ok(Measurements {
        source: client.url().to_owned(),
        window_seconds: window.as_secs(),
        services: services.into_values().collect(),
    })
}
