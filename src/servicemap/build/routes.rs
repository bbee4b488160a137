//! Edges from routes: Ingress rules, Gateway API HTTPRoutes and Istio VirtualServices (with the
//! mesh policies DestinationRules and VirtualServices put on Services).

use foldhash::{HashMap, HashMapExt};

use super::super::address::{self, HostForm};
use super::super::model::*;
use super::index::lower;
use super::{Builder, Target, confidence};

impl Builder<'_> {
    /// What a route's host or backend name refers to, seen from `namespace`.
    pub(super) fn resolve_route_host(&self, namespace: &str, host: &str) -> Option<Target> {
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

    pub(super) fn backend_target(&self, namespace: &str, service: &str) -> Target {
        match self.index.service(namespace, service) {
            Some(s) => Target::Service(s),
            None => Target::Unresolved {
                namespace: namespace.to_owned(),
                name: service.to_owned(),
            },
        }
    }

    pub(super) fn ingress_edges(&mut self) {
        let snapshot = self.snapshot();
        for ingress in &snapshot.ingresses {
            let from = self
                .edges
                .entry_node(&ingress.namespace, NodeKind::Ingress, &ingress.name);
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

    pub(super) fn http_route_edges(&mut self) {
        let snapshot = self.snapshot();
        for route in &snapshot.http_routes {
            let from = self
                .edges
                .entry_node(&route.namespace, NodeKind::HTTPRoute, &route.name);
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
    pub(super) fn istio(&mut self) {
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
                    let from =
                        self.edges
                            .entry_node(&vs.namespace, NodeKind::VirtualService, &vs.name);
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
}
