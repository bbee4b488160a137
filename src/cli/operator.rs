//! `smart-chaos operator`: runs the controllers, the leader election and the HTTP endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

use crate::controller::leader::LeaseSettings;
use crate::controller::{ControllerSettings, Operator, OperatorConfig};
use crate::telemetry::{self, LogFormat};

/// Arguments of `smart-chaos operator`.
#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    /// Address of /livez, /healthz, /readyz and /metrics.
    #[arg(long, env = "SMART_CHAOS_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "SMART_CHAOS_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Namespace of the leader Lease (the operator's own; in a pod, POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "smart-chaos-system")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "smart-chaos-leader")]
    lease_name: String,
    /// This replica's identity in the Lease and in events (in a pod, POD_NAME).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease stays valid without renewal.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds between steady-state evaluations of a running experiment.
    #[arg(long, default_value_t = 5)]
    check_interval_seconds: u64,
    /// Seconds an experiment without a duration (a one-shot pod-kill) is observed.
    #[arg(long, default_value_t = 60)]
    default_window_seconds: u64,
    /// Seconds between re-reads of an analysis' scope to compare its map hash.
    #[arg(long, default_value_t = 60)]
    map_check_interval_seconds: u64,
    /// The longest experiment the operator creates, in seconds: a missing or longer duration is
    /// set to at most this, so Chaos Mesh ends every run by itself (the dead man's switch).
    #[arg(long, default_value_t = 300)]
    max_experiment_duration_seconds: u64,
    /// Chaos Mesh runs with its namespace filter on (`controllerManager.enableFilterNamespace`):
    /// no analysis proposes experiments for a namespace without `chaos-mesh.org/inject=enabled`.
    #[arg(long, env = "SMART_CHAOS_CHAOS_MESH_NAMESPACE_FILTER")]
    chaos_mesh_namespace_filter: bool,
    /// A host outside the cluster that Http checks may probe (e.g. an Ingress host); repeatable.
    /// In-cluster Service names of the namespaces a proposal targets are always allowed.
    #[arg(long = "http-check-allowed-host", value_name = "HOST")]
    http_check_allowed_hosts: Vec<String>,
    /// Let Http checks probe loopback (127.0.0.1, ::1, localhost). For tests that run their HTTP
    /// server beside the operator; in a cluster it would reach the operator's own pod.
    #[arg(long)]
    http_checks_allow_loopback: bool,
    /// Log format.
    #[arg(
        long,
        value_enum,
        env = "SMART_CHAOS_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "smart-chaos".into());
    format!("{host}-{}", std::process::id())
}

pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format).context("setting up logging")?;
    let identity = args.identity.unwrap_or_else(default_identity);
    let lease_duration = Duration::from_secs(args.lease_duration_seconds.max(2));
    let mut lease = LeaseSettings::new(&args.lease_namespace, &args.lease_name, &identity);
    lease.lease_duration = lease_duration;
    lease.renew_deadline = lease_duration.mul_f64(2.0 / 3.0);
    lease.retry_period = lease_duration / 7;
    let config = OperatorConfig {
        controller: ControllerSettings {
            check_interval: Duration::from_secs(args.check_interval_seconds.max(1)),
            default_window: Duration::from_secs(args.default_window_seconds),
            max_experiment_duration: Duration::from_secs(args.max_experiment_duration_seconds),
            map_check_interval: Duration::from_secs(args.map_check_interval_seconds.max(1)),
            operator_namespace: Some(args.lease_namespace.clone()),
            chaos_mesh_namespace_filter: args.chaos_mesh_namespace_filter,
            llm_settings: crate::llm::LlmSettings::default(),
            check_targets: crate::analysis::check_target::CheckTargetSettings {
                allowed_hosts: args.http_check_allowed_hosts.into_iter().collect(),
                allow_loopback: args.http_checks_allow_loopback,
            },
        },
        lease,
        watch_namespace: args.watch_namespace,
        http_addr: args.http_addr,
    };
    let client = kube::Client::try_default()
        .await
        .context("connecting to the API server (in-cluster config or KUBECONFIG)")?;
    let operator = Operator::bind(client, config).await?;
    tracing::info!(identity, http = ?operator.http_addr(), "smart-chaos operator starting");
    operator.run(shutdown_signal()).await?;
    tracing::info!("smart-chaos operator stopped");
    Ok(())
}

/// SIGTERM (from the kubelet) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
