//! Matching names found outside the cluster objects (trace attributes, metric labels, boxes of an
//! architecture diagram) to nodes of the map, by explicit rules. A name that matches nothing is
//! reported by the caller as unmatched; it never becomes a workload or a Service.
//!
//! The rules, in order, for the calling side (a workload):
//! 1. a workload name (`k8s.deployment.name`, Istio `source_workload`, Linkerd `deployment`);
//! 2. a pod name with its ReplicaSet hash and suffix (or StatefulSet ordinal) stripped;
//! 3. a service name (`service.name`, a diagram label) naming a workload, then a Service whose
//!    backends are exactly one workload.
//!
//! For the called side (a Service): a Kubernetes Service name (Istio `destination_service_name`,
//! Linkerd `dst_service`, `peer.service`), a host (`server.address`, `net.peer.name`, a cluster
//! DNS name), then a workload name resolved to the Service that selects it.
//!
//! A namespace, when the source gives one, must match. Without one, a name must be unique across
//! the map's namespaces. Loose matching (case, separators, `-service`/`-svc`/`-api` suffixes) is
//! only for human-written names (diagrams), never for telemetry, which names things exactly.
//! (`cartservice` and `Cart Service` meet; so do `front-end` and `Front End`.)

use std::collections::{BTreeMap, BTreeSet};

use super::model::{NodeId, NodeKind, ServiceMap};

/// What one end of a call is called by a telemetry source or a diagram.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NameHints {
    /// `k8s.namespace.name`, a metric's namespace label, a diagram's namespace.
    pub namespace: Option<String>,
    /// A workload name: `k8s.deployment.name`, `k8s.statefulset.name`, Istio `*_workload`,
    /// Linkerd `deployment`.
    pub workload: Option<String>,
    /// `k8s.pod.name`.
    pub pod: Option<String>,
    /// A Kubernetes Service name: Istio `destination_service_name`, Linkerd `dst_service`,
    /// `peer.service`.
    pub service: Option<String>,
    /// A logical service name: OTel `service.name`, Jaeger/Zipkin service names, service-graph
    /// `client`/`server`, a diagram label.
    pub service_name: Option<String>,
    /// A host called: `server.address`, `net.peer.name`, a URL's host.
    pub host: Option<String>,
}

impl NameHints {
    /// The most telling name, for messages about a name that matched nothing.
    pub fn display_name(&self) -> String {
        let name = self
            .workload
            .as_deref()
            .or(self.service.as_deref())
            .or(self.service_name.as_deref())
            .or(self.pod.as_deref())
            .or(self.host.as_deref())
            .unwrap_or("(unnamed)");
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.to_owned(),
        }
    }
}

/// How strictly names are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matching {
    /// Telemetry: names as the cluster spells them.
    Exact,
    /// Human-written names: exact first, then [`normalize`]d.
    Loose,
}

/// What a called name resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callee {
    /// A Service of the map.
    Service(NodeId),
    /// A host outside the input (it has a plausible public domain and is no cluster name).
    External(String),
}

/// Why a name matched nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoMatch {
    /// No node has that name.
    Unknown,
    /// Several nodes in different namespaces have it and the source gave no namespace.
    Ambiguous(Vec<NodeId>),
}

impl NoMatch {
    /// A sentence for reports.
    pub fn reason(&self) -> String {
        match self {
            NoMatch::Unknown => "no workload or Service of the map has this name".to_owned(),
            NoMatch::Ambiguous(ids) => {
                let ids: Vec<&str> = ids.iter().map(NodeId::as_str).collect();
                format!(
                    "the name fits several nodes ({}) and no namespace was given",
                    ids.join(", ")
                )
            }
        }
    }
}

/// Lowercase, a `name [label]` reduced to `name`, one trailing `service`, `svc` or `-api` word
/// removed, and separators dropped: `"Orders Service [Java]"`, `"orders_svc"` and
/// `"ordersservice"` → `"orders"`; `"user-db [MongoDB]"` → `"userdb"`. Dropping separators lets
/// `Cart Service` meet `cartservice`, as people write both.
pub fn normalize(name: &str) -> String {
    let name = name.split('[').next().unwrap_or(name).trim();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    if words.len() > 1
        && matches!(
            words.last().map(String::as_str),
            Some("service" | "svc" | "api")
        )
    {
        words.pop();
    }
    let mut out = words.concat();
    for suffix in ["service", "svc"] {
        if let Some(stem) = out.strip_suffix(suffix).filter(|s| s.len() >= 2) {
            out = stem.to_owned();
            break;
        }
    }
    out
}

/// The workload name a pod name comes from: `cart-7d9f8b6c5d-x2x9k` → `cart` (Deployment),
/// `db-0` → `db` (StatefulSet), `agent-x2x9k` → `agent` (DaemonSet). None when it has no such
/// suffix.
pub fn workload_of_pod(pod: &str) -> Vec<String> {
    let parts: Vec<&str> = pod.split('-').collect();
    let mut candidates = Vec::new();
    let is_suffix = |s: &str| s.len() == 5 && s.chars().all(|c| c.is_ascii_alphanumeric());
    let is_hash =
        |s: &str| (6..=10).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric());
    let n = parts.len();
    if n >= 3 && is_hash(parts[n - 2]) && is_suffix(parts[n - 1]) {
        candidates.push(parts[..n - 2].join("-"));
    }
    if n >= 2 && parts[n - 1].chars().all(|c| c.is_ascii_digit()) && !parts[n - 1].is_empty() {
        candidates.push(parts[..n - 1].join("-"));
    }
    if n >= 2 && is_suffix(parts[n - 1]) {
        candidates.push(parts[..n - 1].join("-"));
    }
    candidates
}

/// Lookups over a map's nodes by name.
pub struct NameIndex<'m> {
    map: &'m ServiceMap,
    /// name → workload nodes with that name.
    workloads: BTreeMap<String, Vec<usize>>,
    /// normalized name → workload nodes.
    workloads_loose: BTreeMap<String, Vec<usize>>,
    /// name → Service nodes with that name.
    services: BTreeMap<String, Vec<usize>>,
    /// normalized name → Service nodes.
    services_loose: BTreeMap<String, Vec<usize>>,
    /// workload id → Services whose backends include it.
    services_of_workload: BTreeMap<&'m NodeId, Vec<usize>>,
    namespaces: BTreeSet<&'m str>,
}

impl<'m> NameIndex<'m> {
    /// Indexes the workloads and Services of `map`.
    pub fn new(map: &'m ServiceMap) -> Self {
        let mut index = NameIndex {
            map,
            workloads: BTreeMap::new(),
            workloads_loose: BTreeMap::new(),
            services: BTreeMap::new(),
            services_loose: BTreeMap::new(),
            services_of_workload: BTreeMap::new(),
            namespaces: BTreeSet::new(),
        };
        for (i, node) in map.nodes.iter().enumerate() {
            index.namespaces.insert(&node.namespace);
            if node.kind.is_workload() {
                index
                    .workloads
                    .entry(node.name.clone())
                    .or_default()
                    .push(i);
                index
                    .workloads_loose
                    .entry(normalize(&node.name))
                    .or_default()
                    .push(i);
            } else if node.kind == NodeKind::Service {
                index.services.entry(node.name.clone()).or_default().push(i);
                index
                    .services_loose
                    .entry(normalize(&node.name))
                    .or_default()
                    .push(i);
                for backend in node.service.iter().flat_map(|s| &s.backends) {
                    index
                        .services_of_workload
                        .entry(backend)
                        .or_default()
                        .push(i);
                }
            }
        }
        index
    }

    /// The map the index was built from.
    pub fn map(&self) -> &'m ServiceMap {
        self.map
    }

    /// The workload that `hints` names, as a caller.
    pub fn workload(&self, hints: &NameHints, matching: Matching) -> Result<NodeId, NoMatch> {
        let namespace = hints.namespace.as_deref();
        let mut outcome = Err(NoMatch::Unknown);
        let mut consider = |result: Result<NodeId, NoMatch>| {
            if matches!(outcome, Err(NoMatch::Unknown)) {
                outcome = result;
            }
        };
        if let Some(workload) = &hints.workload {
            consider(self.pick(&self.workloads, workload, namespace));
        }
        if let Some(pod) = &hints.pod {
            for candidate in workload_of_pod(pod) {
                consider(self.pick(&self.workloads, &candidate, namespace));
            }
        }
        if let Some(name) = &hints.service_name {
            consider(self.pick(&self.workloads, name, namespace));
            consider(self.single_backend(self.pick(&self.services, name, namespace)));
            if matching == Matching::Loose {
                let loose = normalize(name);
                consider(self.pick(&self.workloads_loose, &loose, namespace));
                consider(self.single_backend(self.pick(&self.services_loose, &loose, namespace)));
            }
        }
        outcome
    }

    /// The Service (or outside host) that `hints` names, as a callee.
    pub fn callee(&self, hints: &NameHints, matching: Matching) -> Result<Callee, NoMatch> {
        let namespace = hints.namespace.as_deref();
        let mut outcome = Err(NoMatch::Unknown);
        let mut consider = |result: Result<NodeId, NoMatch>| {
            if matches!(outcome, Err(NoMatch::Unknown)) {
                outcome = result;
            }
        };
        if let Some(service) = &hints.service {
            consider(self.pick(&self.services, service, namespace));
        }
        let host_name = hints.host.as_deref().map(cluster_host);
        if let Some((name, host_namespace)) = &host_name {
            consider(self.pick(&self.services, name, host_namespace.or(namespace)));
        }
        for name in [&hints.workload, &hints.service_name].into_iter().flatten() {
            consider(self.pick(&self.services, name, namespace));
            consider(self.service_of(self.pick(&self.workloads, name, namespace)));
        }
        if let Some(pod) = &hints.pod {
            for candidate in workload_of_pod(pod) {
                consider(self.service_of(self.pick(&self.workloads, &candidate, namespace)));
            }
        }
        if matching == Matching::Loose
            && let Some(name) = &hints.service_name
        {
            let loose = normalize(name);
            consider(self.pick(&self.services_loose, &loose, namespace));
            consider(self.service_of(self.pick(&self.workloads_loose, &loose, namespace)));
        }
        match outcome {
            Ok(id) => Ok(Callee::Service(id)),
            Err(NoMatch::Unknown) => match &hints.host {
                Some(host) if self.is_outside(host) => Ok(Callee::External(strip_port(host))),
                _ => Err(NoMatch::Unknown),
            },
            Err(other) => Err(other),
        }
    }

    /// The one node named `name` (in `namespace` when given).
    fn pick(
        &self,
        by_name: &BTreeMap<String, Vec<usize>>,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<NodeId, NoMatch> {
        let Some(found) = by_name.get(name) else {
            return Err(NoMatch::Unknown);
        };
        let nodes = &self.map.nodes;
        let fitting: Vec<usize> = found
            .iter()
            .copied()
            .filter(|&i| namespace.is_none_or(|ns| nodes[i].namespace == ns))
            .collect();
        match fitting.as_slice() {
            [] => Err(NoMatch::Unknown),
            [one] => Ok(nodes[*one].id.clone()),
            many => {
                // Same name, several kinds in one namespace (a Deployment and a StatefulSet): the
                // first by id, so the choice is stable. Across namespaces it is ambiguous.
                let spaces: BTreeSet<&str> =
                    many.iter().map(|&i| nodes[i].namespace.as_str()).collect();
                if spaces.len() == 1 {
                    Ok(many
                        .iter()
                        .map(|&i| nodes[i].id.clone())
                        .min()
                        .unwrap_or_default())
                } else {
                    Err(NoMatch::Ambiguous(
                        many.iter().map(|&i| nodes[i].id.clone()).collect(),
                    ))
                }
            }
        }
    }

    /// The workload behind a Service with exactly one backend.
    fn single_backend(&self, service: Result<NodeId, NoMatch>) -> Result<NodeId, NoMatch> {
        let id = service?;
        let node = self.map.nodes.iter().find(|n| n.id == id);
        match node
            .and_then(|n| n.service.as_ref())
            .map(|s| s.backends.as_slice())
        {
            Some([one]) => Ok(one.clone()),
            _ => Err(NoMatch::Unknown),
        }
    }

    /// The Service that selects a workload: the one named like it, else the first by id.
    fn service_of(&self, workload: Result<NodeId, NoMatch>) -> Result<NodeId, NoMatch> {
        let id = workload?;
        let services = self.services_of_workload.get(&id).ok_or(NoMatch::Unknown)?;
        let nodes = &self.map.nodes;
        let workload_name = id.as_str().rsplit('/').next().unwrap_or_default();
        services
            .iter()
            .find(|&&i| nodes[i].name == workload_name)
            .or_else(|| {
                services
                    .iter()
                    .min_by(|&&a, &&b| nodes[a].id.cmp(&nodes[b].id))
            })
            .map(|&i| nodes[i].id.clone())
            .ok_or(NoMatch::Unknown)
    }

    /// A host that is not a cluster name of the map: it has a dot, and its first label after
    /// the name is no namespace of the map and no `svc`.
    fn is_outside(&self, host: &str) -> bool {
        let host = strip_port(host);
        let mut labels = host.split('.');
        let _name = labels.next();
        match labels.next() {
            None => false,
            Some(second) => {
                !self.namespaces.contains(second) && second != "svc" && !host.ends_with(".local")
            }
        }
    }
}

/// `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local` (with or without a port) → the
/// name and the namespace it names.
fn cluster_host(host: &str) -> (String, Option<&str>) {
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let mut labels = host.split('.');
    let name = labels.next().unwrap_or_default().to_owned();
    let namespace = labels.next();
    (name, namespace)
}

fn strip_port(host: &str) -> String {
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
        _ => host.to_owned(),
    }
}
