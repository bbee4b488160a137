//! The operator: controllers for ExperimentProposal (run approved experiments) and ChaosAnalysis
//! (the analysis pipeline; see [`analysis`]), gated by a leader Lease, with an HTTP server for
//! probes and metrics.
//!
//! Every replica watches (so caches are warm and `/readyz` means something), but only the replica
//! holding the Lease writes: reconcilers return early on followers, and winning the election
//! triggers a reconcile of every object.

pub mod analysis;
pub mod checks;
pub mod injection;
pub mod leader;
pub mod proposals;
pub mod provider;
pub mod run;
pub mod telemetry;
pub mod tenancy;
pub mod timeline;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource};
use tokio::sync::watch;

use crate::api::{ChaosAnalysis, ExperimentProposal};
use crate::http::{Health, HttpServer, HttpState};
use crate::metrics::Metrics;
use leader::{LeaderElector, LeaseSettings};

/// Settings of the reconcilers.
#[derive(Clone, Debug)]
pub struct ControllerSettings {
    /// How often a running experiment's checks are evaluated.
    pub check_interval: Duration,
    /// How long an experiment with no duration (e.g. a one-shot pod-kill) is observed.
    pub default_window: Duration,
    /// How often an analysis' scope is read again to compare its map hash.
    pub map_check_interval: Duration,
    /// The operator's own namespace: never a target unless an analysis allows system namespaces.
    pub operator_namespace: Option<String>,
    /// Chaos Mesh's namespace filter is on for every analysis (see
    /// `Guardrails::chaos_mesh_namespace_filter`).
    pub chaos_mesh_namespace_filter: bool,
    /// Timeouts, retries and concurrency of model calls.
    pub llm_settings: crate::llm::LlmSettings,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        ControllerSettings {
            check_interval: Duration::from_secs(5),
            default_window: Duration::from_secs(60),
            map_check_interval: Duration::from_secs(60),
            operator_namespace: None,
            chaos_mesh_namespace_filter: false,
            llm_settings: crate::llm::LlmSettings::default(),
        }
    }
}

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

/// Per-object failure counts, for exponential backoff that kube-runtime does not do per object.
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
            leading,
        }
    }

    /// Whether this replica holds the leader Lease.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name} cannot be read as our type: {reason}")]
    InvalidObject { name: String, reason: String },
    #[error("the object has no {0}")]
    MissingMetadata(&'static str),
    #[error(transparent)]
    Check(#[from] checks::CheckError),
    #[error("reading the Chaos Mesh resource {name}: {source}")]
    ReadChaos {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("applying the Chaos Mesh resource {name}: {source}")]
    ApplyChaos {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    #[error("the spec cannot be analysed: {0}")]
    InvalidSpec(String),
    #[error("reading namespaces: {0}")]
    ReadNamespaces(#[source] kube::Error),
    #[error(transparent)]
    ReadCluster(#[from] crate::snapshot::cluster::ClusterReadError),
    #[error("analysis failed: {0}")]
    Analysis(String),
    #[error("listing proposals: {0}")]
    ListProposals(#[source] kube::Error),
    #[error(transparent)]
    Review(#[from] tenancy::ReviewError),
    #[error("applying proposal {name}: {source}")]
    ApplyProposal {
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// The error's class, for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidObject { .. } => "InvalidObject",
            Error::MissingMetadata(_) => "MissingMetadata",
            Error::Check(_) => "SteadyStateCheck",
            Error::ReadChaos { .. } => "ReadChaosResource",
            Error::ApplyChaos { .. } => "ApplyChaosResource",
            Error::Status(_) => "WriteStatus",
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::ReadNamespaces(_) => "ReadNamespaces",
            Error::ReadCluster(_) => "ReadCluster",
            Error::Analysis(_) => "Analysis",
            Error::ListProposals(_) => "ListProposals",
            Error::Review(_) => "SubjectAccessReview",
            Error::ApplyProposal { .. } => "ApplyProposal",
        }
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        let invalid_request = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 400 || s.code == 404 || s.code == 422);
        match self {
            Error::InvalidObject { .. } | Error::MissingMetadata(_) => true,
            Error::ApplyChaos { source, .. } => invalid_request(source),
            Error::InvalidSpec(_) | Error::Analysis(_) => true,
            Error::ApplyProposal { source, .. } => invalid_request(source),
            Error::Check(_)
            | Error::ReadChaos { .. }
            | Error::Status(_)
            | Error::ReadNamespaces(_)
            | Error::ReadCluster(_)
            | Error::ListProposals(_)
            | Error::Review(_) => false,
        }
    }
}

/// Publishes an event about `object`; a failure to publish is logged, never fatal.
pub(crate) async fn publish_event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    action: &str,
    type_: kube::runtime::events::EventType,
    reason: &str,
    note: Option<String>,
) {
    let event = kube::runtime::events::Event {
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

/// What to do after a failed reconcile: wait for a change when retrying cannot help, otherwise
/// retry with per-object exponential backoff.
pub fn error_policy<K: Resource>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    );
    if error.is_permanent() {
        Action::await_change()
    } else {
        Action::requeue(ctx.backoff.next(&key))
    }
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
        let analyses = analysis::watch_scopes(analyses, &client);

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

    #[test]
    fn only_invalid_requests_are_permanent() {
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("x", "Reason")
                    .with_code(code)
                    .boxed(),
            )
        };
        let apply = |code| Error::ApplyChaos {
            name: "p".into(),
            source: api(code),
        };
        assert!(apply(422).is_permanent());
        assert!(apply(404).is_permanent());
        assert!(!apply(500).is_permanent());
        assert!(!Error::Status(api(409)).is_permanent());
        assert_eq!(apply(500).category(), "ApplyChaosResource");
    }
}
