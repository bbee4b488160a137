//! What every reconcile shares: the client, the event recorder, metrics, settings, per-object
//! backoff and the leadership flag.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Settings of the reconcilers.
#[derive(Clone, Debug)]
pub struct ControllerSettings {
    /// How often a running experiment's checks are evaluated.
    pub check_interval: Duration,
    /// How long an experiment with no duration (e.g. a one-shot pod-kill) is observed.
    pub default_window: Duration,
    /// The longest experiment the operator creates (see [`super::deadman`]).
    pub max_experiment_duration: Duration,
    /// How often an analysis' scope is read again to compare its map hash.
    pub map_check_interval: Duration,
    /// The operator's own namespace: never a target unless an analysis allows system namespaces.
    pub operator_namespace: Option<String>,
    /// Chaos Mesh's namespace filter is on for every analysis (see
    /// `Guardrails::chaos_mesh_namespace_filter`).
    pub chaos_mesh_namespace_filter: bool,
    /// Timeouts, retries and concurrency of model calls.
    pub llm_settings: crate::llm::LlmSettings,
    /// Where Http checks may point beyond in-cluster Services (see
    /// [`crate::analysis::check_target`]).
    pub check_targets: crate::analysis::check_target::CheckTargetSettings,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        ControllerSettings {
            check_interval: Duration::from_secs(5),
            default_window: Duration::from_secs(60),
            max_experiment_duration: super::deadman::DEFAULT_MAX_EXPERIMENT_DURATION,
            map_check_interval: Duration::from_secs(60),
            operator_namespace: None,
            chaos_mesh_namespace_filter: false,
            llm_settings: crate::llm::LlmSettings::default(),
            check_targets: Default::default(),
        }
    }
}

/// Per-object failure counts, for exponential backoff that kube-runtime does not do per object.
/// Keys come from [`super::prologue::backoff_key`], which includes the kind.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// The delay after one more failure of `key`: 2 s doubling to 5 min, plus up to 1 s of jitter.
    pub fn next(&self, key: &str) -> Duration {
        let attempts = match self.failures.lock() {
            Ok(mut map) => {
                let n = map.entry(key.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let base = Duration::from_secs(2)
            .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(10)))
            .min(Duration::from_secs(300));
        // Jitter without a random number generator: the clock's sub-second part is spread enough
        // to keep objects that failed together from retrying together.
        let jitter_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_millis()))
            .unwrap_or(0);
        base + Duration::from_millis(jitter_ms)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    /// The operator's client (its service account in a cluster).
    pub client: Client,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// The operator's metrics.
    pub metrics: Arc<Metrics>,
    /// Reconciler settings.
    pub config: ControllerSettings,
    /// Per-object retry delays.
    pub backoff: Backoff,
    /// Stage results of model engines, so an unchanged re-analysis costs no tokens while the
    /// process lives (keyed by stage, prompt version, model and input hash).
    pub llm_cache: Arc<crate::llm::MemoryCache>,
    /// The kill switch as last seen (see [`super::halt`]).
    pub halt: super::halt::HaltSwitch,
    /// Probes `Http` steady-state checks.
    pub http_prober: super::http_check::HttpProber,
    leading: watch::Receiver<bool>,
}

impl Context {
    /// A context; `leading` says whether this replica may write.
    pub fn new(
        client: Client,
        identity: &str,
        metrics: Arc<Metrics>,
        config: ControllerSettings,
        leading: watch::Receiver<bool>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "smart-chaos".into(),
                instance: Some(identity.into()),
            },
        );
        Context {
            client,
            recorder,
            metrics,
            config,
            backoff: Backoff::default(),
            llm_cache: Arc::new(crate::llm::MemoryCache::new()),
            halt: super::halt::HaltSwitch::default(),
            http_prober: super::http_check::HttpProber::default(),
            leading,
        }
    }

    /// Whether this replica holds the leader Lease.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }
}

/// Publishes an event about `object`; a failure to publish is logged, never fatal.
pub(crate) async fn publish_event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    action: &str,
    type_: EventType,
    reason: &str,
    note: Option<String>,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        // Event notes are limited to 1 kB.
        note: note.map(|n| n.chars().take(1000).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(%error, reason, "publishing an event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let backoff = Backoff::default();
        let first = backoff.next("a");
        let second = backoff.next("a");
        assert!(first >= Duration::from_secs(2) && first < Duration::from_secs(3));
        assert!(second >= Duration::from_secs(4) && second < Duration::from_secs(5));
        for _ in 0..20 {
            backoff.next("a");
        }
        assert!(backoff.next("a") < Duration::from_secs(301));
        backoff.reset("a");
        assert!(backoff.next("a") < Duration::from_secs(3));
        assert!(backoff.next("b") < Duration::from_secs(3));
    }
}
