//! Building the [`ServiceMap`] from a [`Snapshot`]: a pure function, linear in the number of
//! objects (Services are found by hash lookups and selectors through an index of pod labels).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::address::{self, Found, HostForm};
use super::datastore;
use super::model::*;
use crate::snapshot::{
    ConfigMapRecord, ContainerRecord, EnvValue, PeerRecord, Selector, ServiceRecord, Snapshot,
    VolumeSource, WorkloadKind, WorkloadRecord,
};

/// The namespace of External nodes' ids.
pub const EXTERNAL_NAMESPACE: &str = "external";

/// How sure an edge is, by the strength of its evidence. The source (env, ConfigMap, args,
/// mounted file) scales it with [`SourceKind::weight`].
mod confidence {
    /// An Ingress, HTTPRoute or gateway route names its backend explicitly.
    pub const ROUTE: f64 = 1.0;
    /// `host:port` where the port is one of the Service's ports.
    pub const PORT_MATCH: f64 = 0.95;
    /// A URL with a scheme, or a cluster DNS name.
    pub const QUALIFIED: f64 = 0.9;
    /// An Istio route sends a call to another host than the one named.
    pub const MESH_ROUTE: f64 = 0.85;
    /// `host:port` with a port the Service does not list (perhaps its targetPort).
    pub const PORT_MISMATCH: f64 = 0.75;
    /// A bare Service name under a variable whose name says "address".
    pub const NAME_ONLY: f64 = 0.7;
    /// A reference to something not in the input (Unresolved or External).
    pub const OUTSIDE: f64 = 0.6;
}

/// Where a value was read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    Env,
    ConfigMapEnv,
    Args,
    /// A mounted ConfigMap file or a long script: free text, only strong forms count.
    Text,
}

impl SourceKind {
    fn weight(self) -> f64 {
        match self {
            SourceKind::Env => 1.0,
            SourceKind::ConfigMapEnv => 0.95,
            SourceKind::Args => 0.9,
            SourceKind::Text => 0.7,
        }
    }
}

/// A target an address resolved to.
enum Target {
    Service(usize),
    Unresolved { namespace: String, name: String },
    External { host: String },
}

struct EdgeAccumulator {
    evidence: Vec<Evidence>,
    confidence: f64,
    ports: BTreeSet<i32>,
    protocol: Option<&'static str>,
}

/// Lookups over the snapshot, borrowed from it.
struct Index<'s> {
    snapshot: &'s Snapshot,
    services: HashMap<(&'s str, &'s str), usize>,
    config_maps: HashMap<(&'s str, &'s str), &'s ConfigMapRecord>,
    namespaces: HashSet<&'s str>,
    /// (namespace, label key, label value) → workloads whose pods carry the label.
    label_postings: HashMap<(&'s str, &'s str, &'s str), Vec<usize>>,
    workloads_by_namespace: HashMap<&'s str, Vec<usize>>,
    workloads_by_name: HashMap<(&'s str, &'s str, &'s str), usize>,
    /// Workloads each Service selects.
    backends: Vec<Vec<usize>>,
    /// Services selecting each workload.
    backed_services: Vec<Vec<usize>>,
    workload_ids: Vec<NodeId>,
    service_ids: Vec<NodeId>,
}

impl<'s> Index<'s> {
    fn new(snapshot: &'s Snapshot) -> Self {
        let mut namespaces: HashSet<&str> =
            snapshot.namespaces.iter().map(String::as_str).collect();
        let mut label_postings: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
        let mut workloads_by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut workloads_by_name = HashMap::new();
        for (i, w) in snapshot.workloads.iter().enumerate() {
            namespaces.insert(&w.namespace);
            workloads_by_namespace
                .entry(&w.namespace)
                .or_default()
                .push(i);
            workloads_by_name.insert((w.namespace.as_str(), w.kind.as_str(), w.name.as_str()), i);
            for (key, value) in &w.pod.labels {
                label_postings
                    .entry((&w.namespace, key, value))
                    .or_default()
                    .push(i);
            }
        }
        let mut services = HashMap::with_capacity(snapshot.services.len());
        for (i, s) in snapshot.services.iter().enumerate() {
            namespaces.insert(&s.namespace);
            services.insert((s.namespace.as_str(), s.name.as_str()), i);
        }
        let config_maps = snapshot
            .config_maps
            .iter()
            .map(|c| ((c.namespace.as_str(), c.name.as_str()), c))
            .collect();
        let workload_ids = snapshot
            .workloads
            .iter()
            .map(|w| NodeId::new(&w.namespace, workload_node_kind(w.kind), &w.name))
            .collect();
        let service_ids = snapshot
            .services
            .iter()
            .map(|s| NodeId::new(&s.namespace, NodeKind::Service, &s.name))
            .collect();
        let mut index = Index {
            snapshot,
            services,
            config_maps,
            namespaces,
            label_postings,
            workloads_by_namespace,
            workloads_by_name,
            backends: Vec::new(),
            backed_services: vec![Vec::new(); snapshot.workloads.len()],
            workload_ids,
            service_ids,
        };
        index.backends = snapshot
            .services
            .iter()
            .map(|s| index.service_backends(s))
            .collect();
        for (service, backends) in index.backends.iter().enumerate() {
            for &w in backends {
                index.backed_services[w].push(service);
            }
        }
        index
    }

    /// Workloads of `namespace` whose pod labels contain every pair of `labels`, found through
    /// the rarest pair's posting list.
    fn select_labels(&self, namespace: &str, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let rarest = labels
            .iter()
            .map(|(k, v)| {
                self.label_postings
                    .get(&(namespace, k.as_str(), v.as_str()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|postings| postings.len());
        let Some(candidates) = rarest else {
            return Vec::new();
        };
        candidates
            .iter()
            .copied()
            .filter(|&w| {
                let pod_labels = &self.snapshot.workloads[w].pod.labels;
                labels.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
            })
            .collect()
    }

    /// Workloads of `namespace` a full label selector matches.
    fn select(&self, namespace: &str, selector: &Selector) -> Vec<usize> {
        if selector.match_labels.is_empty() {
            return self
                .workloads_by_namespace
                .get(namespace)
                .map(|all| {
                    all.iter()
                        .copied()
                        .filter(|&w| selector.matches(&self.snapshot.workloads[w].pod.labels))
                        .collect()
                })
                .unwrap_or_default();
        }
        self.select_labels(namespace, &selector.match_labels)
            .into_iter()
            .filter(|&w| selector.matches(&self.snapshot.workloads[w].pod.labels))
            .collect()
    }

    fn service_backends(&self, service: &ServiceRecord) -> Vec<usize> {
        match &service.selector {
            Some(selector) if !selector.is_empty() => {
                self.select_labels(&service.namespace, selector)
            }
            // A selector-less Service is backed by what its EndpointSlices point at, when that
            // is a bare Pod of the input.
            _ => {
                let mut backends: Vec<usize> = self
                    .snapshot
                    .endpoint_slices
                    .iter()
                    .filter(|slice| {
                        slice.namespace == service.namespace
                            && slice.service.as_deref() == Some(service.name.as_str())
                    })
                    .flat_map(|slice| &slice.targets)
                    .filter(|t| t.kind == "Pod")
                    .filter_map(|t| {
                        self.workloads_by_name
                            .get(&(t.namespace.as_str(), "Pod", t.name.as_str()))
                            .copied()
                    })
                    .collect();
                backends.sort_unstable();
                backends.dedup();
                backends
            }
        }
    }

    fn service(&self, namespace: &str, name: &str) -> Option<usize> {
        self.services.get(&(namespace, name)).copied()
    }

    fn config_map(&self, namespace: &str, name: &str) -> Option<&'s ConfigMapRecord> {
        self.config_maps.get(&(namespace, name)).copied()
    }
}

fn workload_node_kind(kind: WorkloadKind) -> NodeKind {
    match kind {
        WorkloadKind::Deployment => NodeKind::Deployment,
        WorkloadKind::StatefulSet => NodeKind::StatefulSet,
        WorkloadKind::DaemonSet => NodeKind::DaemonSet,
        WorkloadKind::Job => NodeKind::Job,
        WorkloadKind::CronJob => NodeKind::CronJob,
        WorkloadKind::Pod => NodeKind::Pod,
    }
}

fn service_type(service: &ServiceRecord) -> ServiceType {
    match service.service_type.as_str() {
        "NodePort" => ServiceType::NodePort,
        "LoadBalancer" => ServiceType::LoadBalancer,
        "ExternalName" => ServiceType::ExternalName,
        _ if service.headless => ServiceType::Headless,
        _ => ServiceType::ClusterIP,
    }
}

/// Lower-cases a host part for lookups, without allocating in the usual all-lower case.
fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

struct Builder<'s> {
    index: Index<'s>,
    edges: BTreeMap<(NodeId, NodeId), EdgeAccumulator>,
    extra_nodes: BTreeMap<NodeId, Node>,
    mesh: HashMap<usize, MeshPolicy>,
}

/// Builds the service map of a snapshot. Nodes come sorted by id, edges by (from, to), each
/// edge's evidence sorted and deduplicated; the same snapshot always gives the same map.
pub fn build(snapshot: &Snapshot) -> ServiceMap {
    let mut builder = Builder {
        index: Index::new(snapshot),
        edges: BTreeMap::new(),
        extra_nodes: BTreeMap::new(),
        mesh: HashMap::new(),
    };
    for w in 0..snapshot.workloads.len() {
        builder.workload_edges(w);
    }
    builder.ingress_edges();
    builder.http_route_edges();
    builder.istio();
    builder.network_policy_evidence();
    builder.finish()
}

impl<'s> Builder<'s> {
    fn snapshot(&self) -> &'s Snapshot {
        self.index.snapshot
    }

    fn workload_edges(&mut self, w: usize) {
        let workload = &self.snapshot().workloads[w];
        for container in workload
            .pod
            .containers
            .iter()
            .chain(&workload.pod.init_containers)
        {
            self.container_edges(w, workload, container);
        }
    }

    /// The value of an environment variable as the container sees it: `env` entries (the last
    /// definition wins) over `envFrom` ConfigMaps.
    fn env_lookup(
        &self,
        workload: &'s WorkloadRecord,
        container: &'s ContainerRecord,
        name: &str,
        before: usize,
    ) -> Option<String> {
        let namespace = workload.namespace.as_str();
        for var in container.env[..before.min(container.env.len())]
            .iter()
            .rev()
        {
            if var.name == name {
                return match &var.value {
                    EnvValue::Literal { value } => Some(value.clone()),
                    EnvValue::ConfigMapKey { config_map, key } => self
                        .index
                        .config_map(namespace, config_map)
                        .and_then(|cm| cm.data.get(key).cloned()),
                    EnvValue::Other => None,
                };
            }
        }
        container.env_from.iter().rev().find_map(|from| {
            let key = name.strip_prefix(from.prefix.as_str())?;
            self.index
                .config_map(namespace, &from.config_map)?
                .data
                .get(key)
                .cloned()
        })
    }

    fn container_edges(
        &mut self,
        w: usize,
        workload: &'s WorkloadRecord,
        container: &'s ContainerRecord,
    ) {
        let namespace = workload.namespace.as_str();
        // envFrom ConfigMaps: every key becomes a variable.
        for from in &container.env_from {
            let Some(cm) = self.index.config_map(namespace, &from.config_map) else {
                continue;
            };
            for (key, value) in &cm.data {
                let var_name = format!("{}{key}", from.prefix);
                self.scan(w, value, Some(&var_name), SourceKind::ConfigMapEnv, &|| {
                    Evidence::ConfigMap {
                        config_map: cm.name.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    }
                });
            }
        }
        for (position, var) in container.env.iter().enumerate() {
            match &var.value {
                EnvValue::Literal { value } => {
                    let expanded = address::expand(value, |name| {
                        self.env_lookup(workload, container, name, position)
                    });
                    let expanded = expanded.as_ref();
                    self.scan(w, expanded, Some(&var.name), SourceKind::Env, &|| {
                        Evidence::Env {
                            container: container.name.clone(),
                            name: var.name.clone(),
                            value: expanded.to_owned(),
                        }
                    });
                }
                EnvValue::ConfigMapKey { config_map, key } => {
                    let Some(value) = self
                        .index
                        .config_map(namespace, config_map)
                        .and_then(|cm| cm.data.get(key))
                    else {
                        continue;
                    };
                    self.scan(w, value, Some(&var.name), SourceKind::ConfigMapEnv, &|| {
                        Evidence::ConfigMap {
                            config_map: config_map.clone(),
                            key: key.clone(),
                            value: value.clone(),
                        }
                    });
                }
                EnvValue::Other => {}
            }
        }
        for arg in container.command.iter().chain(&container.args) {
            let expanded = address::expand(arg, |name| {
                self.env_lookup(workload, container, name, container.env.len())
            });
            let expanded = expanded.as_ref();
            // A shell script passed as one argument is free text.
            let kind = if expanded.contains('\n') || expanded.len() > 256 {
                SourceKind::Text
            } else {
                SourceKind::Args
            };
            self.scan(w, expanded, None, kind, &|| Evidence::Args {
                container: container.name.clone(),
                value: expanded.to_owned(),
            });
        }
        // Mounted ConfigMaps are files the program reads.
        for mount in &container.mounts {
            let Some(volume) = workload.pod.volumes.iter().find(|v| v.name == mount.volume) else {
                continue;
            };
            for source in &volume.sources {
                let VolumeSource::ConfigMap { config_map, keys } = source else {
                    continue;
                };
                let Some(cm) = self.index.config_map(namespace, config_map) else {
                    continue;
                };
                for (key, value) in &cm.data {
                    if !keys.is_empty() && !keys.contains(key) {
                        continue;
                    }
                    let kind = if value.contains('\n') {
                        SourceKind::Text
                    } else {
                        SourceKind::ConfigMapEnv
                    };
                    self.scan(w, value, Some(key), kind, &|| Evidence::ConfigMap {
                        config_map: cm.name.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    });
                }
            }
        }
    }

    /// Finds the addresses in one value and adds an edge for each that resolves.
    fn scan(
        &mut self,
        w: usize,
        value: &str,
        name: Option<&str>,
        source: SourceKind,
        evidence: &dyn Fn() -> Evidence,
    ) {
        if value.is_empty() || value.len() > 1 << 20 {
            return;
        }
        // A multi-line value is a file or a script, whatever delivered it.
        let source = if value.contains('\n') {
            SourceKind::Text
        } else {
            source
        };
        let class = name.map(address::classify_name).unwrap_or_default();
        if class.denies_dependency {
            return;
        }
        for found in address::find_addresses(value) {
            let key_class = found.key.map(address::classify_name).unwrap_or_default();
            if key_class.denies_dependency {
                continue;
            }
            let hint = class.suggests_address || key_class.suggests_address;
            let Some((target, strength)) = self.resolve_found(w, &found, hint, source) else {
                continue;
            };
            let protocol = found.address.protocol();
            let port = found.address.port.map(i32::from);
            let from = self.index.workload_ids[w].clone();
            self.add_edge(
                from,
                target,
                evidence(),
                strength * source.weight(),
                port,
                protocol,
            );
        }
    }

    /// Decides what an address found in a workload's configuration refers to, and how strongly,
    /// or None when it is not taken as a dependency.
    fn resolve_found(
        &self,
        w: usize,
        found: &Found<'_>,
        hint: bool,
        source: SourceKind,
    ) -> Option<(Target, f64)> {
        let caller_namespace = self.snapshot().workloads[w].namespace.as_str();
        let address = &found.address;
        let qualified = address.scheme.is_some() || address.port.is_some();
        let free_text = source == SourceKind::Text;
        let to_service = |service: usize, base: f64| -> Option<(Target, f64)> {
            // A workload reaching its own Service is not a dependency.
            if self.index.backends[service].contains(&w) {
                return None;
            }
            let ports = &self.snapshot().services[service].ports;
            let strength = match address.port {
                Some(port) if ports.iter().any(|p| p.port == i32::from(port)) => {
                    confidence::PORT_MATCH
                }
                Some(_) => confidence::PORT_MISMATCH,
                None => base,
            };
            Some((Target::Service(service), strength))
        };
        let unresolved = |namespace: &str, name: &str| {
            Some((
                Target::Unresolved {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
                confidence::OUTSIDE,
            ))
        };
        match address.form {
            HostForm::Ip => None,
            HostForm::Bare { name } => {
                let name = lower(name);
                if name == "localhost" {
                    return None;
                }
                match self.index.service(caller_namespace, &name) {
                    Some(service) if qualified || hint => {
                        let base = if address.scheme.is_some() {
                            confidence::QUALIFIED
                        } else {
                            confidence::NAME_ONLY
                        };
                        to_service(service, base)
                    }
                    Some(_) => None,
                    // A name nobody defines is reported only when it is clearly an address.
                    None if qualified && hint && !free_text => unresolved(caller_namespace, &name),
                    None => None,
                }
            }
            HostForm::Dotted { first, second } => {
                let (first, second) = (lower(first), lower(second));
                if let Some(service) = self.index.service(&second, &first) {
                    return to_service(service, confidence::QUALIFIED);
                }
                // `pod.service` of a headless Service in the caller's namespace.
                if let Some(service) = self.index.service(caller_namespace, &second)
                    && self.snapshot().services[service].headless
                {
                    return to_service(service, confidence::QUALIFIED);
                }
                if self.index.namespaces.contains(second.as_ref()) {
                    return if (qualified || hint) && !free_text {
                        unresolved(&second, &first)
                    } else {
                        None
                    };
                }
                self.external(address, hint, free_text)
            }
            HostForm::Cluster { name, namespace } => {
                let (name, namespace) = (lower(name), lower(namespace));
                match self.index.service(&namespace, &name) {
                    Some(service) => to_service(service, confidence::QUALIFIED),
                    None => unresolved(&namespace, &name),
                }
            }
            HostForm::External => self.external(address, hint, free_text),
        }
    }

    fn external(
        &self,
        address: &address::Address<'_>,
        hint: bool,
        free_text: bool,
    ) -> Option<(Target, f64)> {
        if !address::has_plausible_tld(address.host) {
            return None;
        }
        let accepted = if free_text {
            address.scheme.is_some()
        } else {
            address.scheme.is_some() || address.port.is_some() || hint
        };
        accepted.then(|| {
            (
                Target::External {
                    host: address.host.to_ascii_lowercase(),
                },
                confidence::OUTSIDE,
            )
        })
    }

    fn add_edge(
        &mut self,
        from: NodeId,
        target: Target,
        evidence: Evidence,
        confidence: f64,
        port: Option<i32>,
        protocol: Option<&'static str>,
    ) {
        let to = match target {
            Target::Service(s) => self.index.service_ids[s].clone(),
            Target::Unresolved { namespace, name } => {
                let id = NodeId::new(&namespace, NodeKind::Unresolved, &name);
                self.extra_nodes.entry(id.clone()).or_insert_with(|| Node {
                    id: id.clone(),
                    kind: NodeKind::Unresolved,
                    namespace,
                    name,
                    entry_point: false,
                    workload: None,
                    service: None,
                    host: None,
                });
                id
            }
            Target::External { host } => {
                let id = NodeId::new(EXTERNAL_NAMESPACE, NodeKind::External, &host);
                self.extra_nodes.entry(id.clone()).or_insert_with(|| Node {
                    id: id.clone(),
                    kind: NodeKind::External,
                    namespace: EXTERNAL_NAMESPACE.to_owned(),
                    name: host.clone(),
                    entry_point: false,
                    workload: None,
                    service: None,
                    host: Some(host),
                });
                id
            }
        };
        let edge = self
            .edges
            .entry((from, to))
            .or_insert_with(|| EdgeAccumulator {
                evidence: Vec::new(),
                confidence: 0.0,
                ports: BTreeSet::new(),
                protocol: None,
            });
        edge.evidence.push(evidence);
        edge.confidence = edge.confidence.max(confidence);
        if let Some(port) = port {
            edge.ports.insert(port);
        }
        if edge.protocol.is_none() {
            edge.protocol = protocol;
        }
    }
}

impl Builder<'_> {
    /// What a route's host or backend name refers to, seen from `namespace`.
    fn resolve_route_host(&self, namespace: &str, host: &str) -> Option<Target> {
        let address = address::parse_address(host)?;
        let unresolved = |namespace: &str, name: &str| Target::Unresolved {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        match address.form {
            HostForm::Ip => None,
            HostForm::Bare { name } => {
                let name = lower(name);
                Some(match self.index.service(namespace, &name) {
                    Some(s) => Target::Service(s),
                    None => unresolved(namespace, &name),
                })
            }
            HostForm::Dotted { first, second } => {
                let (first, second) = (lower(first), lower(second));
                if let Some(s) = self.index.service(&second, &first) {
                    Some(Target::Service(s))
                } else if self.index.namespaces.contains(second.as_ref()) {
                    Some(unresolved(&second, &first))
                } else {
                    Some(Target::External {
                        host: address.host.to_ascii_lowercase(),
                    })
                }
            }
            HostForm::Cluster { name, namespace } => {
                let (name, namespace) = (lower(name), lower(namespace));
                Some(match self.index.service(&namespace, &name) {
                    Some(s) => Target::Service(s),
                    None => unresolved(&namespace, &name),
                })
            }
            HostForm::External => Some(Target::External {
                host: address.host.to_ascii_lowercase(),
            }),
        }
    }

    fn backend_target(&self, namespace: &str, service: &str) -> Target {
        match self.index.service(namespace, service) {
            Some(s) => Target::Service(s),
            None => Target::Unresolved {
                namespace: namespace.to_owned(),
                name: service.to_owned(),
            },
        }
    }

    fn entry_node(&mut self, namespace: &str, kind: NodeKind, name: &str) -> NodeId {
        let id = NodeId::new(namespace, kind, name);
        self.extra_nodes.entry(id.clone()).or_insert_with(|| Node {
            id: id.clone(),
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            entry_point: true,
            workload: None,
            service: None,
            host: None,
        });
        id
    }

    fn ingress_edges(&mut self) {
        let snapshot = self.snapshot();
        for ingress in &snapshot.ingresses {
            let from = self.entry_node(&ingress.namespace, NodeKind::Ingress, &ingress.name);
            for path in &ingress.paths {
                let target = self.backend_target(&ingress.namespace, &path.backend.service);
                let port = path.backend.port.as_deref().and_then(|p| p.parse().ok());
                let evidence = Evidence::IngressRule {
                    ingress: ingress.name.clone(),
                    host: path.host.clone(),
                    path: path.path.clone(),
                };
                self.add_edge(
                    from.clone(),
                    target,
                    evidence,
                    confidence::ROUTE,
                    port,
                    None,
                );
            }
        }
    }

    fn http_route_edges(&mut self) {
        let snapshot = self.snapshot();
        for route in &snapshot.http_routes {
            let from = self.entry_node(&route.namespace, NodeKind::HTTPRoute, &route.name);
            for rule in &route.rules {
                for backend in &rule.backends {
                    for path in &rule.paths {
                        let target = self.backend_target(&backend.namespace, &backend.service);
                        let evidence = Evidence::HttpRoute {
                            route: route.name.clone(),
                            path: path.clone(),
                        };
                        self.add_edge(
                            from.clone(),
                            target,
                            evidence,
                            confidence::ROUTE,
                            backend.port,
                            None,
                        );
                    }
                }
            }
        }
    }

    /// Istio: DestinationRule and VirtualService policies on Services, gateway-bound
    /// VirtualServices as entry points, and mesh routes that send a call elsewhere.
    fn istio(&mut self) {
        let snapshot = self.snapshot();
        for rule in &snapshot.destination_rules {
            if let Some(Target::Service(s)) = self.resolve_route_host(&rule.namespace, &rule.host) {
                let policy = self.mesh.entry(s).or_default();
                policy.subsets.extend(rule.subsets.iter().cloned());
                policy.outlier_detection |= rule.outlier_detection;
                policy.connection_pool |= rule.connection_pool;
            }
        }
        if snapshot.virtual_services.is_empty() {
            return;
        }
        let mut callers_of: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
        for (from, to) in self.edges.keys() {
            callers_of.entry(to.clone()).or_default().push(from.clone());
        }
        for vs in &snapshot.virtual_services {
            let host_services: Vec<usize> = vs
                .hosts
                .iter()
                .filter_map(|h| match self.resolve_route_host(&vs.namespace, h) {
                    Some(Target::Service(s)) => Some(s),
                    _ => None,
                })
                .collect();
            for &s in &host_services {
                let policy = self.mesh.entry(s).or_default();
                policy.timeout |= vs.has_timeout;
                policy.retries |= vs.has_retries;
            }
            let at_gateway = vs.gateways.iter().any(|g| g != "mesh");
            let in_mesh = vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == "mesh");
            for destination in &vs.destinations {
                let evidence = Evidence::IstioRoute {
                    virtual_service: vs.name.clone(),
                    host: destination.host.clone(),
                };
                if at_gateway
                    && let Some(target) = self.resolve_route_host(&vs.namespace, &destination.host)
                {
                    let from = self.entry_node(&vs.namespace, NodeKind::VirtualService, &vs.name);
                    self.add_edge(
                        from,
                        target,
                        evidence.clone(),
                        confidence::ROUTE,
                        destination.port,
                        None,
                    );
                }
                if !in_mesh {
                    continue;
                }
                let Some(Target::Service(dest)) =
                    self.resolve_route_host(&vs.namespace, &destination.host)
                else {
                    continue;
                };
                for &host_service in &host_services {
                    let host_id = &self.index.service_ids[host_service];
                    let Some(callers) = callers_of.get(host_id) else {
                        continue;
                    };
                    for caller in callers.clone() {
                        let is_workload = caller.as_str().split('/').nth(1).is_some_and(|k| {
                            !matches!(k, "Ingress" | "HTTPRoute" | "VirtualService")
                        });
                        if !is_workload {
                            continue;
                        }
                        let strength = if dest == host_service {
                            confidence::QUALIFIED
                        } else {
                            confidence::MESH_ROUTE
                        };
                        self.add_edge(
                            caller,
                            Target::Service(dest),
                            evidence.clone(),
                            strength,
                            destination.port,
                            None,
                        );
                    }
                }
            }
        }
    }

    /// Adds NetworkPolicy evidence to existing workload → Service edges that an egress rule
    /// explicitly allows (a peer whose pod selector matches the Service's backends). No edge is
    /// created from a policy alone: allowing a call does not show that it happens.
    fn network_policy_evidence(&mut self) {
        let snapshot = self.snapshot();
        let service_by_id: HashMap<&NodeId, usize> = self
            .index
            .service_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        let mut additions: Vec<((NodeId, NodeId), Evidence)> = Vec::new();
        for policy in &snapshot.network_policies {
            if !policy.policy_types.iter().any(|t| t == "Egress") || policy.egress.is_empty() {
                continue;
            }
            for w in self.index.select(&policy.namespace, &policy.pod_selector) {
                let from = &self.index.workload_ids[w];
                // Edges are keyed by (from, to): this workload's edges are one range.
                let start = (from.clone(), NodeId::default());
                for ((edge_from, to), _) in self.edges.range(start..) {
                    if edge_from != from {
                        break;
                    }
                    let Some(&s) = service_by_id.get(to) else {
                        continue;
                    };
                    let service = &snapshot.services[s];
                    let backends = &self.index.backends[s];
                    let allowed = policy.egress.iter().any(|rule| {
                        rule.peers.iter().any(|peer| {
                            peer_selects(peer, &policy.namespace, service, backends, snapshot)
                        })
                    });
                    if allowed {
                        additions.push((
                            (from.clone(), to.clone()),
                            Evidence::NetworkPolicy {
                                policy: policy.name.clone(),
                            },
                        ));
                    }
                }
            }
        }
        for (key, evidence) in additions {
            if let Some(edge) = self.edges.get_mut(&key) {
                edge.evidence.push(evidence);
            }
        }
    }

    fn workload_info(
        &self,
        w: usize,
        has_pdb: bool,
        autoscaling: Option<(i32, i32)>,
    ) -> WorkloadInfo {
        let workload = &self.snapshot().workloads[w];
        let containers: Vec<ContainerInfo> = workload
            .pod
            .containers
            .iter()
            .map(|c| ContainerInfo {
                name: c.name.clone(),
                image: c.image.clone(),
                ports: c.ports.clone(),
                readiness_probe: c.readiness_probe,
                liveness_probe: c.liveness_probe,
                resource_limits: c.resource_limits,
            })
            .collect();
        let data_store = workload
            .pod
            .containers
            .iter()
            .find_map(|c| datastore::by_image(&c.image))
            .or_else(|| {
                workload
                    .pod
                    .containers
                    .iter()
                    .flat_map(|c| &c.ports)
                    .find_map(|&p| datastore::by_port(p))
            });
        let persistent: HashSet<&str> = workload
            .pod
            .volumes
            .iter()
            .filter(|v| {
                v.sources
                    .iter()
                    .any(|s| matches!(s, VolumeSource::Persistent { .. }))
            })
            .map(|v| v.name.as_str())
            .collect();
        let mut persistent_mounts: Vec<String> = workload
            .pod
            .containers
            .iter()
            .flat_map(|c| &c.mounts)
            .filter(|m| persistent.contains(m.volume.as_str()))
            .map(|m| m.path.clone())
            .collect();
        persistent_mounts.sort();
        persistent_mounts.dedup();
        WorkloadInfo {
            replicas: match workload.kind {
                WorkloadKind::Deployment | WorkloadKind::StatefulSet => workload.replicas,
                _ => None,
            },
            pod_labels: workload.pod.labels.clone(),
            containers,
            data_store,
            persistent_mounts,
            has_pdb,
            autoscaling,
        }
    }

    /// The protocol of a call to a Service: the port's appProtocol or name, else what its
    /// backends are, else what the port usually carries.
    fn service_protocol(&self, service: usize, port: Option<i32>) -> Option<String> {
        let record = &self.snapshot().services[service];
        let service_port = match port {
            Some(port) => record.ports.iter().find(|p| p.port == port),
            None if record.ports.len() == 1 => record.ports.first(),
            None => None,
        };
        const PORT_NAME_PROTOCOLS: &[&str] = &[
            "http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "redis", "mongo", "mysql",
            "amqp", "kafka", "postgres",
        ];
        if let Some(app) = service_port.and_then(|p| p.app_protocol.as_ref()) {
            return Some(app.rsplit('/').next().unwrap_or(app).to_ascii_lowercase());
        }
        // What the backends are says more than a port named `tcp-redis`.
        let backend_store = self.index.backends[service].iter().find_map(|&w| {
            let workload = &self.snapshot().workloads[w];
            workload
                .pod
                .containers
                .iter()
                .find_map(|c| datastore::by_image(&c.image))
        });
        if let Some(kind) = backend_store {
            return Some(datastore::protocol(kind).to_owned());
        }
        if let Some(name) = service_port.and_then(|p| p.name.as_ref()) {
            let prefix = name.split('-').next().unwrap_or(name).to_ascii_lowercase();
            if PORT_NAME_PROTOCOLS.contains(&prefix.as_str()) {
                return Some(prefix);
            }
        }
        service_port
            .and_then(|p| datastore::by_port(p.port))
            .map(|kind| datastore::protocol(kind).to_owned())
    }

    fn finish(mut self) -> ServiceMap {
        let snapshot = self.snapshot();
        let mut has_pdb = vec![false; snapshot.workloads.len()];
        for pdb in &snapshot.pdbs {
            if let Some(selector) = &pdb.selector {
                for w in self.index.select(&pdb.namespace, selector) {
                    has_pdb[w] = true;
                }
            }
        }
        let mut autoscaling: Vec<Option<(i32, i32)>> = vec![None; snapshot.workloads.len()];
        for hpa in &snapshot.hpas {
            let key = (
                hpa.namespace.as_str(),
                hpa.target_kind.as_str(),
                hpa.target_name.as_str(),
            );
            if let Some(&w) = self.index.workloads_by_name.get(&key) {
                autoscaling[w] = Some((hpa.min_replicas, hpa.max_replicas));
            }
        }
        let mut nodes = Vec::with_capacity(
            snapshot.workloads.len() + snapshot.services.len() + self.extra_nodes.len(),
        );
        for (w, workload) in snapshot.workloads.iter().enumerate() {
            nodes.push(Node {
                id: self.index.workload_ids[w].clone(),
                kind: workload_node_kind(workload.kind),
                namespace: workload.namespace.clone(),
                name: workload.name.clone(),
                entry_point: false,
                workload: Some(self.workload_info(w, has_pdb[w], autoscaling[w])),
                service: None,
                host: None,
            });
        }
        for (s, service) in snapshot.services.iter().enumerate() {
            let service_type = service_type(service);
            let mut backends: Vec<NodeId> = self.index.backends[s]
                .iter()
                .map(|&w| self.index.workload_ids[w].clone())
                .collect();
            backends.sort();
            nodes.push(Node {
                id: self.index.service_ids[s].clone(),
                kind: NodeKind::Service,
                namespace: service.namespace.clone(),
                name: service.name.clone(),
                entry_point: matches!(
                    service_type,
                    ServiceType::LoadBalancer | ServiceType::NodePort
                ),
                workload: None,
                service: Some(ServiceInfo {
                    service_type,
                    ports: service.ports.iter().map(|p| p.port).collect(),
                    selector: service.selector.clone().unwrap_or_default(),
                    backends,
                    external_name: service.external_name.clone(),
                    mesh: self.mesh.remove(&s).map(|mut policy| {
                        policy.subsets.sort();
                        policy.subsets.dedup();
                        policy
                    }),
                }),
                host: None,
            });
        }
        let service_by_id: HashMap<NodeId, usize> = self
            .index
            .service_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let edges_in = std::mem::take(&mut self.edges);
        let mut edges = Vec::with_capacity(edges_in.len());
        for ((from, to), acc) in edges_in {
            let port = acc.ports.first().copied();
            let protocol = acc.protocol.map(str::to_owned).or_else(|| {
                service_by_id
                    .get(&to)
                    .and_then(|&s| self.service_protocol(s, port))
            });
            let mut edge = Edge {
                from,
                to,
                evidence: acc.evidence,
                kinds: Vec::new(),
                confidence: (acc.confidence * 1000.0).round() / 1000.0,
                port,
                protocol,
            };
            edge.normalize();
            edges.push(edge);
        }
        nodes.extend(std::mem::take(&mut self.extra_nodes).into_values());
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes.dedup_by(|a, b| a.id == b.id);
        ServiceMap {
            nodes,
            edges,
            unmatched: Vec::new(),
        }
    }
}

/// Whether a NetworkPolicy peer selects the pods behind `service`.
fn peer_selects(
    peer: &PeerRecord,
    policy_namespace: &str,
    service: &ServiceRecord,
    backends: &[usize],
    snapshot: &Snapshot,
) -> bool {
    let Some(pod_selector) = &peer.pod_selector else {
        return false;
    };
    let namespace_ok = match &peer.namespace_selector {
        None => service.namespace == policy_namespace,
        Some(ns) if ns.is_empty() => true,
        Some(ns) => {
            let mut labels = BTreeMap::new();
            labels.insert(
                "kubernetes.io/metadata.name".to_owned(),
                service.namespace.clone(),
            );
            ns.matches(&labels)
        }
    };
    namespace_ok
        && !backends.is_empty()
        && backends
            .iter()
            .all(|&w| pod_selector.matches(&snapshot.workloads[w].pod.labels))
}
