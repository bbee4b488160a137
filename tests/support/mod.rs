//! Test support: a real kube-apiserver (built from the Kubernetes Go modules by `tests/apiserver`)
//! started once per test process, or shared by the test command through
//! `SMART_CHAOS_TEST_APISERVER` (the harness's state directory).
//!
//! Tests never fall back to a mock: if the server cannot be started, they fail loudly.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Deserialize;

/// Environment variable naming the state directory of an already running harness.
pub const STATE_ENV: &str = "SMART_CHAOS_TEST_APISERVER";

/// The users the harness creates, each with its own kubeconfig.
#[derive(Clone, Copy, Debug)]
pub enum User {
    Admin,
    Approver,
    Viewer,
    Operator,
    /// Rights only where a test binds them (tenancy tests).
    Tenant,
    /// Rights only where a test binds them (tenancy tests).
    Partner,
}

impl User {
    fn kubeconfig_file(self) -> &'static str {
        match self {
            User::Admin => "admin.kubeconfig",
            User::Approver => "approver.kubeconfig",
            User::Viewer => "viewer.kubeconfig",
            User::Operator => "operator.kubeconfig",
            User::Tenant => "tenant.kubeconfig",
            User::Partner => "partner.kubeconfig",
        }
    }
}

/// A running API server.
pub struct TestServer {
    pub state_dir: PathBuf,
    pub url: String,
    /// Keeps the harness alive for the life of the process: its stdin closes when we exit.
    _child: Option<Mutex<Child>>,
}

impl TestServer {
    pub fn kubeconfig_path(&self, user: User) -> PathBuf {
        self.state_dir.join(user.kubeconfig_file())
    }

    /// The client configuration of `user`.
    pub async fn config(&self, user: User) -> Config {
        let path = self.kubeconfig_path(user);
        let kubeconfig = Kubeconfig::read_from(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
    }

    /// A fresh client for `user`. Clients are per test: each `#[tokio::test]` has its own runtime.
    pub async fn client(&self, user: User) -> Client {
        Client::try_from(self.config(user).await).expect("building a kube client")
    }

    /// A client for `user` that records the method and path of every request it sends, so a test
    /// can assert what a reader asked for, including requests whose errors it swallowed.
    pub async fn recording_client(&self, user: User) -> (Client, RequestLog) {
        let log = RequestLog::default();
        let sink = log.clone();
        let record = tower::util::MapRequestLayer::new(
            move |request: hyper::Request<kube::client::Body>| {
                sink.0.lock().unwrap().push(format!(
                    "{} {}",
                    request.method(),
                    request.uri().path()
                ));
                request
            },
        );
        let client = kube::client::ClientBuilder::try_from(self.config(user).await)
            .expect("building a kube client")
            .with_layer(&record)
            .build();
        (client, log)
    }
}

/// The requests a [`TestServer::recording_client`] sent, as `METHOD /path`.
#[derive(Clone, Default)]
pub struct RequestLog(std::sync::Arc<Mutex<Vec<String>>>);

impl RequestLog {
    pub fn requests(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared directory with the Chaos Mesh CRDs and the corpus (read-only, beside the checkout).
pub fn shared_dir() -> PathBuf {
    let dir = repo_root().join("../shared");
    assert!(
        dir.join("chaos-mesh/crd.yaml").is_file(),
        "../shared/chaos-mesh/crd.yaml is missing: the tests need the shared data beside the checkout"
    );
    dir
}

static SERVER: OnceLock<TestServer> = OnceLock::new();
static CRDS_INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// The API server for this test process, started on first use.
pub fn server() -> &'static TestServer {
    SERVER.get_or_init(|| match std::env::var_os(STATE_ENV) {
        Some(dir) => attach(PathBuf::from(dir)),
        None => start(),
    })
}

fn attach(state_dir: PathBuf) -> TestServer {
    let ready = state_dir.join("ready");
    let url = std::fs::read_to_string(&ready).unwrap_or_else(|e| {
        panic!(
            "{STATE_ENV}={} but {} is unreadable ({e}): is the harness running?",
            state_dir.display(),
            ready.display()
        )
    });
    TestServer {
        state_dir,
        url: url.trim().to_string(),
        _child: None,
    }
}

fn start() -> TestServer {
    let root = repo_root();
    let build = Command::new("bash")
        .arg(root.join("scripts/build-apiserver.sh"))
        .current_dir(&root)
        .status()
        .expect("running scripts/build-apiserver.sh (needs bash and Go)");
    assert!(
        build.success(),
        "building the kube-apiserver harness failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("apiserver/kube-apiserver-harness");
    let state_dir =
        std::env::temp_dir().join(format!("smart-chaos-apiserver-{}", std::process::id()));
    let mut child = Command::new(&binary)
        .arg("--state-dir")
        .arg(&state_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let stdout = child.stdout.take().expect("harness stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading the harness's READY line");
    assert!(
        line.starts_with("READY "),
        "the kube-apiserver harness did not become ready (said {line:?}); see its stderr above"
    );
    eprintln!("started real kube-apiserver: {}", line.trim());
    let url = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    TestServer {
        state_dir,
        url,
        _child: Some(Mutex::new(child)),
    }
}

/// An admin client on a server with our CRDs and the official Chaos Mesh CRDs installed.
pub async fn admin() -> Client {
    let client = server().client(User::Admin).await;
    CRDS_INSTALLED
        .get_or_init(|| async {
            let mut crds = smart_chaos::api::crds();
            crds.extend(chaos_mesh_crds());
            install_crds(&server().client(User::Admin).await, crds).await;
        })
        .await;
    client
}

/// The Chaos Mesh CRDs from ../shared/chaos-mesh/crd.yaml.
pub fn chaos_mesh_crds() -> Vec<CustomResourceDefinition> {
    read_yaml_docs(&shared_dir().join("chaos-mesh/crd.yaml"))
}

/// Server-side applies CRDs and waits until each is Established.
pub async fn install_crds(client: &Client, crds: Vec<CustomResourceDefinition>) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("smart-chaos-tests").force();
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("CRD name");
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    }
    for crd in &crds {
        let name = crd.metadata.name.clone().expect("CRD name");
        wait_established(&api, &name).await;
    }
}

pub async fn wait_established(api: &Api<CustomResourceDefinition>, name: &str) {
    for _ in 0..200 {
        let crd = api.get(name).await.expect("reading a CRD");
        let established = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("CRD {name} did not become Established within 10 s");
}

/// Creates a namespace with a unique name for one test. Namespaces are not deleted: the server
/// has no namespace controller, and its etcd lives only as long as the test run.
pub async fn test_namespace(client: &Client, prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos % 0xfffff);
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    name
}

/// The repository's own example files.
pub fn examples_dir() -> PathBuf {
    repo_root().join("examples")
}

/// Every non-empty document of a YAML file, as `T`.
pub fn read_yaml_docs<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| {
            Option::<T>::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// The corpus apps in ../shared/corpus.
pub const CORPUS_APPS: [&str; 3] = ["online-boutique", "sock-shop", "bookinfo"];

/// Every document of a corpus app (or any folder of manifests), moved into `namespace`:
/// namespaced objects get it, Namespace objects are dropped, fixed nodePorts are cleared. Lets a test apply an app to its own
/// namespace and read the same objects from files.
pub fn manifests_in_namespace(dir: &Path, namespace: &str) -> Vec<serde_yaml::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        for mut doc in read_yaml_docs::<serde_yaml::Value>(&file) {
            if doc["kind"].as_str() == Some("Namespace") {
                continue;
            }
            if let Some(metadata) = doc.get_mut("metadata").and_then(|m| m.as_mapping_mut()) {
                metadata.insert("namespace".into(), namespace.into());
            }
            // Fixed nodePorts are cluster-wide: a second copy of the app would collide.
            if doc["kind"].as_str() == Some("Service")
                && let Some(ports) = doc
                    .get_mut("spec")
                    .and_then(|s| s.get_mut("ports"))
                    .and_then(|p| p.as_sequence_mut())
            {
                for port in ports.iter_mut().filter_map(|p| p.as_mapping_mut()) {
                    port.remove("nodePort");
                }
            }
            docs.push(doc);
        }
    }
    docs
}

/// Writes documents as one multi-document YAML file.
pub fn write_yaml_docs(path: &Path, docs: &[serde_yaml::Value]) {
    let mut text = String::new();
    for doc in docs {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(doc).expect("serialising YAML"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The field manager tests write with.
pub const TEST_FIELD_MANAGER: &str = "smart-chaos-tests";

/// Parameters for a server-side apply dry run with strict field validation. Without `Strict` the
/// API server drops unknown fields silently (a PodChaos with `duraton` would be accepted, minus
/// the field), so a dry run alone does not prove that a manifest means what it says.
pub fn strict_dry_run() -> PatchParams {
    PatchParams::apply(TEST_FIELD_MANAGER)
        .dry_run()
        .validation_strict()
}

/// Server-side applies `object` as a strict dry run (see [`strict_dry_run`]) and returns what the
/// API server would store, or its refusal.
pub async fn dry_run_strict<K>(api: &Api<K>, name: &str, object: &K) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    api.patch(name, &strict_dry_run(), &Patch::Apply(object))
        .await
}

/// Server-side applies arbitrary manifests, resolving each kind through API discovery.
pub async fn apply_manifests(client: &Client, docs: &[serde_yaml::Value]) {
    use kube::core::GroupVersionKind;
    use kube::discovery::{Discovery, Scope};
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("API discovery");
    let params = PatchParams::apply("smart-chaos-tests").force();
    for doc in docs {
        let object: kube::api::DynamicObject =
            serde_yaml::from_value(doc.clone()).expect("a Kubernetes object");
        let types = object.types.clone().expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&types).expect("a valid apiVersion");
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("the API server does not serve {gvk:?}"));
        let name = object.metadata.name.clone().expect("a name");
        let api: Api<kube::api::DynamicObject> =
            match (caps.scope, object.metadata.namespace.as_deref()) {
                (Scope::Namespaced, Some(ns)) => {
                    Api::namespaced_with(client.clone(), ns, &resource)
                }
                _ => Api::all_with(client.clone(), &resource),
            };
        api.patch(&name, &params, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", gvk.kind));
    }
}

/// The `requested-by` annotations the tenancy admission policy wants from `client`'s user: the
/// username and groups the API server authenticates it as (asked with a SelfSubjectReview, like
/// `kubectl auth whoami`).
pub async fn requester_annotations(client: &Client) -> std::collections::BTreeMap<String, String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("a SelfSubjectReview");
    let user = review
        .status
        .and_then(|s| s.user_info)
        .expect("the review names the user");
    std::collections::BTreeMap::from([
        (
            smart_chaos::api::REQUESTED_BY_ANNOTATION.to_string(),
            user.username.unwrap_or_default(),
        ),
        (
            smart_chaos::api::REQUESTED_BY_GROUPS_ANNOTATION.to_string(),
            user.groups.unwrap_or_default().join(","),
        ),
    ])
}

/// Sets the `requested-by` annotations of `meta` to `client`'s user.
pub async fn stamp_requester(client: &Client, meta: &mut kube::api::ObjectMeta) {
    meta.annotations
        .get_or_insert_with(Default::default)
        .extend(requester_annotations(client).await);
}
