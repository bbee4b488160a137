//! Service maps built by hand for tests: an Online-Boutique-like shop and a large synthetic
//! cluster for the performance test.

use std::collections::BTreeMap;

use crate::servicemap::{
    ContainerInfo, DataStoreKind, Edge, Evidence, EvidenceKind, Node, NodeId, NodeKind,
    ServiceInfo, ServiceMap, ServiceType, WorkloadInfo,
};

/// A workload node with one container named like the workload, labelled `app=<name>`.
pub fn workload(
    namespace: &str,
    kind: NodeKind,
    name: &str,
    replicas: Option<i32>,
    tune: impl FnOnce(&mut WorkloadInfo),
) -> Node {
    let mut info = WorkloadInfo {
        replicas,
        pod_labels: BTreeMap::from([("app".to_string(), name.to_string())]),
        containers: vec![ContainerInfo {
            name: "server".to_string(),
            image: format!("example/{name}:1.0"),
            ports: vec![8080],
            readiness_probe: true,
            liveness_probe: true,
            resource_limits: true,
        }],
        ..WorkloadInfo::default()
    };
    tune(&mut info);
    Node {
        id: NodeId::new(namespace, kind, name),
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        entry_point: false,
        entry_via: None,
        load_generator: false,
        workload: Some(info),
        service: None,
        host: None,
    }
}

/// A Service selecting `backend`'s pod labels.
pub fn service(
    namespace: &str,
    name: &str,
    service_type: ServiceType,
    ports: Vec<i32>,
    backend: Option<&Node>,
) -> Node {
    let selector = backend
        .and_then(|b| b.workload.as_ref())
        .map(|w| w.pod_labels.clone())
        .unwrap_or_default();
    Node {
        id: NodeId::new(namespace, NodeKind::Service, name),
        kind: NodeKind::Service,
        namespace: namespace.to_string(),
        name: name.to_string(),
        entry_point: matches!(
            service_type,
            ServiceType::LoadBalancer | ServiceType::NodePort
        ),
        entry_via: None,
        load_generator: false,
        workload: None,
        service: Some(ServiceInfo {
            service_type,
            ports,
            selector,
            backends: backend.map(|b| vec![b.id.clone()]).unwrap_or_default(),
            external_name: None,
            mesh: None,
        }),
        host: None,
    }
}

/// A node that is neither workload nor Service (Ingress, External, Unresolved).
pub fn other(namespace: &str, kind: NodeKind, name: &str) -> Node {
    Node {
        id: NodeId::new(namespace, kind, name),
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        entry_point: matches!(kind, NodeKind::Ingress | NodeKind::HTTPRoute),
        entry_via: None,
        load_generator: false,
        workload: None,
        service: None,
        host: (kind == NodeKind::External).then(|| name.to_string()),
    }
}

/// An edge found in an environment variable.
pub fn env_edge(from: &Node, to: &Node, var: &str, value: &str, port: Option<i32>) -> Edge {
    Edge {
        from: from.id.clone(),
        to: to.id.clone(),
        evidence: vec![Evidence::Env {
            container: "server".to_string(),
            name: var.to_string(),
            value: value.to_string(),
        }],
        kinds: vec![EvidenceKind::Config],
        confidence: 0.9,
        port,
        protocol: Some(if port == Some(6379) { "redis" } else { "grpc" }.to_string()),
    }
}

/// Sorts nodes by id and edges by (from, to), as the map builder does.
pub fn finish(mut nodes: Vec<Node>, mut edges: Vec<Edge>) -> ServiceMap {
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    ServiceMap {
        nodes,
        edges,
        unmatched: Vec::new(),
    }
}

/// An Online-Boutique-like shop in namespace `shop`: an Ingress and a LoadBalancer in front of the
/// frontend, frontend → cartservice → redis-cart, frontend → checkout → payment → an external
/// payment API, a load generator no entry point reaches, a reference to a Service that does not
/// exist, and CoreDNS in kube-system.
pub fn boutique() -> ServiceMap {
    let ns = "shop";
    let frontend = workload(ns, NodeKind::Deployment, "frontend", Some(3), |w| {
        w.has_pdb = true;
        w.autoscaling = Some((3, 10));
    });
    let cart = workload(ns, NodeKind::Deployment, "cartservice", Some(2), |w| {
        w.containers[0].ports = vec![7070];
        w.containers[0].resource_limits = false;
    });
    let checkout = workload(ns, NodeKind::Deployment, "checkoutservice", Some(1), |w| {
        w.containers[0].ports = vec![5050];
    });
    let payment = workload(ns, NodeKind::Deployment, "paymentservice", Some(2), |w| {
        w.has_pdb = true;
        w.containers[0].ports = vec![50051];
    });
    let catalog = workload(
        ns,
        NodeKind::Deployment,
        "productcatalogservice",
        Some(2),
        |w| {
            w.containers[0].ports = vec![3550];
            w.containers[0].readiness_probe = false;
        },
    );
    let redis = workload(ns, NodeKind::StatefulSet, "redis-cart", Some(1), |w| {
        w.data_store = Some(DataStoreKind::Redis);
        w.persistent_mounts = vec!["/data".to_string()];
        w.containers[0].name = "redis".to_string();
        w.containers[0].image = "redis:7-alpine".to_string();
        w.containers[0].ports = vec![6379];
        w.containers[0].readiness_probe = false;
    });
    let loadgen = workload(ns, NodeKind::Deployment, "loadgenerator", Some(1), |w| {
        w.containers[0].ports = vec![];
    });
    let coredns = workload(
        "kube-system",
        NodeKind::Deployment,
        "coredns",
        Some(2),
        |w| {
            w.pod_labels = BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]);
            w.containers[0].ports = vec![53];
        },
    );

    let frontend_svc = service(
        ns,
        "frontend",
        ServiceType::ClusterIP,
        vec![80],
        Some(&frontend),
    );
    let frontend_lb = service(
        ns,
        "frontend-external",
        ServiceType::LoadBalancer,
        vec![80],
        Some(&frontend),
    );
    let cart_svc = service(
        ns,
        "cartservice",
        ServiceType::ClusterIP,
        vec![7070],
        Some(&cart),
    );
    let checkout_svc = service(
        ns,
        "checkoutservice",
        ServiceType::ClusterIP,
        vec![5050],
        Some(&checkout),
    );
    let payment_svc = service(
        ns,
        "paymentservice",
        ServiceType::ClusterIP,
        vec![50051],
        Some(&payment),
    );
    let catalog_svc = service(
        ns,
        "productcatalogservice",
        ServiceType::ClusterIP,
        vec![3550],
        Some(&catalog),
    );
    let redis_svc = service(
        ns,
        "redis-cart",
        ServiceType::ClusterIP,
        vec![6379],
        Some(&redis),
    );
    let dns_svc = service(
        "kube-system",
        "kube-dns",
        ServiceType::ClusterIP,
        vec![53],
        Some(&coredns),
    );
    let ingress = other(ns, NodeKind::Ingress, "shop");
    let unresolved = other(ns, NodeKind::Unresolved, "shoppingassistantservice");
    let external = other(ns, NodeKind::External, "api.payments.example.net");

    let edges = vec![
        Edge {
            from: ingress.id.clone(),
            to: frontend_svc.id.clone(),
            evidence: vec![Evidence::IngressRule {
                ingress: "shop".to_string(),
                host: "shop.example.com".to_string(),
                path: "/".to_string(),
            }],
            kinds: vec![EvidenceKind::Config],
            confidence: 1.0,
            port: Some(80),
            protocol: Some("http".to_string()),
        },
        Edge {
            from: frontend_lb.id.clone(),
            to: frontend.id.clone(),
            evidence: vec![Evidence::Exposure {
                service_type: ServiceType::LoadBalancer,
            }],
            kinds: vec![EvidenceKind::Config],
            confidence: 1.0,
            port: Some(80),
            protocol: Some("http".to_string()),
        },
        env_edge(
            &frontend,
            &cart_svc,
            "CART_SERVICE_ADDR",
            "cartservice:7070",
            Some(7070),
        ),
        env_edge(
            &frontend,
            &checkout_svc,
            "CHECKOUT_SERVICE_ADDR",
            "checkoutservice:5050",
            Some(5050),
        ),
        env_edge(
            &frontend,
            &catalog_svc,
            "PRODUCT_CATALOG_SERVICE_ADDR",
            "productcatalogservice:3550",
            Some(3550),
        ),
        env_edge(
            &frontend,
            &unresolved,
            "SHOPPING_ASSISTANT_SERVICE_ADDR",
            "shoppingassistantservice:80",
            Some(80),
        ),
        env_edge(
            &checkout,
            &cart_svc,
            "CART_SERVICE_ADDR",
            "cartservice:7070",
            Some(7070),
        ),
        env_edge(
            &checkout,
            &payment_svc,
            "PAYMENT_SERVICE_ADDR",
            "paymentservice:50051",
            Some(50051),
        ),
        env_edge(
            &checkout,
            &catalog_svc,
            "PRODUCT_CATALOG_SERVICE_ADDR",
            "productcatalogservice:3550",
            Some(3550),
        ),
        env_edge(
            &cart,
            &redis_svc,
            "REDIS_ADDR",
            "redis-cart:6379",
            Some(6379),
        ),
        env_edge(
            &payment,
            &external,
            "PAYMENT_API_URL",
            "https://api.payments.example.net/v1",
            Some(443),
        ),
        env_edge(
            &loadgen,
            &frontend_svc,
            "FRONTEND_ADDR",
            "frontend:80",
            Some(80),
        ),
    ];
    finish(
        vec![
            frontend,
            cart,
            checkout,
            payment,
            catalog,
            redis,
            loadgen,
            coredns,
            frontend_svc,
            frontend_lb,
            cart_svc,
            checkout_svc,
            payment_svc,
            catalog_svc,
            redis_svc,
            dns_svc,
            ingress,
            unresolved,
            external,
        ],
        edges,
    )
}

/// A deterministic pseudo-random sequence (a 64-bit LCG), so synthetic maps are reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

/// A large synthetic cluster: `workloads` workloads over 50 namespaces, each behind a Service,
/// calling up to three Services each (mostly "downhill", with a few back-edges that make
/// cycles), one Ingress per ten workloads, data stores, external hosts and dangling references.
pub fn synthetic(workloads: usize) -> ServiceMap {
    let mut rng = Lcg(42);
    let mut nodes = Vec::with_capacity(workloads * 2 + workloads / 5);
    let mut edges = Vec::with_capacity(workloads * 3);
    let mut services: Vec<Node> = Vec::with_capacity(workloads);
    let mut workload_nodes: Vec<Node> = Vec::with_capacity(workloads);
    for i in 0..workloads {
        let ns = format!("team-{:02}", i % 50);
        let name = format!("svc-{i:05}");
        let stateful = i % 17 == 0;
        let kind = if stateful {
            NodeKind::StatefulSet
        } else {
            NodeKind::Deployment
        };
        let replicas = Some(1 + (rng.next(4) as i32));
        let probe = rng.next(5) != 0;
        let limits = rng.next(3) != 0;
        let node = workload(&ns, kind, &name, replicas, |w| {
            w.containers[0].readiness_probe = probe;
            w.containers[0].resource_limits = limits;
            w.has_pdb = i % 4 == 0;
            if i % 9 == 0 {
                w.autoscaling = Some((2, 8));
            }
            if stateful {
                w.data_store = Some(DataStoreKind::Postgres);
                w.persistent_mounts = vec!["/var/lib/postgresql/data".to_string()];
            }
        });
        services.push(service(
            &ns,
            &name,
            ServiceType::ClusterIP,
            vec![8080],
            Some(&node),
        ));
        workload_nodes.push(node);
    }
    for i in 0..workloads {
        let calls = rng.next(4);
        for _ in 0..calls {
            // Mostly calls to later workloads (a layered system); one in 50 goes back.
            let target = if rng.next(50) == 0 {
                rng.next(workloads)
            } else {
                i + 1 + rng.next(40)
            };
            if target >= workloads || target == i {
                continue;
            }
            edges.push(env_edge(
                &workload_nodes[i],
                &services[target],
                "UPSTREAM_ADDR",
                &format!("{}:8080", services[target].name),
                Some(8080),
            ));
        }
        if i % 10 == 0 {
            let ingress = other(
                &workload_nodes[i].namespace,
                NodeKind::Ingress,
                &format!("ing-{i:05}"),
            );
            edges.push(Edge {
                from: ingress.id.clone(),
                to: services[i].id.clone(),
                evidence: vec![Evidence::IngressRule {
                    ingress: ingress.name.clone(),
                    host: format!("{}.example.com", workload_nodes[i].name),
                    path: "/".to_string(),
                }],
                kinds: vec![EvidenceKind::Config],
                confidence: 1.0,
                port: Some(80),
                protocol: Some("http".to_string()),
            });
            nodes.push(ingress);
        }
        if i % 25 == 0 {
            let external = other(
                &workload_nodes[i].namespace,
                NodeKind::External,
                &format!("api-{i}.example.org"),
            );
            edges.push(env_edge(
                &workload_nodes[i],
                &external,
                "API_URL",
                &format!("https://{}", external.name),
                Some(443),
            ));
            nodes.push(external);
        }
        if i % 40 == 0 {
            let dangling = other(
                &workload_nodes[i].namespace,
                NodeKind::Unresolved,
                &format!("missing-{i}"),
            );
            edges.push(env_edge(
                &workload_nodes[i],
                &dangling,
                "MISSING_ADDR",
                &format!("{}:80", dangling.name),
                Some(80),
            ));
            nodes.push(dangling);
        }
    }
    edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    edges.dedup_by(|a, b| a.from == b.from && a.to == b.to);
    nodes.extend(workload_nodes);
    nodes.extend(services);
    finish(nodes, edges)
}
