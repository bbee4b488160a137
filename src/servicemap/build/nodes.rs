//! The finished map: workload and Service nodes with what is known about them, and the edges.

use foldhash::HashSet;

use super::super::datastore;
use super::super::model::*;
use super::Builder;
use crate::snapshot::{ServiceRecord, VolumeSource, WorkloadKind};

pub(super) fn workload_node_kind(kind: WorkloadKind) -> NodeKind {
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

impl Builder<'_> {
    pub(super) fn workload_info(
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
    pub(super) fn service_protocol(&self, service: usize, port: Option<i32>) -> Option<String> {
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

    pub(super) fn finish(mut self) -> ServiceMap {
        let snapshot = self.snapshot();
        // Edges first: the accumulator's tree is freed as they are finished, before the nodes
        // take their room (on a large cluster, a peak of both otherwise).
        let service_by_id = self.index.services_by_id();
        let accumulated = std::mem::take(&mut self.edges);
        let (edges, extra_nodes) = accumulated.finish(|to, port| {
            service_by_id
                .get(to)
                .and_then(|&s| self.service_protocol(s, port))
        });
        drop(service_by_id);
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
        // The lookups by name and label are done with; freed before the nodes take their room.
        self.index.free_lookups();
        let mut nodes = Vec::with_capacity(
            snapshot.workloads.len() + snapshot.services.len() + extra_nodes.len(),
        );
        for (w, workload) in snapshot.workloads.iter().enumerate() {
            nodes.push(Node {
                id: self.index.workload_ids[w].clone(),
                kind: workload_node_kind(workload.kind),
                namespace: workload.namespace.clone(),
                name: workload.name.clone(),
                entry_point: false,
                entry_via: None,
                load_generator: false,
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
                entry_via: None,
                load_generator: false,
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
        nodes.extend(extra_nodes);
        // Of two nodes with one id, the one the input defines comes first and is kept. (A stable
        // sort would allocate a copy of half the nodes.)
        let added_by_edges = |node: &Node| node.workload.is_none() && node.service.is_none();
        nodes.sort_unstable_by(|a, b| {
            a.id.cmp(&b.id)
                .then_with(|| added_by_edges(a).cmp(&added_by_edges(b)))
        });
        nodes.dedup_by(|a, b| a.id == b.id);
        ServiceMap {
            nodes,
            edges,
            unmatched: Vec::new(),
        }
    }
}
