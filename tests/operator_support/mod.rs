//! Support for the operator's integration tests: the shipped manifests (deploy/) installed on the
//! real kube-apiserver, the test users bound to the shipped roles, and small typed builders.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::Client;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use smart_chaos::api::{
    Approval, ApprovalState, BlastRadius, CheckKind, ExperimentProposal, ExperimentProposalSpec,
    ProposalHypothesis, SteadyStateCheck,
};
use smart_chaos::chaosmesh::{
    ChaosKind, ChaosSpec, PodChaosAction, PodChaosSpec, PodSelector, SelectorMode,
};
use smart_chaos::controller::proposals::chaos_resource;

use smart_chaos::controller::leader::LeaseSettings;
use smart_chaos::controller::{ControllerSettings, Operator, OperatorConfig};

use crate::support::{self, User};

/// The field manager tests apply with.
pub const TEST_MANAGER: &str = "smart-chaos-tests";
/// The operator's namespace in deploy/.
pub const OPERATOR_NAMESPACE: &str = "smart-chaos-system";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every object of a multi-document YAML text.
pub fn yaml_objects(text: &str) -> Vec<DynamicObject> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|doc| Option::<DynamicObject>::deserialize(doc).expect("a Kubernetes object"))
        .collect()
}

/// Server-side applies one object of any kind (found through discovery) as `client`.
pub async fn apply_object(client: &Client, object: &DynamicObject, dry_run: bool) {
    let types = object.types.as_ref().expect("apiVersion and kind");
    let (group, version) = match types.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), types.api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &types.kind);
    let (resource, caps) = pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discovering {gvk:?}: {e}"));
    let name = object.metadata.name.clone().expect("a name");
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            object.metadata.namespace.as_deref().expect("a namespace"),
            &resource,
        ),
    };
    // Strict: an unknown field in a shipped manifest is refused, not silently dropped.
    let mut params = PatchParams::apply(TEST_MANAGER).force().validation_strict();
    params.dry_run = dry_run;
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", types.kind));
}

/// The files deploy/kustomization.yaml lists, in order.
pub fn kustomization_resources(dir: &Path) -> Vec<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Kustomization {
        resources: Vec<String>,
    }
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).expect("kustomization");
    let k: Kustomization = serde_yaml::from_str(&text).expect("a kustomization");
    k.resources.iter().map(|r| dir.join(r)).collect()
}

static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// An admin client on a server with our CRDs, the Chaos Mesh CRDs, and the approval policy, its
/// binding and the RBAC from deploy/ installed; the approver and viewer groups bound to the
/// shipped ClusterRoles; and the policy enforcing.
pub async fn admin_with_operator_manifests() -> Client {
    let admin = support::admin().await;
    INSTALLED
        .get_or_init(|| async {
            let admin = support::server().client(User::Admin).await;
            let deploy = repo_root().join("deploy");
            for file in [
                "namespace.yaml",
                "approval-policy.yaml",
                "tenancy-policy.yaml",
                "halt-policy.yaml",
                "approval-policy-binding.yaml",
                "rbac.yaml",
            ] {
                let text = std::fs::read_to_string(deploy.join(file)).expect("deploy file");
                for object in yaml_objects(&text) {
                    apply_object(&admin, &object, false).await;
                }
            }
            for (group, role) in [
                ("smartchaos:approvers", "smart-chaos-approver"),
                ("smartchaos:viewers", "smart-chaos-viewer"),
            ] {
                let binding = ClusterRoleBinding {
                    metadata: ObjectMeta {
                        name: Some(format!("test-{role}")),
                        ..ObjectMeta::default()
                    },
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "ClusterRole".into(),
                        name: role.into(),
                    },
                    subjects: Some(vec![Subject {
                        api_group: Some("rbac.authorization.k8s.io".into()),
                        kind: "Group".into(),
                        name: group.into(),
                        namespace: None,
                    }]),
                };
                let api: Api<ClusterRoleBinding> = Api::all(admin.clone());
                api.patch(
                    binding.metadata.name.as_deref().unwrap_or_default(),
                    &PatchParams::apply(TEST_MANAGER).force(),
                    &Patch::Apply(&binding),
                )
                .await
                .expect("binding a test group");
            }
            wait_for_policy().await;
            wait_for_tenancy_policy().await;
        })
        .await;
    admin
}

/// Waits until the approval policy refuses the operator's decision (the API server loads policies,
/// bindings and parameters asynchronously).
async fn wait_for_policy() {
    let admin = support::server().client(User::Admin).await;
    let operator = support::server().client(User::Operator).await;
    let ns = support::test_namespace(&admin, "policy-probe").await;
    let mut probe = proposal("probe", &ns, "web");
    probe.spec.approval = decided(
        ApprovalState::Approved,
        "system:serviceaccount:smart-chaos-system:smart-chaos",
    );
    let api: Api<ExperimentProposal> = Api::namespaced(operator, &ns);
    let start = Instant::now();
    loop {
        match api
            .create(
                &PostParams {
                    dry_run: true,
                    field_manager: None,
                },
                &probe,
            )
            .await
        {
            Err(kube::Error::Api(status)) if status.message.contains("may never decide") => {
                eprintln!("approval policy enforcing after {:?}", start.elapsed());
                return;
            }
            other => {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "the approval policy did not start enforcing within 60 s: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Waits until the tenancy policy refuses an analysis that names no requester.
async fn wait_for_tenancy_policy() {
    let admin = support::server().client(User::Admin).await;
    let ns = support::test_namespace(&admin, "tenancy-probe").await;
    let probe: smart_chaos::api::ChaosAnalysis = serde_json::from_value(serde_json::json!({
        "apiVersion": "chaos.smartchaos.io/v1alpha1",
        "kind": "ChaosAnalysis",
        "metadata": { "name": "probe", "namespace": ns },
        "spec": { "scope": { "namespaces": [ns] } },
    }))
    .expect("a typed analysis");
    let api: Api<smart_chaos::api::ChaosAnalysis> = Api::namespaced(admin, &ns);
    let start = Instant::now();
    loop {
        let params = PostParams {
            dry_run: true,
            field_manager: None,
        };
        match api.create(&params, &probe).await {
            Err(kube::Error::Api(status)) if status.message.contains("requested-by") => {
                eprintln!("tenancy policy enforcing after {:?}", start.elapsed());
                return;
            }
            other => {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "the tenancy policy did not start enforcing within 60 s: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A decided approval by `user`, now.
pub fn decided(state: ApprovalState, user: &str) -> Approval {
    Approval {
        state,
        approved_by: Some(user.into()),
        decided_at: Some(Time(jiff::Timestamp::now())),
        reason: Some("test".into()),
    }
}

/// A Pending pod-kill proposal against Deployment `target` in `ns`, with one AvailableReplicas
/// check (at least 2).
pub fn proposal(name: &str, ns: &str, target: &str) -> ExperimentProposal {
    let spec = ChaosSpec::PodChaos(PodChaosSpec {
        action: PodChaosAction::PodKill,
        selector: PodSelector {
            namespaces: vec![ns.into()],
            label_selectors: BTreeMap::from([("app".into(), target.into())]),
        },
        mode: SelectorMode::One,
        value: None,
        duration: Some("10m".into()),
        container_names: vec![],
    });
    let mut p = ExperimentProposal::new(
        name,
        ExperimentProposalSpec {
            analysis_ref: "shop".into(),
            target: format!("{ns}/Deployment/{target}"),
            hypothesis: ProposalHypothesis {
                id: "h-web-one-pod".into(),
                statement: format!(
                    "If one {target} pod dies, {target} keeps at least 2 available replicas"
                ),
            },
            steady_state: vec![SteadyStateCheck {
                name: format!("{target}-available"),
                kind: CheckKind::AvailableReplicas,
                subject: Some(format!("{ns}/Deployment/{target}")),
                url: None,
                query: None,
                min_value: 2,
                max_value: None,
            }],
            blast_radius: BlastRadius {
                affected_workloads: vec![format!("{ns}/Deployment/{target}")],
                affected_entry_points: vec![],
                pod_share_percent: 33,
            },
            experiment: spec.into(),
            approval: Approval::default(),
        },
    );
    p.metadata.namespace = Some(ns.into());
    p
}

/// Creates `proposal` as admin and returns it as stored.
pub async fn create_proposal(admin: &Client, proposal: &ExperimentProposal) -> ExperimentProposal {
    let ns = proposal.metadata.namespace.as_deref().expect("namespace");
    Api::<ExperimentProposal>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), proposal)
        .await
        .expect("creating a proposal")
}

/// Creates Deployment `name` (3 replicas) and sets its status to `available` available replicas.
/// Nothing runs pods here (no controller-manager), so the test writes the status itself.
pub async fn deployment(admin: &Client, ns: &str, name: &str, available: i32) {
    let labels = BTreeMap::from([("app".to_string(), name.to_string())]);
    let d = Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(3),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some("nginx".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    };
    Api::<Deployment>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .expect("creating a deployment");
    set_available(admin, ns, name, available).await;
}

/// Writes a Deployment's status through the status subresource.
pub async fn set_available(admin: &Client, ns: &str, name: &str, available: i32) {
    #[derive(serde::Serialize, Debug)]
    struct StatusOnly {
        status: DeploymentStatus,
    }
    let body = StatusOnly {
        status: DeploymentStatus {
            replicas: Some(3),
            ready_replicas: Some(available),
            available_replicas: Some(available),
            unavailable_replicas: Some(3 - available),
            ..DeploymentStatus::default()
        },
    };
    Api::<Deployment>::namespaced(admin.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .expect("setting deployment status");
}

/// Binds `user_kind`/`name` to ClusterRole `role` in `ns` only.
pub async fn bind_in_namespace(
    admin: &Client,
    ns: &str,
    binding: &str,
    subject: Subject,
    role: &str,
) {
    let rb = RoleBinding {
        metadata: ObjectMeta {
            name: Some(binding.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![subject]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &rb)
        .await
        .expect("creating a role binding");
}

/// Polls `probe` every 100 ms until it returns `Some`, or fails the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An operator running in this test process, as the operator's service account.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    /// The operator's task (abort it to simulate a crash).
    pub task: tokio::task::JoinHandle<()>,
    /// Where its /livez, /readyz and /metrics answer.
    pub http_addr: std::net::SocketAddr,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Starts the operator for `ns`, polling the scope every second.
pub async fn start_operator(ns: &str, identity: &str) -> Running {
    start_operator_polling(ns, identity, Duration::from_secs(1)).await
}

/// Starts the operator for `ns` (its own Lease, named after it), polling the scope every
/// `map_check_interval`.
pub async fn start_operator_polling(
    ns: &str,
    identity: &str,
    map_check_interval: Duration,
) -> Running {
    let client = support::server().client(User::Operator).await;
    start_operator_with(client, ns, identity, map_check_interval).await
}

/// The name of the Lease the operators of one test contend for.
pub fn lease_name(ns: &str) -> String {
    format!("lease-{ns}")
}

/// The operator with a client of the test's choosing (one that records or withholds requests).
pub async fn start_operator_with(
    client: kube::Client,
    ns: &str,
    identity: &str,
    map_check_interval: Duration,
) -> Running {
    start_operator_adjusted(client, ns, identity, map_check_interval, |_| {}).await
}

/// The operator for `ns` with `adjust` applied to the tests' settings (e.g. letting Http checks
/// probe a server on loopback, which the operator never allows by default).
pub async fn start_operator_adjusted(
    client: kube::Client,
    ns: &str,
    identity: &str,
    map_check_interval: Duration,
    adjust: impl FnOnce(&mut ControllerSettings),
) -> Running {
    let mut lease = LeaseSettings::new("smart-chaos-system", &lease_name(ns), identity);
    lease.lease_duration = Duration::from_secs(3);
    lease.renew_deadline = Duration::from_secs(2);
    lease.retry_period = Duration::from_millis(300);
    let mut config = OperatorConfig {
        controller: ControllerSettings {
            check_interval: Duration::from_millis(500),
            map_check_interval,
            operator_namespace: Some("smart-chaos-system".into()),
            llm_settings: smart_chaos::llm::LlmSettings {
                timeout: Duration::from_secs(2),
                total_timeout: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(1),
                max_attempts: 2,
                base_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(200),
                concurrency: 4,
            },
            ..ControllerSettings::default()
        },
        lease,
        watch_namespace: Some(ns.into()),
        http_addr: "127.0.0.1:0".parse().unwrap(),
    };
    adjust(&mut config.controller);
    let operator = Operator::bind(client, config)
        .await
        .expect("binding the operator");
    let http_addr = operator.http_addr().expect("the operator's HTTP address");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        operator
            .run(async {
                let _ = stop_rx.await;
            })
            .await
            .expect("the operator ran");
    });
    Running {
        stop,
        task,
        http_addr,
    }
}

/// A ChaosAnalysis named `name` in `ns` with `spec`, requested by the harness's admin user (the
/// tenancy policy requires the requester annotations to name the requesting user).
pub fn analysis(ns: &str, name: &str, spec: serde_json::Value) -> smart_chaos::api::ChaosAnalysis {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "chaos.smartchaos.io/v1alpha1",
        "kind": "ChaosAnalysis",
        "metadata": { "name": name, "namespace": ns, "annotations": {
            "chaos.smartchaos.io/requested-by": "admin",
            "chaos.smartchaos.io/requested-by-groups": "system:masters,system:authenticated",
        } },
        "spec": spec,
    }))
    .unwrap()
}

/// The operator's /metrics text, read with a plain HTTP/1.0 GET.
pub async fn metrics_text(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting to the operator's HTTP server");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .expect("writing a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("reading the response");
    response
}

/// Writes the status Chaos Mesh writes on a chaos object once it has applied the fault to a pod
/// (the plain test server runs no Chaos Mesh controller; without it no verdict is ever claimed).
pub async fn record_injected(client: &Client, ns: &str, kind: ChaosKind, name: &str) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &chaos_resource(kind));
    let status = serde_json::json!({
        "status": {
            "experiment": {
                "containerRecords": [{
                    "id": format!("{ns}/web-0"),
                    "selectorKey": ".",
                    "phase": "Injected",
                    "injectedCount": 1,
                    "recoveredCount": 0,
                }],
            },
        },
    });
    // Chaos Mesh's CRDs have no status subresource: the status is written with the object.
    api.patch(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("recording the injection in the chaos object's status");
}
