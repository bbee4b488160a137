//! Benchmark: the operator's memory and time on clusters of two shapes, each loaded into a real
//! kube-apiserver of its own.
//!
//!   cargo bench --bench operator_memory                    # both shapes, a fresh API server each
//!   cargo bench --bench operator_memory -- production      # one shape: `production` or N objects
//!   SMART_CHAOS_TEST_APISERVER=DIR cargo bench --bench operator_memory -- 50000
//!
//! Without SMART_CHAOS_TEST_APISERVER the bench runs itself once per shape under
//! `scripts/with-apiserver.sh`, so that one shape's objects never weigh on the other's figures.
//! The shapes: `production`, a cluster shaped like a large production one (2,500 Services,
//! 2,500 workloads, 6,500 Pods, 300 namespaces: `synthetic::production`), and N synthetic
//! objects (the service-map benchmark's generator; Istio and Gateway API kinds are left out,
//! their CRDs are not installed).
//!
//! In each server the release `smart-chaos operator` runs as a child process, measured by its
//! /proc RSS: first on the empty cluster (the baseline), then on the loaded one: time to
//! `/readyz` (watches synced), idle RSS while it watches, and the peak RSS (VmHWM, reset before
//! the analysis) while a ChaosAnalysis scoped to every loaded namespace runs to Ready. It
//! prints the figures, the ratios to the baseline, the targets and PASS or FAIL, and exits
//! non-zero on a FAIL.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use smart_chaos::api::{
    AnalysisPhase, ChaosAnalysis, ChaosAnalysisSpec, REQUESTED_BY_ANNOTATION,
    REQUESTED_BY_GROUPS_ANNOTATION, Scope,
};
use smart_chaos::snapshot::KubeObject;
use smart_chaos::snapshot::synthetic::{self, production::ClusterShape};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type BenchResult<T> = Result<T, Box<dyn Error>>;

const BENCH_NAMESPACE: &str = "bench-analyses";
const OPERATOR_NAMESPACE: &str = "smart-chaos-system";
/// How long the operator may take to become ready, and an analysis to reach Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(900);
/// After `/readyz`, the operator settles this long before its idle RSS is read.
const SETTLE: Duration = Duration::from_secs(5);

/// A cluster to load.
#[derive(Clone, Copy, Debug)]
enum Shape {
    LargeProduction,
    Synthetic(usize),
}

impl Shape {
    fn parse(arg: &str) -> Option<Shape> {
        match arg {
            "production" => Some(Shape::LargeProduction),
            n => n.parse().ok().map(Shape::Synthetic),
        }
    }

    fn arg(self) -> String {
        match self {
            Shape::LargeProduction => "production".to_owned(),
            Shape::Synthetic(n) => n.to_string(),
        }
    }

    fn describe(self) -> String {
        match self {
            Shape::LargeProduction => {
                let s = ClusterShape::LARGE_PRODUCTION;
                format!(
                    "large production ({} Services, {} workloads, {} Pods, {} namespaces)",
                    s.applications, s.applications, s.pods, s.namespaces
                )
            }
            Shape::Synthetic(n) => format!("synthetic, {n} objects"),
        }
    }

    fn objects(self) -> Vec<KubeObject> {
        match self {
            Shape::LargeProduction => {
                synthetic::production::generate_cluster(ClusterShape::LARGE_PRODUCTION, 42)
            }
            Shape::Synthetic(n) => synthetic::generate_objects(n, 42),
        }
    }

    /// The targets: (idle RSS, peak RSS while analysing), in MiB.
    fn targets(self) -> (Option<f64>, Option<f64>) {
        match self {
            Shape::LargeProduction => (Some(128.0), Some(256.0)),
            Shape::Synthetic(n) if n >= 50_000 => (None, Some(400.0)),
            Shape::Synthetic(_) => (None, None),
        }
    }
}

/// A field of /proc/PID/status in MiB (`VmRSS`, `VmHWM`).
fn proc_status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the process's peak RSS (VmHWM) to its current RSS.
fn reset_peak(pid: u32) -> std::io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
}

async fn create<K>(client: &Client, object: K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let ns = object.meta().namespace.clone().unwrap_or_default();
    match Api::<K>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &object)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()), // already loaded by an earlier run
        Err(e) => Err(e),
    }
}

async fn load(client: &Client, object: KubeObject) -> Result<bool, kube::Error> {
    match object {
        KubeObject::Deployment(o) => create(client, *o).await?,
        KubeObject::StatefulSet(o) => create(client, *o).await?,
        KubeObject::DaemonSet(o) => create(client, *o).await?,
        KubeObject::Job(o) => create(client, *o).await?,
        KubeObject::CronJob(o) => create(client, *o).await?,
        KubeObject::Pod(o) => create(client, *o).await?,
        KubeObject::Service(o) => create(client, *o).await?,
        KubeObject::EndpointSlice(o) => create(client, *o).await?,
        KubeObject::Ingress(o) => create(client, *o).await?,
        KubeObject::ConfigMap(o) => create(client, *o).await?,
        KubeObject::NetworkPolicy(o) => create(client, *o).await?,
        KubeObject::HorizontalPodAutoscaler(o) => create(client, *o).await?,
        KubeObject::PodDisruptionBudget(o) => create(client, *o).await?,
        KubeObject::VirtualService(_)
        | KubeObject::DestinationRule(_)
        | KubeObject::HttpRoute(_) => {
            return Ok(false);
        }
    }
    Ok(true)
}

fn namespace_of(object: &KubeObject) -> Option<String> {
    let meta = match object {
        KubeObject::Deployment(o) => &o.metadata,
        KubeObject::StatefulSet(o) => &o.metadata,
        KubeObject::DaemonSet(o) => &o.metadata,
        KubeObject::Job(o) => &o.metadata,
        KubeObject::CronJob(o) => &o.metadata,
        KubeObject::Pod(o) => &o.metadata,
        KubeObject::Service(o) => &o.metadata,
        KubeObject::EndpointSlice(o) => &o.metadata,
        KubeObject::Ingress(o) => &o.metadata,
        KubeObject::ConfigMap(o) => &o.metadata,
        KubeObject::NetworkPolicy(o) => &o.metadata,
        KubeObject::HorizontalPodAutoscaler(o) => &o.metadata,
        KubeObject::PodDisruptionBudget(o) => &o.metadata,
        KubeObject::VirtualService(o) => &o.metadata,
        KubeObject::DestinationRule(o) => &o.metadata,
        KubeObject::HttpRoute(o) => &o.metadata,
    };
    meta.namespace.clone()
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<(), kube::Error> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Installs our CRDs and waits until they serve.
async fn install_crds(client: &Client) -> BenchResult<()> {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in smart_chaos::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    }
    let analyses: Api<ChaosAnalysis> = Api::all(client.clone());
    let started = Instant::now();
    while analyses
        .list_metadata(&ListParams::default().limit(1))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("our CRDs did not serve within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The operator as a child process; killed when dropped.
struct Operator {
    child: Child,
    http: SocketAddr,
    log: PathBuf,
}

impl Operator {
    fn start(kubeconfig: &Path, log: PathBuf) -> BenchResult<Operator> {
        // A free port: bound, read and released for the operator to take.
        let http = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
            .args(["operator", "--http-addr", &http.to_string()])
            .args(["--watch-namespace", BENCH_NAMESPACE])
            .args([
                "--lease-namespace",
                OPERATOR_NAMESPACE,
                "--lease-name",
                "bench",
            ])
            .args(["--log-format", "json"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Operator { child, http, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss(&self) -> BenchResult<f64> {
        proc_status_mib(self.pid(), "VmRSS:").ok_or_else(|| self.exited())
    }

    fn peak(&self) -> BenchResult<f64> {
        proc_status_mib(self.pid(), "VmHWM:").ok_or_else(|| self.exited())
    }

    fn exited(&self) -> Box<dyn Error> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        format!(
            "the operator exited; its last log lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
        .into()
    }

    /// `/readyz` answers 200.
    async fn ready(&self) -> bool {
        let Ok(mut stream) = tokio::net::TcpStream::connect(self.http).await else {
            return false;
        };
        let request = format!("GET /readyz HTTP/1.0\r\nHost: {}\r\n\r\n", self.http);
        if stream.write_all(request.as_bytes()).await.is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.is_ok() && head.ends_with(b" 200")
    }

    /// Waits for `/readyz`; the time it took since `since`.
    async fn wait_ready(&self, since: Instant) -> BenchResult<Duration> {
        loop {
            self.rss()?;
            if self.ready().await {
                return Ok(since.elapsed());
            }
            if since.elapsed() > READY_TIMEOUT {
                return Err("the operator was not ready in time".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The operator's figures on one cluster.
struct Figures {
    ready: Duration,
    idle: f64,
    startup_peak: f64,
}

/// Starts the operator, waits for `/readyz` and lets it settle: time to ready, idle RSS and the
/// peak of the start-up (the watches' initial lists).
async fn start_and_settle(kubeconfig: &Path, log: PathBuf) -> BenchResult<(Operator, Figures)> {
    let started = Instant::now();
    let operator = Operator::start(kubeconfig, log)?;
    let ready = operator.wait_ready(started).await?;
    tokio::time::sleep(SETTLE).await;
    let idle = operator.rss()?;
    let startup_peak = operator.peak()?;
    Ok((
        operator,
        Figures {
            ready,
            idle,
            startup_peak,
        },
    ))
}

/// The spec of an analysis of `namespaces`, every other field at its default.
fn analysis_spec(namespaces: Vec<String>) -> BenchResult<ChaosAnalysisSpec> {
    #[derive(Serialize)]
    struct ScopeOnly {
        scope: Scope,
    }
    let scope = Scope {
        namespaces,
        label_selector: None,
    };
    Ok(serde_json::from_value(serde_json::to_value(ScopeOnly {
        scope,
    })?)?)
}

/// Runs one shape in the API server whose state directory is `state`; true when every target
/// is met.
async fn run_shape(state: &Path, shape: Shape) -> BenchResult<bool> {
    let kubeconfig = state.join("admin.kubeconfig");
    let client = Client::try_from(
        Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&kubeconfig)?,
            &KubeConfigOptions::default(),
        )
        .await?,
    )?;
    install_crds(&client).await?;
    for ns in [BENCH_NAMESPACE, OPERATOR_NAMESPACE] {
        ensure_namespace(&client, ns).await?;
    }

    // The baseline: the same operator on the cluster before the load.
    let (baseline_operator, baseline) =
        start_and_settle(&kubeconfig, state.join("operator-baseline.log")).await?;
    drop(baseline_operator);

    let generated = shape.objects();
    let namespaces: BTreeSet<String> = generated.iter().filter_map(namespace_of).collect();
    for ns in &namespaces {
        ensure_namespace(&client, ns).await?;
    }
    let load_started = Instant::now();
    let results: Vec<Result<bool, kube::Error>> = futures::stream::iter(generated)
        .map(|o| load(&client, o))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut loaded = 0usize;
    for r in results {
        if r? {
            loaded += 1;
        }
    }
    eprintln!(
        "{}: loaded {loaded} objects in {} namespaces in {:.1} s",
        shape.describe(),
        namespaces.len(),
        load_started.elapsed().as_secs_f64()
    );

    let (operator, watching) =
        start_and_settle(&kubeconfig, state.join("operator-loaded.log")).await?;
    // Peak while analysing: VmHWM from here on (sampled RSS if the reset is refused).
    let peak_reset = reset_peak(operator.pid()).is_ok();

    let analyses: Api<ChaosAnalysis> = Api::namespaced(client.clone(), BENCH_NAMESPACE);
    let mut analysis = ChaosAnalysis::new(
        "synthetic",
        analysis_spec(namespaces.iter().cloned().collect())?,
    );
    // Created by the harness's admin user, whose rights the operator re-checks before a run.
    analysis.metadata = ObjectMeta {
        name: Some("synthetic".into()),
        namespace: Some(BENCH_NAMESPACE.into()),
        annotations: Some(BTreeMap::from([
            (REQUESTED_BY_ANNOTATION.to_owned(), "admin".to_owned()),
            (
                REQUESTED_BY_GROUPS_ANNOTATION.to_owned(),
                "system:masters,system:authenticated".to_owned(),
            ),
        ])),
        ..ObjectMeta::default()
    };
    analyses.create(&PostParams::default(), &analysis).await?;
    let started = Instant::now();
    let mut sampled_peak = watching.idle;
    let analysed = loop {
        sampled_peak = sampled_peak.max(operator.rss()?);
        let status = analyses.get("synthetic").await?.status;
        if status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Ready) {
            break started.elapsed();
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err("the analysis was not Ready in time".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let peak = if peak_reset {
        operator.peak()?.max(sampled_peak)
    } else {
        sampled_peak
    };
    let summary = analyses
        .get("synthetic")
        .await?
        .status
        .and_then(|s| s.summary)
        .unwrap_or_default();
    drop(operator);

    let (idle_target, peak_target) = shape.targets();
    let verdict = |value: f64, target: Option<f64>| match target {
        Some(t) if value < t => format!("< {t:.0} MiB PASS"),
        Some(t) => format!("< {t:.0} MiB FAIL"),
        None => "no target".to_owned(),
    };
    let passed =
        idle_target.is_none_or(|t| watching.idle < t) && peak_target.is_none_or(|t| peak < t);
    println!();
    println!("### {}", shape.describe());
    println!();
    println!(
        "{loaded} objects in the API server; the analysis found {} services, {} workloads, {} edges and made {} proposals.",
        summary.services, summary.workloads, summary.edges, summary.proposals
    );
    println!();
    println!("| operator | time | RSS | / baseline | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| baseline: empty cluster, idle | Ready after {:.2} s | {:.0} MiB | 1.00 | |",
        baseline.ready.as_secs_f64(),
        baseline.idle
    );
    println!(
        "| start-up on the loaded cluster (peak) | Ready after {:.2} s | {:.0} MiB | {:.2} | |",
        watching.ready.as_secs_f64(),
        watching.startup_peak,
        watching.startup_peak / baseline.idle
    );
    println!(
        "| idle while watching | | {:.0} MiB | {:.2} | {} |",
        watching.idle,
        watching.idle / baseline.idle,
        verdict(watching.idle, idle_target)
    );
    println!(
        "| peak while analysing{} | analysis Ready after {:.2} s | {:.0} MiB | {:.2} | {} |",
        if peak_reset { "" } else { " (sampled)" },
        analysed.as_secs_f64(),
        peak,
        peak / baseline.idle,
        verdict(peak, peak_target)
    );
    println!();
    println!("{}", if passed { "PASS" } else { "FAIL" });
    Ok(passed)
}

/// Runs the bench once per shape, each under `scripts/with-apiserver.sh` (a fresh API server).
fn run_each_in_its_own_server(shapes: &[Shape]) -> BenchResult<bool> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let this = std::env::current_exe()?;
    let mut passed = true;
    for shape in shapes {
        let status = Command::new("bash")
            .arg(manifest_dir.join("scripts/with-apiserver.sh"))
            .arg(&this)
            .arg(shape.arg())
            .current_dir(manifest_dir)
            .status()?;
        passed &= status.success();
    }
    Ok(passed)
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    // `cargo bench` passes `--bench`; every other argument names a shape.
    let mut shapes = Vec::new();
    for arg in std::env::args().skip(1).filter(|a| !a.starts_with("--")) {
        shapes.push(Shape::parse(&arg).ok_or_else(|| {
            format!("unknown shape {arg:?}: `production` or a number of objects")
        })?);
    }
    let passed = match std::env::var_os("SMART_CHAOS_TEST_APISERVER") {
        Some(state) => match shapes.as_slice() {
            [] => run_shape(Path::new(&state), Shape::LargeProduction).await?,
            [shape] => run_shape(Path::new(&state), *shape).await?,
            _ => {
                return Err(
                    "one shape per API server: name one, or unset SMART_CHAOS_TEST_APISERVER"
                        .into(),
                );
            }
        },
        None => {
            if shapes.is_empty() {
                shapes = vec![Shape::LargeProduction, Shape::Synthetic(50_000)];
            }
            run_each_in_its_own_server(&shapes)?
        }
    };
    if passed {
        Ok(())
    } else {
        Err("a target was missed (FAIL above)".into())
    }
}
