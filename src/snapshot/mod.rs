//! Reading objects into a [`Snapshot`]: the objects that matter, pruned to the fields the service
//! map and the analysis read.
//!
//! Two sources fill it: YAML/JSON files ([`files`]) and a live cluster (`cluster`). Both hand typed
//! k8s-openapi objects to [`Snapshot::add`], so they prune identically by construction. A Secret is
//! never a snapshot kind.

pub mod cluster;
pub mod convert;
pub mod files;
pub mod mesh;
pub mod records;
pub mod synthetic;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::{Deserialize, Serialize};

pub use files::{ReadOptions, read_paths, read_str};
pub use mesh::{DestinationRule, HttpRoute, VirtualService};
pub use records::*;

/// The namespace of objects that name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// One typed object of a kind the snapshot keeps.
#[derive(Clone, Debug)]
pub enum KubeObject {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    DaemonSet(Box<DaemonSet>),
    Job(Box<Job>),
    CronJob(Box<CronJob>),
    Pod(Box<Pod>),
    Service(Box<Service>),
    EndpointSlice(Box<EndpointSlice>),
    Ingress(Box<Ingress>),
    ConfigMap(Box<ConfigMap>),
    NetworkPolicy(Box<NetworkPolicy>),
    HorizontalPodAutoscaler(Box<HorizontalPodAutoscaler>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    VirtualService(Box<VirtualService>),
    DestinationRule(Box<DestinationRule>),
    HttpRoute(Box<HttpRoute>),
}

macro_rules! kube_object_from {
    ($($variant:ident: $ty:ty),* $(,)?) => {
        $(impl From<$ty> for KubeObject {
            fn from(object: $ty) -> Self {
                KubeObject::$variant(Box::new(object))
            }
        })*
    };
}

kube_object_from!(
    Deployment: Deployment,
    StatefulSet: StatefulSet,
    DaemonSet: DaemonSet,
    Job: Job,
    CronJob: CronJob,
    Pod: Pod,
    Service: Service,
    EndpointSlice: EndpointSlice,
    Ingress: Ingress,
    ConfigMap: ConfigMap,
    NetworkPolicy: NetworkPolicy,
    HorizontalPodAutoscaler: HorizontalPodAutoscaler,
    PodDisruptionBudget: PodDisruptionBudget,
    VirtualService: VirtualService,
    DestinationRule: DestinationRule,
    HttpRoute: HttpRoute,
);

/// The objects that matter, pruned. Call [`Snapshot::normalize`] (the readers do) before
/// comparing two snapshots: it sorts every list and keeps the last of duplicate objects.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub workloads: Vec<WorkloadRecord>,
    pub services: Vec<ServiceRecord>,
    pub endpoint_slices: Vec<EndpointSliceRecord>,
    pub ingresses: Vec<IngressRecord>,
    pub config_maps: Vec<ConfigMapRecord>,
    pub network_policies: Vec<NetworkPolicyRecord>,
    pub hpas: Vec<HpaRecord>,
    pub pdbs: Vec<PdbRecord>,
    pub virtual_services: Vec<VirtualServiceRecord>,
    pub destination_rules: Vec<DestinationRuleRecord>,
    pub http_routes: Vec<HttpRouteRecord>,
    /// Namespaces named by Namespace objects (objects' own namespaces are known anyway).
    pub namespaces: Vec<String>,
    /// Objects read but not kept, counted by kind (unknown kinds, Secrets, controlled Pods...).
    pub skipped: BTreeMap<String, u64>,
}

/// Why an object was not kept, as counted in [`Snapshot::skipped`].
pub const SKIPPED_CONTROLLED: &str = "(owned by a controller)";

impl Snapshot {
    /// A snapshot of `objects`; objects without a namespace land in `default_namespace`.
    pub fn from_objects(
        objects: impl IntoIterator<Item = KubeObject>,
        default_namespace: &str,
    ) -> Self {
        let mut snapshot = Snapshot::default();
        for object in objects {
            snapshot.add(object, default_namespace);
        }
        snapshot.normalize();
        snapshot
    }

    /// Prunes and adds one object. Pods and Jobs a controller owns are counted as skipped.
    pub fn add(&mut self, object: impl Into<KubeObject>, default_namespace: &str) {
        let ns = default_namespace;
        match object.into() {
            KubeObject::Deployment(o) => self.workloads.push(convert::deployment(*o, ns)),
            KubeObject::StatefulSet(o) => self.workloads.push(convert::stateful_set(*o, ns)),
            KubeObject::DaemonSet(o) => self.workloads.push(convert::daemon_set(*o, ns)),
            KubeObject::Job(o) => {
                if convert::is_controlled(&o.metadata) {
                    self.skip(&format!("Job {SKIPPED_CONTROLLED}"));
                } else {
                    self.workloads.push(convert::job(*o, ns));
                }
            }
            KubeObject::CronJob(o) => self.workloads.push(convert::cron_job(*o, ns)),
            KubeObject::Pod(o) => match convert::pod(*o, ns) {
                Some(record) => self.workloads.push(record),
                None => self.skip(&format!("Pod {SKIPPED_CONTROLLED}")),
            },
            KubeObject::Service(o) => self.services.push(convert::service(*o, ns)),
            KubeObject::EndpointSlice(o) => {
                self.endpoint_slices.push(convert::endpoint_slice(*o, ns))
            }
            KubeObject::Ingress(o) => self.ingresses.push(convert::ingress(*o, ns)),
            KubeObject::ConfigMap(o) => self.config_maps.push(convert::config_map(*o, ns)),
            KubeObject::NetworkPolicy(o) => {
                self.network_policies.push(convert::network_policy(*o, ns))
            }
            KubeObject::HorizontalPodAutoscaler(o) => {
                self.hpas.push(convert::horizontal_pod_autoscaler(*o, ns))
            }
            KubeObject::PodDisruptionBudget(o) => {
                self.pdbs.push(convert::pod_disruption_budget(*o, ns))
            }
            KubeObject::VirtualService(o) => {
                self.virtual_services.push(convert::virtual_service(*o, ns))
            }
            KubeObject::DestinationRule(o) => self
                .destination_rules
                .push(convert::destination_rule(*o, ns)),
            KubeObject::HttpRoute(o) => self.http_routes.push(convert::http_route(*o, ns)),
        }
    }

    /// Counts an object that is not kept.
    pub fn skip(&mut self, kind: &str) {
        *self.skipped.entry(kind.to_owned()).or_default() += 1;
    }

    /// Records a Namespace object's name.
    pub fn add_namespace(&mut self, name: String) {
        self.namespaces.push(name);
    }

    /// Adds `later`'s objects after this snapshot's, as if they had been added after them.
    pub fn append(&mut self, mut later: Snapshot) {
        self.workloads.append(&mut later.workloads);
        self.services.append(&mut later.services);
        self.endpoint_slices.append(&mut later.endpoint_slices);
        self.ingresses.append(&mut later.ingresses);
        self.config_maps.append(&mut later.config_maps);
        self.network_policies.append(&mut later.network_policies);
        self.hpas.append(&mut later.hpas);
        self.pdbs.append(&mut later.pdbs);
        self.virtual_services.append(&mut later.virtual_services);
        self.destination_rules.append(&mut later.destination_rules);
        self.http_routes.append(&mut later.http_routes);
        self.namespaces.append(&mut later.namespaces);
        for (kind, count) in later.skipped {
            *self.skipped.entry(kind).or_default() += count;
        }
    }

    /// Number of objects kept.
    pub fn len(&self) -> usize {
        self.workloads.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.ingresses.len()
            + self.config_maps.len()
            + self.network_policies.len()
            + self.hpas.len()
            + self.pdbs.len()
            + self.virtual_services.len()
            + self.destination_rules.len()
            + self.http_routes.len()
    }

    /// Whether no object was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sorts every list by (namespace, name) (workloads also by kind) and keeps, of objects that
    /// appear twice, the one added last, as `kubectl apply` of the same files would.
    pub fn normalize(&mut self) {
        fn dedup_last<T>(items: &mut Vec<T>, key: impl Fn(&T) -> (&str, &str, &str)) {
            // A stable sort keeps insertion order among equal keys; reversing first makes the
            // last-added one come first, and dedup keeps the first of each run.
            items.reverse();
            items.sort_by(|a, b| key(a).cmp(&key(b)));
            items.dedup_by(|a, b| key(a) == key(b));
        }
        dedup_last(&mut self.workloads, |w| {
            (w.namespace.as_str(), w.kind.as_str(), w.name.as_str())
        });
        dedup_last(&mut self.services, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.endpoint_slices, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.ingresses, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.config_maps, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.network_policies, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.hpas, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.pdbs, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.virtual_services, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.destination_rules, |o| (&o.namespace, &o.name, ""));
        dedup_last(&mut self.http_routes, |o| (&o.namespace, &o.name, ""));
        self.namespaces.sort();
        self.namespaces.dedup();
    }
}

/// A problem with one document that did not stop the reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadWarning {
    pub file: PathBuf,
    /// 1-based line of the problem (the document's first line when nothing finer is known).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Errors reading a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A path could not be read.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A document could not be read and `--strict` was given.
    #[error("{0} (--strict)")]
    Strict(ReadWarning),
}
