//! Benchmark: the operator's memory and time while it analyses a large synthetic cluster loaded
//! into a real kube-apiserver.
//!
//! Needs a running test API server (the harness from tests/apiserver):
//!   SMART_CHAOS_TEST_APISERVER=DIR cargo bench --bench operator_memory -- 50000
//! It creates the synthetic objects (the generator of the service-map benchmark; Istio and
//! Gateway API kinds are left out, their CRDs are not installed), starts the release
//! `smart-chaos operator` as a child process, measures its resident memory idle (the baseline,
//! while it already watches the cluster) and while a ChaosAnalysis scoped to every synthetic
//! namespace runs to Ready, and prints the figures with the peak/idle ratio.

use std::collections::BTreeSet;
use std::error::Error;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use smart_chaos::api::{AnalysisPhase, ChaosAnalysis};
use smart_chaos::snapshot::KubeObject;
use smart_chaos::snapshot::synthetic;

const BENCH_NAMESPACE: &str = "bench-analyses";
const OPERATOR_NAMESPACE: &str = "smart-chaos-system";

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
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

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let objects: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000);
    let state = PathBuf::from(std::env::var_os("SMART_CHAOS_TEST_APISERVER").ok_or(
        "set SMART_CHAOS_TEST_APISERVER to a running harness's state directory (see tests/apiserver)",
    )?);
    let kubeconfig_path = state.join("admin.kubeconfig");
    let kubeconfig = Kubeconfig::read_from(&kubeconfig_path)?;
    let client = Client::try_from(
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?,
    )?;

    let crds = Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client.clone());
    for crd in smart_chaos::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let generated = synthetic::generate_objects(objects, 42);
    let namespaces: BTreeSet<String> = generated.iter().filter_map(namespace_of).collect();
    for ns in namespaces
        .iter()
        .map(String::as_str)
        .chain([BENCH_NAMESPACE, OPERATOR_NAMESPACE])
    {
        ensure_namespace(&client, ns).await?;
    }
    let started = Instant::now();
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
    let load_time = started.elapsed();
    println!(
        "loaded {loaded} objects in {} namespaces in {:.1} s",
        namespaces.len(),
        load_time.as_secs_f64()
    );

    let binary = env!("CARGO_BIN_EXE_smart-chaos");
    let child = Command::new(binary)
        .args([
            "operator",
            "--http-addr",
            "127.0.0.1:0",
            "--watch-namespace",
            BENCH_NAMESPACE,
            "--lease-name",
            "bench",
        ])
        .env("KUBECONFIG", &kubeconfig_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let operator = Operator(child);
    let pid = operator.0.id();
    tokio::time::sleep(Duration::from_secs(8)).await; // leader election, watches synced
    let idle = rss_mib(pid).ok_or("the operator exited")?;

    let analyses: Api<ChaosAnalysis> = Api::namespaced(client.clone(), BENCH_NAMESPACE);
    let analysis: ChaosAnalysis = serde_json::from_value(serde_json::json!({
        "apiVersion": "chaos.smartchaos.io/v1alpha1",
        "kind": "ChaosAnalysis",
        // Created by the harness's admin user, whose rights the operator re-checks before a run.
        "metadata": {"name": "synthetic", "namespace": BENCH_NAMESPACE, "annotations": {
            "chaos.smartchaos.io/requested-by": "admin",
            "chaos.smartchaos.io/requested-by-groups": "system:masters,system:authenticated",
        }},
        "spec": {"scope": {"namespaces": namespaces.iter().collect::<Vec<_>>()}},
    }))?;
    let _ = analyses.delete("synthetic", &Default::default()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    analyses.create(&PostParams::default(), &analysis).await?;
    let started = Instant::now();
    let mut peak = idle;
    let ready_after = loop {
        if let Some(rss) = rss_mib(pid) {
            peak = peak.max(rss);
        } else {
            return Err("the operator exited during the analysis".into());
        }
        let status = analyses.get("synthetic").await?.status;
        if status.as_ref().and_then(|s| s.phase) == Some(AnalysisPhase::Ready) {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("no Ready within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary = analyses
        .get("synthetic")
        .await?
        .status
        .and_then(|s| s.summary)
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_mib(pid).unwrap_or(f64::NAN);
    println!(
        "| objects in the API server | time to Ready | operator RSS idle (baseline) | peak during analysis | after | peak/idle |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| {loaded} ({} services, {} workloads, {} edges, {} proposals) | {:.2} s | {idle:.0} MiB | {peak:.0} MiB | {after:.0} MiB | {:.2} |",
        summary.services,
        summary.workloads,
        summary.edges,
        summary.proposals,
        ready_after.as_secs_f64(),
        peak / idle
    );
    drop(operator);
    Ok(())
}
