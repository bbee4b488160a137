//! The operator's start-up: the HTTP server, the leader election, the CRD check, both
//! controllers with their watches, readiness and gauges, and an orderly shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller;
use kube::runtime::events::{Event, EventType};
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource};
use tokio::sync::watch;

use super::leader::{LeaderElector, LeaseSettings};
use super::prologue::error_policy;
use super::steps::watches;
use super::{Context, ControllerSettings, Error, analysis, proposals};
use crate::api::{ChaosAnalysis, ExperimentProposal};
use crate::http::{Health, HttpServer, HttpState};
use crate::metrics::Metrics;

/// Everything `run` needs.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Reconciler settings.
    pub controller: ControllerSettings,
    /// The leader Lease; its identity is this replica's name in events.
    pub lease: LeaseSettings,
    /// Watch only this namespace (all namespaces when `None`).
    pub watch_namespace: Option<String>,
    /// Where `/livez`, `/healthz`, `/readyz` and `/metrics` listen.
    pub http_addr: SocketAddr,
}

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("binding the HTTP server to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A stream that yields when this replica becomes leader: at once if it already is when first
/// polled, then whenever the flag changes to true. The elector only notifies on real changes, so a
/// renewal does not trigger anything, and a quick lose-and-regain between polls still yields.
fn leadership_gained(leading: watch::Receiver<bool>) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold((leading, true), |(mut rx, first)| async move {
        if first && *rx.borrow_and_update() {
            return Some(((), (rx, false)));
        }
        loop {
            rx.changed().await.ok()?;
            if *rx.borrow_and_update() {
                return Some(((), (rx, false)));
            }
        }
    })
}

fn api_for<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Publishes a failed reconcile as a Warning event on its object (the single place errors become
/// events), and counts it.
async fn report_failure(
    ctx: &Context,
    controller_name: &'static str,
    error: controller::Error<Error, watcher::Error>,
) {
    match error {
        controller::Error::ReconcilerFailed(error, obj_ref) => {
            ctx.metrics
                .reconcile_failure(controller_name, error.category());
            tracing::warn!(object = %obj_ref, %error, category = error.category(), "reconcile failed");
            if ctx.is_leader() {
                let reference: ObjectReference = (*obj_ref).into();
                let event = Event {
                    type_: EventType::Warning,
                    reason: error.category().into(),
                    note: Some(error.to_string().chars().take(1000).collect()),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                if let Err(e) = ctx.recorder.publish(&event, &reference).await {
                    tracing::warn!(error = %e, "publishing a failure event");
                }
            }
        }
        other => tracing::debug!(error = %other, "controller"),
    }
}

/// Waits until our CRDs answer (so that a missing install is visible in logs and `/readyz`).
async fn wait_for_crds(client: &Client, namespace: Option<&str>, stop: &watch::Receiver<bool>) {
    let proposals: Api<ExperimentProposal> = api_for(client, namespace);
    let analyses: Api<ChaosAnalysis> = api_for(client, namespace);
    loop {
        let probe = ListParams::default().limit(1);
        let ok = proposals.list_metadata(&probe).await;
        let ok2 = analyses.list_metadata(&probe).await;
        match (ok, ok2) {
            (Ok(_), Ok(_)) => return,
            (Err(e), _) | (_, Err(e)) => tracing::error!(
                error = %e,
                "our CRDs do not answer; install them with `smart-chaos crds --with-policy | kubectl apply -f -`"
            ),
        }
        if *stop.borrow() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Counts proposals by approval state and analyses by phase from the controllers' caches. Every
/// state is reported, zero included, so that dashboards see a state empty out.
fn update_gauges(
    metrics: &Metrics,
    proposals: &kube::runtime::reflector::Store<DeserializeGuard<ExperimentProposal>>,
    analyses: &kube::runtime::reflector::Store<DeserializeGuard<ChaosAnalysis>>,
) {
    use crate::api::{AnalysisPhase, ApprovalState};
    let state_label = |s: ApprovalState| match s {
        ApprovalState::Pending => "Pending",
        ApprovalState::Approved => "Approved",
        ApprovalState::Rejected => "Rejected",
    };
    let mut by_state: BTreeMap<&'static str, i64> = ["Pending", "Approved", "Rejected"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for p in proposals.state() {
        if let Ok(p) = &p.0 {
            *by_state
                .entry(state_label(p.spec.approval.state))
                .or_default() += 1;
        }
    }
    metrics.set_proposals(&by_state.into_iter().collect::<Vec<_>>());

    let phase_label = |p: Option<AnalysisPhase>| match p {
        None | Some(AnalysisPhase::Pending) => "Pending",
        Some(AnalysisPhase::Analyzing) => "Analyzing",
        Some(AnalysisPhase::Ready) => "Ready",
        Some(AnalysisPhase::Failed) => "Failed",
    };
    let mut by_phase: BTreeMap<&'static str, i64> = ["Pending", "Analyzing", "Ready", "Failed"]
        .into_iter()
        .map(|p| (p, 0))
        .collect();
    for a in analyses.state() {
        if let Ok(a) = &a.0 {
            *by_phase
                .entry(phase_label(a.status.as_ref().and_then(|s| s.phase)))
                .or_default() += 1;
        }
    }
    metrics.set_analyses(&by_phase.into_iter().collect::<Vec<_>>());
}

/// How long loops may take to finish after a shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs `work`; if it ends before shutdown was asked for, the operator is unhealthy (`/healthz`
/// fails, so the kubelet restarts it). After a shutdown request it gets [`SHUTDOWN_GRACE`] to end
/// and is then dropped, or at once while `synced` is still false: a kube-runtime Controller asked
/// to shut down before its store's first list completed waits for that list forever (its runner
/// is held until the store is ready, and the watch feeding the store has already been cut), and
/// until then it cannot have started a reconcile either.
async fn watched(
    name: &'static str,
    work: impl Future<Output = ()>,
    health: Arc<Health>,
    stop: watch::Receiver<bool>,
    synced: Option<Arc<AtomicBool>>,
) {
    let mut grace = stop.clone();
    let grace_over = async move {
        let _ = grace.wait_for(|s| *s).await;
        if synced.is_some_and(|s| !s.load(Ordering::Acquire)) {
            return;
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        tracing::warn!(
            loop_name = name,
            "loop did not stop within the shutdown grace period"
        );
    };
    tokio::select! {
        () = work => tracing::debug!(loop_name = name, "loop ended"),
        () = grace_over => tracing::debug!(loop_name = name, "loop dropped"),
    }
    if !*stop.borrow() {
        tracing::error!(loop_name = name, "a loop the operator needs has stopped");
        health.set_unhealthy();
    }
}

/// Sets `flag` once `store` has listed everything.
async fn mark_synced<K>(store: kube::runtime::reflector::Store<K>, flag: Arc<AtomicBool>)
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    if store.wait_until_ready().await.is_ok() {
        flag.store(true, Ordering::Release);
    }
}

/// A running operator: call [`Operator::run`] to drive it.
pub struct Operator {
    client: Client,
    config: OperatorConfig,
    http: HttpServer,
}

impl Operator {
    /// Binds the HTTP server; nothing talks to the API server yet.
    pub async fn bind(client: Client, config: OperatorConfig) -> Result<Self, RunError> {
        let http = HttpServer::bind(config.http_addr)
            .await
            .map_err(|source| RunError::Bind {
                addr: config.http_addr,
                source,
            })?;
        Ok(Operator {
            client,
            config,
            http,
        })
    }

    /// The address the HTTP server listens on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.local_addr().ok()
    }

    /// Runs until `shutdown` resolves: the HTTP server, the leader election and both controllers.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        let Operator {
            client,
            config,
            http,
        } = self;
        let mut registry = crate::metrics::registry();
        let metrics = Arc::new(Metrics::register(&mut registry));
        let health = Arc::new(Health::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_task = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop_tx.send_replace(true);
            // Keep the sender alive until every receiver has seen the stop.
            stop_tx.closed().await;
        });

        let state = HttpState {
            registry: Arc::new(registry),
            health: health.clone(),
        };
        let http_task = tokio::spawn(http.serve(state, stopped(stop_rx.clone())));

        let (leading_tx, leading_rx) = watch::channel(false);
        let elector = LeaderElector::new(client.clone(), config.lease.clone());
        let election = {
            let metrics = metrics.clone();
            let mut observe = leading_rx.clone();
            let stop = stopped(stop_rx.clone());
            async move {
                let mirror = async {
                    while observe.changed().await.is_ok() {
                        metrics.set_leader(*observe.borrow_and_update());
                    }
                };
                tokio::select! {
                    () = elector.run(leading_tx, stop) => {}
                    () = mirror => {}
                }
            }
        };

        wait_for_crds(&client, config.watch_namespace.as_deref(), &stop_rx).await;
        health.set_crds_checked();

        let ctx = Arc::new(Context::new(
            client.clone(),
            &config.lease.identity,
            metrics.clone(),
            config.controller.clone(),
            leading_rx.clone(),
        ));
        let ns = config.watch_namespace.as_deref();
        let proposals = Controller::new(
            api_for::<DeserializeGuard<ExperimentProposal>>(&client, ns),
            watcher::Config::default().any_semantic(),
        )
        .reconcile_all_on(leadership_gained(leading_rx.clone()))
        .graceful_shutdown_on(stopped(stop_rx.clone()));
        let analyses = Controller::new(
            api_for::<DeserializeGuard<ChaosAnalysis>>(&client, ns),
            watcher::Config::default().any_semantic(),
        )
        .reconcile_all_on(leadership_gained(leading_rx.clone()))
        .graceful_shutdown_on(stopped(stop_rx.clone()));
        let analyses = watches::watch_scopes(analyses, &client);

        let proposal_store = proposals.store();
        let analysis_store = analyses.store();
        let proposals_synced = Arc::new(AtomicBool::new(false));
        let analyses_synced = Arc::new(AtomicBool::new(false));
        let readiness = {
            let health = health.clone();
            let proposals = mark_synced(proposal_store.clone(), proposals_synced.clone());
            let analyses = mark_synced(analysis_store.clone(), analyses_synced.clone());
            let both = [proposals_synced.clone(), analyses_synced.clone()];
            async move {
                tokio::join!(proposals, analyses);
                if both.iter().all(|s| s.load(Ordering::Acquire)) {
                    health.set_synced();
                }
            }
        };
        let gauges = {
            let metrics = metrics.clone();
            let mut stop = stop_rx.clone();
            async move {
                loop {
                    update_gauges(&metrics, &proposal_store, &analysis_store);
                    tokio::select! {
                        _ = stop.wait_for(|s| *s) => break,
                        () = tokio::time::sleep(Duration::from_secs(10)) => {}
                    }
                }
            }
        };
        let proposal_loop = {
            let ctx = ctx.clone();
            proposals
                .run(proposals::reconcile, error_policy, ctx.clone())
                .for_each(move |result| {
                    let ctx = ctx.clone();
                    async move {
                        if let Err(error) = result {
                            report_failure(&ctx, proposals::CONTROLLER, error).await;
                        }
                    }
                })
        };
        let analysis_loop = {
            let ctx = ctx.clone();
            analyses
                .run(analysis::reconcile_analysis, error_policy, ctx.clone())
                .for_each(move |result| {
                    let ctx = ctx.clone();
                    async move {
                        if let Err(error) = result {
                            report_failure(&ctx, analysis::CONTROLLER, error).await;
                        }
                    }
                })
        };
        tokio::join!(
            watched(
                "leader-election",
                election,
                health.clone(),
                stop_rx.clone(),
                None
            ),
            watched(
                "proposals",
                proposal_loop,
                health.clone(),
                stop_rx.clone(),
                Some(proposals_synced),
            ),
            watched(
                "analyses",
                analysis_loop,
                health.clone(),
                stop_rx.clone(),
                Some(analyses_synced),
            ),
            readiness,
            gauges,
        );
        drop(stop_rx);
        stop_task.abort();
        match http_task.await {
            Ok(result) => result.map_err(RunError::Serve),
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leadership_gained_fires_once_per_election() {
        let (tx, rx) = watch::channel(true);
        let mut gained = Box::pin(leadership_gained(rx));
        // Already leader when first polled.
        assert_eq!(gained.next().await, Some(()));
        tx.send_replace(false);
        tx.send_replace(true);
        assert_eq!(gained.next().await, Some(()));
        drop(tx);
        assert_eq!(gained.next().await, None);
    }
}
