//! Indexes over a service map, built once per analysis: nodes by id, adjacency lists in both
//! directions, workloads by namespace, and distances from the entry points. Every stage reads the
//! map through this, so no stage needs more than O(n log n).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::servicemap::{Edge, Node, NodeKind, ServiceMap};

/// Indexes over one map. Node numbers are positions in `map.nodes` (sorted by id), so iterating in
/// number order is iterating in id order.
#[derive(Debug)]
pub struct MapIndex<'a> {
    map: &'a ServiceMap,
    by_id: HashMap<&'a str, usize>,
    /// Caller → callee, plus Service → backend workload; sorted, without duplicates.
    successors: Vec<Vec<usize>>,
    predecessors: Vec<Vec<usize>>,
    /// Distinct callers, looking through plain Services (see [`MapIndex::callers`]).
    callers: Vec<Vec<usize>>,
    edges_by_pair: HashMap<(usize, usize), usize>,
    entry_points: Vec<usize>,
    entry_depth: Vec<Option<u32>>,
    entry_parent: Vec<Option<usize>>,
    workloads_by_namespace: BTreeMap<&'a str, Vec<usize>>,
    dangling_edges: usize,
}

impl<'a> MapIndex<'a> {
    /// Indexes `map`. Edges naming nodes that are not in the map are ignored and counted.
    pub fn new(map: &'a ServiceMap) -> Self {
        let n = map.nodes.len();
        let by_id: HashMap<&str, usize> = map
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        let mut successors = vec![Vec::new(); n];
        let mut predecessors = vec![Vec::new(); n];
        let mut edges_by_pair = HashMap::with_capacity(map.edges.len());
        let mut dangling_edges = 0;
        for (e, edge) in map.edges.iter().enumerate() {
            match (by_id.get(edge.from.as_str()), by_id.get(edge.to.as_str())) {
                (Some(&from), Some(&to)) => {
                    successors[from].push(to);
                    predecessors[to].push(from);
                    edges_by_pair.entry((from, to)).or_insert(e);
                }
                _ => dangling_edges += 1,
            }
        }
        // A Service forwards to its backends: callers of the Service depend on them.
        for (s, node) in map.nodes.iter().enumerate() {
            if let Some(service) = &node.service {
                for backend in &service.backends {
                    if let Some(&b) = by_id.get(backend.as_str()) {
                        successors[s].push(b);
                        predecessors[b].push(s);
                    }
                }
            }
        }
        for list in successors.iter_mut().chain(predecessors.iter_mut()) {
            list.sort_unstable();
            list.dedup();
        }
        let callers = (0..n)
            .map(|i| {
                let mut out = Vec::new();
                for &p in &predecessors[i] {
                    let pred = &map.nodes[p];
                    if pred.kind == NodeKind::Service && !pred.entry_point {
                        out.extend(predecessors[p].iter().copied().filter(|&q| q != i));
                    } else {
                        out.push(p);
                    }
                }
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect();
        let entry_points: Vec<usize> = (0..n).filter(|&i| map.nodes[i].entry_point).collect();
        let mut workloads_by_namespace: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, node) in map.nodes.iter().enumerate() {
            if node.kind.is_workload() {
                workloads_by_namespace
                    .entry(node.namespace.as_str())
                    .or_default()
                    .push(i);
            }
        }
        let mut index = MapIndex {
            map,
            by_id,
            successors,
            predecessors,
            callers,
            edges_by_pair,
            entry_points,
            entry_depth: vec![None; n],
            entry_parent: vec![None; n],
            workloads_by_namespace,
            dangling_edges,
        };
        index.compute_entry_distances();
        index
    }

    /// Multi-source BFS from every entry point: depth and the parent on one shortest path.
    fn compute_entry_distances(&mut self) {
        let mut queue = VecDeque::new();
        for &e in &self.entry_points {
            self.entry_depth[e] = Some(0);
            queue.push_back(e);
        }
        while let Some(i) = queue.pop_front() {
            let depth = self.entry_depth[i].unwrap_or(0);
            for &next in &self.successors[i] {
                if self.entry_depth[next].is_none() {
                    self.entry_depth[next] = Some(depth + 1);
                    self.entry_parent[next] = Some(i);
                    queue.push_back(next);
                }
            }
        }
    }

    /// The indexed map.
    pub fn map(&self) -> &'a ServiceMap {
        self.map
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.map.nodes.len()
    }

    /// Whether the map has no nodes.
    pub fn is_empty(&self) -> bool {
        self.map.nodes.is_empty()
    }

    /// The node numbered `i`.
    pub fn node(&self, i: usize) -> &'a Node {
        &self.map.nodes[i]
    }

    /// The number of the node with this id.
    pub fn get(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The node with this id.
    pub fn node_by_id(&self, id: &str) -> Option<&'a Node> {
        self.get(id).map(|i| &self.map.nodes[i])
    }

    /// What `i` calls (for a Service: its backends), by number.
    pub fn successors(&self, i: usize) -> &[usize] {
        &self.successors[i]
    }

    /// What calls `i` (for a workload: the Services fronting it, too), by number.
    pub fn predecessors(&self, i: usize) -> &[usize] {
        &self.predecessors[i]
    }

    /// The map's edge from `from` to `to`, if the map has one (Service → backend links have none).
    pub fn edge(&self, from: usize, to: usize) -> Option<&'a Edge> {
        self.edges_by_pair
            .get(&(from, to))
            .map(|&e| &self.map.edges[e])
    }

    /// Entry points by number, in id order.
    pub fn entry_points(&self) -> &[usize] {
        &self.entry_points
    }

    /// Hops from the nearest entry point; None when no entry point reaches the node.
    pub fn entry_depth(&self, i: usize) -> Option<u32> {
        self.entry_depth[i]
    }

    /// The node before `i` on [`Self::entry_path`].
    pub fn entry_parent(&self, i: usize) -> Option<usize> {
        self.entry_parent[i]
    }

    /// One shortest path from an entry point to `i` (entry point first); empty when unreachable.
    pub fn entry_path(&self, i: usize) -> Vec<usize> {
        if self.entry_depth[i].is_none() {
            return Vec::new();
        }
        let mut path = vec![i];
        let mut current = i;
        while let Some(parent) = self.entry_parent[current] {
            path.push(parent);
            current = parent;
        }
        path.reverse();
        path
    }

    /// Workloads in `namespace`, by number.
    pub fn workloads_in(&self, namespace: &str) -> &[usize] {
        self.workloads_by_namespace
            .get(namespace)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Edges of the map that name a node it does not have.
    pub fn dangling_edges(&self) -> usize {
        self.dangling_edges
    }

    /// The distinct callers of `i`, looking through the Services in front of it: workloads, entry
    /// points and anything else that is not a plain Service hop. Precomputed.
    pub fn callers(&self, i: usize) -> &[usize] {
        &self.callers[i]
    }

    /// The workloads behind `i`: for a Service its backends, for a workload itself.
    pub fn backing_workloads(&self, i: usize) -> Vec<usize> {
        let node = self.node(i);
        if node.kind.is_workload() {
            return vec![i];
        }
        match &node.service {
            Some(service) => {
                let mut out: Vec<usize> = service
                    .backends
                    .iter()
                    .filter_map(|b| self.get(b.as_str()))
                    .collect();
                out.sort_unstable();
                out.dedup();
                out
            }
            None => Vec::new(),
        }
    }

    /// Everything upstream of `i` (what depends on it, transitively), `i` excluded, by a BFS over
    /// the reverse edges. O(reached nodes + their edges).
    pub fn upstream(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        seen[i] = true;
        let mut queue = VecDeque::from([i]);
        let mut out = Vec::new();
        while let Some(current) = queue.pop_front() {
            for &p in &self.predecessors[current] {
                if !seen[p] {
                    seen[p] = true;
                    out.push(p);
                    queue.push_back(p);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Workloads in `namespace` whose pod template carries every label of `labels`. An empty
    /// selector matches nothing here: it would select every pod of the namespace.
    pub fn workloads_matching(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<usize> {
        if labels.is_empty() {
            return Vec::new();
        }
        self.workloads_in(namespace)
            .iter()
            .copied()
            .filter(|&w| {
                self.node(w).workload.as_ref().is_some_and(|info| {
                    labels
                        .iter()
                        .all(|(k, v)| info.pod_labels.get(k) == Some(v))
                })
            })
            .collect()
    }

    /// Whether the node is a data store (a workload recognised by image or port).
    pub fn is_data_store(&self, i: usize) -> bool {
        self.node(i)
            .workload
            .as_ref()
            .is_some_and(|w| w.data_store.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures;

    #[test]
    fn adjacency_looks_through_services() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let cart = index.get("shop/Deployment/cartservice").unwrap();
        let frontend = index.get("shop/Deployment/frontend").unwrap();
        let checkout = index.get("shop/Deployment/checkoutservice").unwrap();
        assert_eq!(index.callers(cart).to_vec(), vec![checkout, frontend]);
        let cart_svc = index.get("shop/Service/cartservice").unwrap();
        assert_eq!(index.backing_workloads(cart_svc), vec![cart]);
        assert!(index.successors(cart_svc).contains(&cart));
        assert_eq!(index.dangling_edges(), 0);
    }

    #[test]
    fn entry_paths_start_at_an_entry_point() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let redis = index.get("shop/StatefulSet/redis-cart").unwrap();
        let path = index.entry_path(redis);
        assert!(index.node(path[0]).entry_point);
        assert_eq!(*path.last().unwrap(), redis);
        assert_eq!(index.entry_depth(redis), Some((path.len() - 1) as u32));
        let loadgen = index.get("shop/Deployment/loadgenerator").unwrap();
        assert_eq!(index.entry_depth(loadgen), None);
        assert!(index.entry_path(loadgen).is_empty());
    }

    #[test]
    fn upstream_is_transitive_and_excludes_the_start() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let redis = index.get("shop/StatefulSet/redis-cart").unwrap();
        let up: Vec<&str> = index
            .upstream(redis)
            .into_iter()
            .map(|i| index.node(i).id.as_str())
            .collect();
        assert!(up.contains(&"shop/Deployment/cartservice"));
        assert!(up.contains(&"shop/Deployment/frontend"));
        assert!(up.contains(&"shop/Ingress/shop"));
        assert!(!up.contains(&"shop/StatefulSet/redis-cart"));
        assert!(!up.contains(&"shop/Deployment/paymentservice"));
    }

    #[test]
    fn selectors_match_pod_template_labels() {
        let map = fixtures::boutique();
        let index = MapIndex::new(&map);
        let labels = BTreeMap::from([("app".to_string(), "cartservice".to_string())]);
        let matched = index.workloads_matching("shop", &labels);
        assert_eq!(
            matched,
            vec![index.get("shop/Deployment/cartservice").unwrap()]
        );
        assert!(index.workloads_matching("other", &labels).is_empty());
        assert!(
            index
                .workloads_matching("shop", &BTreeMap::new())
                .is_empty()
        );
    }
}
