//! Lookups over the snapshot: Services and ConfigMaps by name, workloads by the labels of their
//! pods, and which workloads each Service selects.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet};

use super::super::model::{NodeId, NodeKind};
use super::nodes::workload_node_kind;
use crate::snapshot::{ConfigMapRecord, Selector, ServiceRecord, Snapshot};

/// Lookups over the snapshot, borrowed from it.
pub(super) struct Index<'s> {
    pub(super) snapshot: &'s Snapshot,
    pub(super) services: HashMap<(&'s str, &'s str), usize>,
    pub(super) config_maps: HashMap<(&'s str, &'s str), &'s ConfigMapRecord>,
    pub(super) namespaces: HashSet<&'s str>,
    /// (namespace, label key, label value) → workloads whose pods carry the label.
    pub(super) label_postings: HashMap<(&'s str, &'s str, &'s str), Vec<usize>>,
    pub(super) workloads_by_namespace: HashMap<&'s str, Vec<usize>>,
    pub(super) workloads_by_name: HashMap<(&'s str, &'s str, &'s str), usize>,
    /// Workloads each Service selects.
    pub(super) backends: Vec<Vec<usize>>,
    /// Services selecting each workload.
    pub(super) backed_services: Vec<Vec<usize>>,
    pub(super) workload_ids: Vec<NodeId>,
    pub(super) service_ids: Vec<NodeId>,
}

impl<'s> Index<'s> {
    pub(super) fn new(snapshot: &'s Snapshot) -> Self {
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
    pub(super) fn select_labels(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<usize> {
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
    pub(super) fn select(&self, namespace: &str, selector: &Selector) -> Vec<usize> {
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

    pub(super) fn service_backends(&self, service: &ServiceRecord) -> Vec<usize> {
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

    /// Frees the lookups by name and label; what remains are the ids and the backends.
    pub(super) fn free_lookups(&mut self) {
        self.services = HashMap::default();
        self.config_maps = HashMap::default();
        self.namespaces = HashSet::default();
        self.label_postings = HashMap::default();
        self.workloads_by_namespace = HashMap::default();
        self.workloads_by_name = HashMap::default();
    }

    /// Services by node id, for looking up the target of an edge.
    pub(super) fn services_by_id(&self) -> HashMap<&NodeId, usize> {
        self.service_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect()
    }

    pub(super) fn service(&self, namespace: &str, name: &str) -> Option<usize> {
        self.services.get(&(namespace, name)).copied()
    }

    pub(super) fn config_map(&self, namespace: &str, name: &str) -> Option<&'s ConfigMapRecord> {
        self.config_maps.get(&(namespace, name)).copied()
    }
}

/// Lower-cases a host part for lookups, without allocating in the usual all-lower case.
pub(super) fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(s.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}
