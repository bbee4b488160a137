//! The operator: controllers for ExperimentProposal (run approved experiments) and ChaosAnalysis
//! (the analysis pipeline; see [`analysis`] and its [`steps`]), gated by a leader Lease, with an
//! HTTP server for probes and metrics.
//!
//! Every replica watches (so caches are warm and `/readyz` means something), but only the replica
//! holding the Lease writes: reconcilers return early on followers (see [`prologue`]), and
//! winning the election triggers a reconcile of every object.
//!
//! Where things are: [`context`] (what reconciles share), [`error`] (why one failed),
//! [`operator`] (start-up and shutdown), [`reasons`] (condition and event reasons).

pub mod analysis;
pub mod architecture;
pub mod checks;
pub mod context;
pub mod deadman;
pub mod error;
pub mod halt;
pub mod http_check;
pub mod injection;
pub mod leader;
pub mod operator;
pub mod prologue;
pub mod proposals;
pub mod provider;
pub mod reasons;
pub mod run;
pub mod steps;
pub mod telemetry;
pub mod tenancy;
pub mod timeline;
pub mod workflow_run;

pub(crate) use context::publish_event;
pub use context::{Backoff, Context, ControllerSettings};
pub use error::Error;
pub use operator::{Operator, OperatorConfig, RunError};
pub use prologue::error_policy;

/// A leading (or following) context whose API server answers every request with `answer`.
#[cfg(test)]
pub(crate) fn test_context(leading: bool, answer: serde_json::Value) -> Context {
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    let service = tower::service_fn(move |_request: hyper::Request<kube::client::Body>| {
        let body = body.clone();
        async move {
            Ok::<_, std::convert::Infallible>(hyper::Response::new(kube::client::Body::from(body)))
        }
    });
    let client = kube::Client::new(service, "default");
    let mut registry = crate::metrics::registry();
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::register(&mut registry));
    let (_, leading) = tokio::sync::watch::channel(leading);
    Context::new(
        client,
        "test",
        metrics,
        ControllerSettings::default(),
        leading,
    )
}
