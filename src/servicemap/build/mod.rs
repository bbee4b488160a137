//! Building the [`ServiceMap`] from a [`Snapshot`]: a pure function, linear in the number of
//! objects (Services are found by hash lookups and selectors through an index of pod labels).
//!
//! The steps, one file each: [`index`] (lookups over the snapshot), [`env`] (addresses in env
//! vars, args and mounted ConfigMaps), [`routes`] (Ingress, HTTPRoute, Istio), [`policies`]
//! (NetworkPolicy evidence on existing edges) and [`nodes`] (the finished nodes and edges). Edges
//! gather in [`edges::EdgeAccumulator`], which [`super::attach`] shares.

use foldhash::{HashMap, HashMapExt};

use super::model::*;
use crate::snapshot::Snapshot;

pub(crate) mod edges;
mod env;
mod index;
mod nodes;
mod policies;
mod routes;

use edges::EdgeAccumulator;
use index::Index;

pub use edges::EXTERNAL_NAMESPACE;

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

/// A target an address resolved to.
enum Target {
    Service(usize),
    Unresolved { namespace: String, name: String },
    External { host: String },
}

struct Builder<'s> {
    index: Index<'s>,
    edges: EdgeAccumulator,
    mesh: HashMap<usize, MeshPolicy>,
}

/// Builds the service map of a snapshot. Nodes come sorted by id, edges by (from, to), each
/// edge's evidence sorted and deduplicated; the same snapshot always gives the same map.
pub fn build(snapshot: &Snapshot) -> ServiceMap {
    let mut builder = Builder {
        index: Index::new(snapshot),
        edges: EdgeAccumulator::default(),
        mesh: HashMap::new(),
    };
    for w in 0..snapshot.workloads.len() {
        builder.workload_edges(w);
    }
    builder.ingress_edges();
    builder.http_route_edges();
    builder.istio();
    builder.network_policy_evidence();
    let mut map = builder.finish();
    super::entry::mark(snapshot, &mut map);
    map
}

impl<'s> Builder<'s> {
    fn snapshot(&self) -> &'s Snapshot {
        self.index.snapshot
    }
}
