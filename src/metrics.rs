//! The operator's Prometheus metrics: one registry, prefix `smart_chaos_`, bounded labels only
//! (controller names, error categories, states, providers and models; never object names).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets, linear_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Labels naming a controller (`proposals`, `analyses`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: &'static str,
}

/// Labels of a failed reconcile: the controller and the error's category.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub controller: &'static str,
    pub error: &'static str,
}

/// Labels of the proposals gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

/// Labels of the analyses gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: &'static str,
}

/// Labels of model token counts. Models are bounded by configuration, not by cluster data.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmLabels {
    pub provider: String,
    pub model: String,
    /// `input` or `output`.
    pub direction: &'static str,
}

fn duration_histogram() -> Histogram {
    // 5 ms to about 80 s: reconciles range from a cache hit to a full model run.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every metric the operator exports.
#[derive(Debug)]
pub struct Metrics {
    reconcile_runs: Family<ControllerLabels, Counter>,
    reconcile_failures: Family<FailureLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
    proposals: Family<StateLabels, Gauge>,
    analyses: Family<PhaseLabels, Gauge>,
    llm_tokens: Family<LlmLabels, Counter>,
    llm_cost_usd: Counter<f64, AtomicU64>,
    leader: Gauge,
    resilience_score: Histogram,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry` (which should carry the
    /// `smart_chaos` prefix; see [`registry`]).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Metrics {
            reconcile_runs: Family::default(),
            reconcile_failures: Family::default(),
            reconcile_duration: Family::new_with_constructor(duration_histogram),
            proposals: Family::default(),
            analyses: Family::default(),
            llm_tokens: Family::default(),
            llm_cost_usd: Counter::default(),
            leader: Gauge::default(),
            // Buckets of ten points: how many analyses score how well, without naming any.
            resilience_score: Histogram::new(linear_buckets(10.0, 10.0, 10)),
        };
        registry.register(
            "reconcile_runs",
            "Reconciles started, by controller",
            metrics.reconcile_runs.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that failed, by controller and error category",
            metrics.reconcile_failures.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "How long reconciles take, by controller",
            Unit::Seconds,
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "proposals",
            "ExperimentProposals by approval state",
            metrics.proposals.clone(),
        );
        registry.register(
            "analyses",
            "ChaosAnalyses by phase",
            metrics.analyses.clone(),
        );
        registry.register(
            "llm_tokens",
            "Model tokens used, by provider, model and direction",
            metrics.llm_tokens.clone(),
        );
        registry.register(
            "llm_cost_usd",
            "Estimated model cost in US dollars",
            metrics.llm_cost_usd.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            metrics.leader.clone(),
        );
        registry.register(
            "analysis_resilience_score",
            "Resilience scores (0 to 100) of analysis runs",
            metrics.resilience_score.clone(),
        );
        metrics
    }

    /// Counts a reconcile and measures it until the returned guard is dropped.
    pub fn reconcile(&self, controller: &'static str) -> ReconcileMeasurer<'_> {
        let labels = ControllerLabels { controller };
        self.reconcile_runs.get_or_create(&labels).inc();
        ReconcileMeasurer {
            metrics: self,
            labels,
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failure(&self, controller: &'static str, error: &'static str) {
        self.reconcile_failures
            .get_or_create(&FailureLabels { controller, error })
            .inc();
    }

    /// Replaces the proposal counts with `counts` (state → number).
    pub fn set_proposals(&self, counts: &[(&'static str, i64)]) {
        self.proposals.clear();
        for (state, n) in counts {
            self.proposals.get_or_create(&StateLabels { state }).set(*n);
        }
    }

    /// Replaces the analysis counts with `counts` (phase → number).
    pub fn set_analyses(&self, counts: &[(&'static str, i64)]) {
        self.analyses.clear();
        for (phase, n) in counts {
            self.analyses.get_or_create(&PhaseLabels { phase }).set(*n);
        }
    }

    /// Records model usage: `input_tokens` billed at the full rate, `cached_input_tokens` read
    /// from the prompt cache (direction `cached_input`), output tokens.
    pub fn record_llm_usage(
        &self,
        provider: &str,
        model: &str,
        input_tokens: u64,
        cached_input_tokens: u64,
        output_tokens: u64,
        cost_usd: f64,
    ) {
        for (direction, tokens) in [
            ("input", input_tokens),
            ("cached_input", cached_input_tokens),
            ("output", output_tokens),
        ] {
            self.llm_tokens
                .get_or_create(&LlmLabels {
                    provider: provider.to_string(),
                    model: model.to_string(),
                    direction,
                })
                .inc_by(tokens);
        }
        if cost_usd.is_finite() && cost_usd > 0.0 {
            self.llm_cost_usd.inc_by(cost_usd);
        }
    }

    /// Records the resilience score of an analysis run.
    pub fn observe_score(&self, score: u32) {
        self.resilience_score.observe(f64::from(score));
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

/// Observes a reconcile's duration when dropped, whatever way the reconcile ends.
pub struct ReconcileMeasurer<'a> {
    metrics: &'a Metrics,
    labels: ControllerLabels,
    start: Instant,
}

impl Drop for ReconcileMeasurer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_duration
            .get_or_create(&self.labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// A registry with the `smart_chaos` prefix.
pub fn registry() -> Registry {
    Registry::with_prefix("smart_chaos")
}

/// The registry in the OpenMetrics text format.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        let mut registry = registry();
        let metrics = Metrics::register(&mut registry);
        drop(metrics.reconcile("proposals"));
        metrics.reconcile_failure("proposals", "Kube");
        metrics.set_proposals(&[("Pending", 2), ("Approved", 1)]);
        metrics.set_analyses(&[("Ready", 1)]);
        metrics.record_llm_usage("bedrock", "claude", 100, 900, 20, 0.25);
        metrics.set_leader(true);
        metrics.observe_score(63);
        let text = encode(&registry).unwrap();
        for expected in [
            "smart_chaos_reconcile_runs_total{controller=\"proposals\"} 1",
            "smart_chaos_reconcile_failures_total{controller=\"proposals\",error=\"Kube\"} 1",
            "smart_chaos_reconcile_duration_seconds_count{controller=\"proposals\"} 1",
            "smart_chaos_proposals{state=\"Pending\"} 2",
            "smart_chaos_analyses{phase=\"Ready\"} 1",
            "smart_chaos_llm_tokens_total{provider=\"bedrock\",model=\"claude\",direction=\"input\"} 100",
            "smart_chaos_llm_tokens_total{provider=\"bedrock\",model=\"claude\",direction=\"cached_input\"} 900",
            "smart_chaos_llm_cost_usd_total 0.25",
            "smart_chaos_leader 1",
            "smart_chaos_analysis_resilience_score_count 1",
            "smart_chaos_analysis_resilience_score_bucket{le=\"70.0\"} 1",
            "smart_chaos_analysis_resilience_score_bucket{le=\"60.0\"} 0",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn replacing_counts_drops_states_that_are_gone() {
        let mut registry = registry();
        let metrics = Metrics::register(&mut registry);
        metrics.set_proposals(&[("Pending", 2)]);
        metrics.set_proposals(&[("Approved", 1)]);
        let text = encode(&registry).unwrap();
        assert!(!text.contains("state=\"Pending\""), "{text}");
        assert!(text.contains("smart_chaos_proposals{state=\"Approved\"} 1"));
    }
}
