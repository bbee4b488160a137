//! Tests of the map builder on small manifests, one behaviour each.

use std::path::Path;

use super::model::*;
use crate::snapshot::{ReadOptions, read_str};

fn map_of(yaml: &str) -> ServiceMap {
    let outcome = read_str(yaml, Path::new("t.yaml"), &ReadOptions::default()).expect("reads");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    super::build(&outcome.snapshot)
}

fn edge<'m>(map: &'m ServiceMap, from: &str, to: &str) -> Option<&'m Edge> {
    map.edges
        .iter()
        .find(|e| e.from.as_str() == from && e.to.as_str() == to)
}

fn node<'m>(map: &'m ServiceMap, id: &str) -> Option<&'m Node> {
    map.nodes.iter().find(|n| n.id.as_str() == id)
}

fn edge_list(map: &ServiceMap) -> Vec<(String, String)> {
    map.edges
        .iter()
        .map(|e| (e.from.to_string(), e.to.to_string()))
        .collect()
}

/// A Deployment `name` labelled `app: name` with one container and the given env (a YAML flow
/// list), plus a Service `name` selecting it on `port`.
fn app(namespace: &str, name: &str, port: i32, env: &str) -> String {
    format!(
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: main
        image: example/{name}:1
        ports: [{{containerPort: {port}}}]
        env: {env}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: {port}, name: http}}]
"
    )
}

#[test]
fn env_host_port_to_a_service_with_a_matching_port() {
    let yaml = app("shop", "web", 80, "[{name: CART_ADDR, value: 'cart:7070'}]")
        + &app("shop", "cart", 7070, "[]");
    let map = map_of(&yaml);
    let e = edge(&map, "shop/Deployment/web", "shop/Service/cart").expect("edge");
    assert_eq!(e.confidence, 0.95);
    assert_eq!(e.port, Some(7070));
    assert_eq!(e.protocol.as_deref(), Some("http"));
    assert_eq!(
        e.evidence,
        vec![Evidence::Env {
            container: "main".to_owned(),
            name: "CART_ADDR".to_owned(),
            value: "cart:7070".to_owned()
        }]
    );
    let cart = node(&map, "shop/Service/cart")
        .and_then(|n| n.service.clone())
        .expect("svc");
    assert_eq!(
        cart.backends,
        vec![NodeId::new("shop", NodeKind::Deployment, "cart")]
    );
}

#[test]
fn every_address_form_resolves() {
    let env = "[
        {name: A_URL, value: 'http://a/x'},
        {name: B_ADDR, value: 'b.shop:80'},
        {name: C_HOST, value: 'c.shop.svc'},
        {name: D_HOST, value: 'd.shop.svc.cluster.local'},
        {name: E_SERVICE, value: 'e'},
        {name: BROKERS, value: 'f:80,g:80'},
        {name: G_PORT, value: '80'},
        {name: H_ADDR, value: 'h:$(G_PORT)'}]";
    let mut yaml = app("shop", "caller", 8080, env);
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        yaml += &app("shop", name, 80, "[]");
    }
    let map = map_of(&yaml);
    for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
        let to = format!("shop/Service/{name}");
        assert!(
            edge(&map, "shop/Deployment/caller", &to).is_some(),
            "no edge to {to}"
        );
    }
    let h = edge(&map, "shop/Deployment/caller", "shop/Service/h").expect("h");
    assert!(
        matches!(&h.evidence[0], Evidence::Env { value, .. } if value == "h:80"),
        "$(VAR) is expanded: {:?}",
        h.evidence
    );
    let e = edge(&map, "shop/Deployment/caller", "shop/Service/e").expect("e");
    assert_eq!(e.confidence, 0.7, "a bare name is weaker evidence");
}

#[test]
fn cross_namespace_references() {
    let yaml = app(
        "front",
        "web",
        80,
        "[{name: API_URL, value: 'http://api.back:8080'}, {name: Q_ADDR, value: 'queue.back.svc.cluster.local:5672'}, {name: T_HOST, value: 'tracing.observability.svc.cluster.local'}]",
    ) + &app("back", "api", 8080, "[]");
    let map = map_of(&yaml);
    assert!(edge(&map, "front/Deployment/web", "back/Service/api").is_some());
    // A missing Service in a known namespace, and one in a namespace not in the input.
    assert!(edge(&map, "front/Deployment/web", "back/Unresolved/queue").is_some());
    let t = edge(
        &map,
        "front/Deployment/web",
        "observability/Unresolved/tracing",
    )
    .expect("t");
    assert!(t.confidence < 0.8);
    assert_eq!(
        node(&map, "observability/Unresolved/tracing").map(|n| n.kind),
        Some(NodeKind::Unresolved)
    );
    assert!(node(&map, "back/Service/queue").is_none());
}

#[test]
fn external_hosts_become_external_nodes() {
    let yaml = app(
        "shop",
        "web",
        80,
        "[{name: PAY_URL, value: 'https://api.stripe.com/v1'}, {name: DB_HOST, value: 'orders.abc.eu-west-1.rds.amazonaws.com'}, {name: CONFIG, value: 'settings.yaml'}]",
    );
    let map = map_of(&yaml);
    let id = "external/External/api.stripe.com";
    let e = edge(&map, "shop/Deployment/web", id).expect("edge");
    assert_eq!(e.protocol.as_deref(), Some("https"));
    assert_eq!(
        node(&map, id).and_then(|n| n.host.clone()).as_deref(),
        Some("api.stripe.com")
    );
    assert!(
        edge(
            &map,
            "shop/Deployment/web",
            "external/External/orders.abc.eu-west-1.rds.amazonaws.com"
        )
        .is_some()
    );
    assert_eq!(map.edges.len(), 2, "{:?}", edge_list(&map));
}

#[test]
fn traps_are_not_edges() {
    let env = "[
        {name: PORT, value: '8080'},
        {name: SERVICE_NAME, value: 'cart'},
        {name: OTEL_SERVICE_NAME, value: 'web'},
        {name: LOG_DIR, value: /tmp/logs},
        {name: FEATURE, value: cart},
        {name: SESSION_REDIS, value: 'true'},
        {name: JAVA_OPTS, value: '-Xmx128m -Djava.security.egd=file:/dev/urandom'},
        {name: WEB_URL, value: 'http://web:80'},
        {name: MISSING_NO_HINT, value: 'nothing:80'},
        {name: VERSION, value: '1.2.3'},
        {name: LOCAL_ADDR, value: 'localhost:9090'},
        {name: CORS_ALLOWED_ORIGINS, value: 'https://shop.example.com'},
        {name: ARGS, value: '--public-url=https://shop.example.com --listen=cart:80'},
        {name: IP_ADDR, value: '10.0.0.1:80'}]";
    let yaml = app("shop", "web", 80, env) + &app("shop", "cart", 80, "[]");
    let map = map_of(&yaml);
    assert!(map.edges.is_empty(), "{:?}", edge_list(&map));
}

#[test]
fn configmaps_through_env_from_key_refs_and_mounts() {
    let yaml = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  REDIS_ADDR: 'cache:6379'
  nginx.conf: |
    upstream api { server api:8080; }
    location / { proxy_pass http://api:8080; }
  TIMEOUT: '5'
---
apiVersion: v1
kind: ConfigMap
metadata: {name: one}
data: {url: 'postgres://db:5432/app'}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes:
      - {name: conf, configMap: {name: settings, items: [{key: nginx.conf, path: nginx.conf}]}}
      containers:
      - name: main
        image: nginx
        envFrom: [{configMapRef: {name: settings}}]
        env: [{name: DATABASE_URL, valueFrom: {configMapKeyRef: {name: one, key: url}}}]
        volumeMounts: [{name: conf, mountPath: /etc/nginx}]
"
    .to_owned()
        + &app("default", "cache", 6379, "[]")
        + &app("default", "db", 5432, "[]")
        + &app("default", "api", 8080, "[]");
    let map = map_of(&yaml);
    let cache = edge(&map, "default/Deployment/web", "default/Service/cache").expect("envFrom");
    assert!(matches!(&cache.evidence[0], Evidence::ConfigMap { key, .. } if key == "REDIS_ADDR"));
    let db = edge(&map, "default/Deployment/web", "default/Service/db").expect("keyRef");
    assert_eq!(db.protocol.as_deref(), Some("postgres"));
    let api = edge(&map, "default/Deployment/web", "default/Service/api").expect("mounted file");
    assert!(
        api.confidence < 0.95,
        "free text is weaker: {}",
        api.confidence
    );
    assert!(matches!(&api.evidence[0], Evidence::ConfigMap { key, .. } if key == "nginx.conf"));
}

#[test]
fn args_are_evidence() {
    let yaml = "\
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: '0 * * * *'
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: job
            image: report
            args: ['--api=http://api:8080', '-v']
"
    .to_owned()
        + &app("default", "api", 8080, "[]");
    let map = map_of(&yaml);
    let e = edge(&map, "default/CronJob/report", "default/Service/api").expect("edge");
    assert!(
        matches!(&e.evidence[0], Evidence::Args { value, .. } if value == "--api=http://api:8080")
    );
}

#[test]
fn entry_points() {
    let yaml = app("default", "web", 80, "[]")
        + "\
---
apiVersion: v1
kind: Service
metadata: {name: web-public}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: gone, port: {name: http}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: route}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /shop}}]
    backendRefs: [{name: web, port: 80}]
";
    let map = map_of(&yaml);
    assert!(node(&map, "default/Service/web-public").is_some_and(|n| n.entry_point));
    assert!(!node(&map, "default/Service/web").is_some_and(|n| n.entry_point));
    assert!(node(&map, "default/Ingress/site").is_some_and(|n| n.entry_point));
    let ingress =
        edge(&map, "default/Ingress/site", "default/Service/web").expect("default backend");
    assert_eq!(ingress.confidence, 1.0);
    assert!(edge(&map, "default/Ingress/site", "default/Unresolved/gone").is_some());
    let route = edge(&map, "default/HTTPRoute/route", "default/Service/web").expect("route");
    assert_eq!(
        route.evidence,
        vec![Evidence::HttpRoute {
            route: "route".to_owned(),
            path: "/shop".to_owned()
        }]
    );
    // Each says how it was found.
    assert_eq!(
        node(&map, "default/Service/web-public").and_then(|n| n.entry_via.clone()),
        Some(EntryVia::ServiceType {
            service_type: ServiceType::LoadBalancer
        })
    );
    assert_eq!(
        node(&map, "default/Ingress/site").and_then(|n| n.entry_via.clone()),
        Some(EntryVia::Ingress)
    );
    assert_eq!(
        node(&map, "default/HTTPRoute/route").and_then(|n| n.entry_via.clone()),
        Some(EntryVia::GatewayApi {
            gateways: vec!["gw".to_owned()]
        })
    );
    // No edge from the LoadBalancer Service to its own backends.
    assert!(
        map.edges
            .iter()
            .all(|e| !e.from.as_str().contains("/Service/"))
    );
}

#[test]
fn istio_routes_and_policies() {
    let yaml = app(
        "default",
        "web",
        80,
        "[{name: REVIEWS_HOST, value: 'reviews:9080'}]",
    ) + &app("default", "reviews", 9080, "[]")
        + &app("default", "reviews-canary", 9080, "[]")
        + "\
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - timeout: 2s
    route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews-canary.default.svc.cluster.local}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: public}
spec:
  hosts: ['*']
  gateways: [bookinfo-gateway]
  http: [{route: [{destination: {host: web, port: {number: 80}}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}}
";
    let map = map_of(&yaml);
    let canary = edge(
        &map,
        "default/Deployment/web",
        "default/Service/reviews-canary",
    )
    .expect("mesh route to the canary");
    assert!(
        matches!(&canary.evidence[0], Evidence::IstioRoute { virtual_service, .. } if virtual_service == "reviews")
    );
    let direct = edge(&map, "default/Deployment/web", "default/Service/reviews").expect("direct");
    assert!(
        direct
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::IstioRoute { .. }))
    );
    assert!(node(&map, "default/VirtualService/public").is_some_and(|n| n.entry_point));
    assert!(edge(&map, "default/VirtualService/public", "default/Service/web").is_some());
    let mesh = node(&map, "default/Service/reviews")
        .and_then(|n| n.service.clone())
        .and_then(|s| s.mesh)
        .expect("mesh policy");
    assert!(mesh.outlier_detection && mesh.timeout && !mesh.retries);
    assert_eq!(mesh.subsets, vec!["v1"]);
}

#[test]
fn network_policy_egress_is_evidence_on_existing_edges_only() {
    let yaml = app(
        "default",
        "web",
        80,
        "[{name: API_ADDR, value: 'api:8080'}]",
    ) + &app("default", "api", 8080, "[]")
        + &app("default", "other", 8080, "[]")
        + "\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
  - to: [{podSelector: {matchLabels: {app: other}}}]
";
    let map = map_of(&yaml);
    let e = edge(&map, "default/Deployment/web", "default/Service/api").expect("edge");
    assert!(e.evidence.contains(&Evidence::NetworkPolicy {
        policy: "web-egress".to_owned()
    }));
    assert!(edge(&map, "default/Deployment/web", "default/Service/other").is_none());
}

#[test]
fn workload_facts() {
    let yaml = "\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db, tier: data}}
    spec:
      containers:
      - name: pg
        image: docker.io/library/postgres:16
        ports: [{containerPort: 5432}]
        readinessProbe: {exec: {command: [pg_isready]}}
        resources: {limits: {memory: 1Gi}}
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: db}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: db}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: db}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  minReplicas: 3
  maxReplicas: 5
";
    let map = map_of(yaml);
    let info = node(&map, "default/StatefulSet/db")
        .and_then(|n| n.workload.clone())
        .expect("workload");
    assert_eq!(info.replicas, Some(3));
    assert_eq!(info.data_store, Some(DataStoreKind::Postgres));
    assert_eq!(info.persistent_mounts, vec!["/var/lib/postgresql/data"]);
    assert!(info.has_pdb);
    assert_eq!(info.autoscaling, Some((3, 5)));
    assert!(info.containers[0].readiness_probe && info.containers[0].resource_limits);
    assert!(!info.containers[0].liveness_probe);
}

#[test]
fn selectors_resolve_backends_by_all_labels() {
    let yaml = "\
apiVersion: v1
kind: Pod
metadata: {name: lone, labels: {app: x, track: stable}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: canary, labels: {app: x, track: canary}}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Service
metadata: {name: stable}
spec: {selector: {app: x, track: stable}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: manual}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: manual-1, labels: {kubernetes.io/service-name: manual}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.9], targetRef: {kind: Pod, name: canary}}]
";
    let map = map_of(yaml);
    let backends = |id: &str| {
        node(&map, id)
            .and_then(|n| n.service.clone())
            .map(|s| s.backends)
            .unwrap_or_default()
    };
    assert_eq!(
        backends("default/Service/stable"),
        vec![NodeId::new("default", NodeKind::Pod, "lone")]
    );
    assert_eq!(
        backends("default/Service/manual"),
        vec![NodeId::new("default", NodeKind::Pod, "canary")]
    );
}

#[test]
fn evidence_is_merged_sorted_and_deduplicated() {
    // The same variable in a container and an init container, twice in the same container.
    let yaml = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - {name: wait, image: busybox, env: [{name: API_ADDR, value: 'api:80'}]}
      containers:
      - name: main
        image: web
        env: [{name: API_ADDR, value: 'api:80'}, {name: API_ADDR, value: 'api:80'}]
"
    .to_owned()
        + &app("default", "api", 80, "[]");
    let map = map_of(&yaml);
    let e = edge(&map, "default/Deployment/web", "default/Service/api").expect("edge");
    let containers: Vec<&str> = e
        .evidence
        .iter()
        .filter_map(|ev| match ev {
            Evidence::Env { container, .. } => Some(container.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(containers, vec!["main", "wait"]);
    let mut sorted = map.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(
        sorted,
        map.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn synthetic_clusters_build_with_dangling_and_external_references() {
    let yaml = crate::snapshot::synthetic::generate(2_000, 3).expect("generates");
    let map = map_of(&yaml);
    let count = |kind: NodeKind| map.nodes.iter().filter(|n| n.kind == kind).count();
    assert!(count(NodeKind::Service) > 500);
    assert!(count(NodeKind::Unresolved) > 0);
    assert!(count(NodeKind::External) > 0);
    assert!(map.edges.len() > 1_000, "{}", map.edges.len());
    assert_eq!(
        map,
        super::build(
            &read_str(&yaml, Path::new("t.yaml"), &ReadOptions::default())
                .expect("reads")
                .snapshot
        )
    );
}

mod attach_calls {
    use super::*;
    use crate::servicemap::{Matching, NameHints, NamedCall, attach};

    fn traffic(origin: &str, requests: u64) -> Evidence {
        Evidence::Traffic(TrafficEvidence {
            origin: origin.into(),
            window_seconds: Some(60),
            requests,
            errors: 1,
            p50_micros: Some(2_000),
            p99_micros: Some(9_000),
        })
    }

    fn named(service_name: &str) -> NameHints {
        NameHints {
            service_name: Some(service_name.into()),
            ..NameHints::default()
        }
    }

    fn shop() -> ServiceMap {
        let mut yaml = app(
            "shop",
            "front",
            80,
            "[{name: CART_ADDR, value: 'cart:7070'}]",
        );
        yaml.push_str(&app("shop", "cart", 7070, "[]"));
        yaml.push_str(&app("shop", "orders", 8080, "[]"));
        map_of(&yaml)
    }

    #[test]
    fn observed_call_joins_config_edge_and_adds_hidden_one() {
        let mut map = shop();
        let calls = vec![
            NamedCall {
                caller: named("front"),
                callee: named("cart"),
                evidence: traffic("t.json", 10),
            },
            NamedCall {
                caller: NameHints {
                    pod: Some("front-7d9f8b6c5d-x2x9k".into()),
                    namespace: Some("shop".into()),
                    ..NameHints::default()
                },
                callee: NameHints {
                    host: Some("orders.shop.svc.cluster.local:8080".into()),
                    ..NameHints::default()
                },
                evidence: traffic("t.json", 5),
            },
        ];
        let report = attach(&mut map, calls, Matching::Exact);
        assert_eq!((report.attached, report.new_edges), (2, 1));
        let cart = edge(&map, "shop/Deployment/front", "shop/Service/cart").expect("cart edge");
        assert_eq!(
            cart.kinds,
            vec![EvidenceKind::Config, EvidenceKind::Traffic]
        );
        let orders =
            edge(&map, "shop/Deployment/front", "shop/Service/orders").expect("hidden edge");
        assert_eq!(orders.kinds, vec![EvidenceKind::Traffic]);
        assert!(map.unmatched.is_empty());
    }

    #[test]
    fn unknown_names_are_listed_never_invented() {
        let mut map = shop();
        let before = map.nodes.len();
        let calls = vec![NamedCall {
            caller: named("front"),
            callee: named("recommendations"),
            evidence: traffic("t.json", 3),
        }];
        let report = attach(&mut map, calls, Matching::Exact);
        assert_eq!(report.unmatched_calls, 1);
        assert_eq!(map.nodes.len(), before);
        assert_eq!(map.unmatched.len(), 1);
        assert_eq!(map.unmatched[0].name, "recommendations");
        assert_eq!(map.unmatched[0].end, CallEnd::Callee);
    }

    #[test]
    fn outside_host_becomes_external_node() {
        let mut map = shop();
        let calls = vec![NamedCall {
            caller: named("orders"),
            callee: NameHints {
                host: Some("api.stripe.com:443".into()),
                ..NameHints::default()
            },
            evidence: traffic("t.json", 2),
        }];
        attach(&mut map, calls, Matching::Exact);
        assert!(
            edge(
                &map,
                "shop/Deployment/orders",
                "external/External/api.stripe.com"
            )
            .is_some()
        );
    }

    #[test]
    fn loose_names_only_for_declared_sources() {
        let declared = Evidence::Declared(DeclaredEvidence {
            origin: "arch.mmd".into(),
            line: Some(3),
        });
        let call = NamedCall {
            caller: named("Front End"),
            callee: named("Orders Service [Java]"),
            evidence: declared,
        };
        let mut exact = shop();
        assert_eq!(
            attach(&mut exact, vec![call.clone()], Matching::Exact).attached,
            0
        );
        let mut loose = shop();
        assert_eq!(attach(&mut loose, vec![call], Matching::Loose).attached, 0);
        // "Front End" normalizes to "front-end", which is not "front": unmatched, as it should be.
        assert_eq!(loose.unmatched[0].name, "Front End");
        let mut loose = shop();
        let call = NamedCall {
            caller: named("FRONT"),
            callee: named("Orders Service [Java]"),
            evidence: Evidence::Declared(DeclaredEvidence {
                origin: "arch.mmd".into(),
                line: Some(3),
            }),
        };
        assert_eq!(attach(&mut loose, vec![call], Matching::Loose).attached, 1);
        let e = edge(&loose, "shop/Deployment/front", "shop/Service/orders").expect("declared");
        assert_eq!(e.kinds, vec![EvidenceKind::Declared]);
    }

    #[test]
    fn pod_names_lose_their_hash_and_suffix() {
        use crate::servicemap::names::{normalize, workload_of_pod};
        assert!(workload_of_pod("cart-7d9f8b6c5d-x2x9k").contains(&"cart".to_owned()));
        assert!(workload_of_pod("redis-0").contains(&"redis".to_owned()));
        assert_eq!(normalize("Orders_Service"), "orders");
        assert_eq!(normalize("user-db [MongoDB]"), "userdb");
        assert_eq!(normalize("Cart Service"), normalize("cartservice"));
        assert_eq!(normalize("Front End"), normalize("front-end"));
        assert_eq!(normalize("payment-api"), "payment");
        assert_eq!(normalize("service"), "service");
    }
}

#[test]
fn without_routes_the_roots_of_the_call_graph_are_entry_points_and_load_generators_are_not() {
    // loadgen -> proxy -> web -> db; a worker nobody can address calls db too; nothing declared.
    let yaml = app(
        "default",
        "proxy",
        8080,
        "[{name: WEB_ADDR, value: 'web:80'}]",
    ) + &app("default", "web", 80, "[{name: DB_ADDR, value: 'db:5432'}]")
        + &app("default", "db", 5432, "[]")
        + &app(
            "default",
            "load-generator",
            8089,
            "[{name: TARGET_ADDR, value: 'proxy:8080'}]",
        )
        + "\
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers:
      - {name: main, image: example/worker:1, env: [{name: DB_ADDR, value: 'db:5432'}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: stress}
spec:
  selector: {matchLabels: {app: stress}}
  template:
    metadata: {labels: {app: stress}}
    spec:
      containers:
      - {name: main, image: 'grafana/k6:0.50', env: [{name: TARGET_ADDR, value: 'web:80'}]}
";
    let map = map_of(&yaml);
    let entries: Vec<(&str, Option<&EntryVia>)> = map
        .nodes
        .iter()
        .filter(|n| n.entry_point)
        .map(|n| (n.id.as_str(), n.entry_via.as_ref()))
        .collect();
    assert_eq!(
        entries,
        vec![(
            "default/Service/proxy",
            Some(&EntryVia::CallGraphRoot {
                workload: NodeId("default/Deployment/proxy".into())
            })
        )],
        "the proxy is called by a load generator only; the worker has no Service"
    );
    let load_generators: Vec<&str> = map
        .nodes
        .iter()
        .filter(|n| n.load_generator)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(
        load_generators,
        vec![
            "default/Deployment/load-generator",
            "default/Deployment/stress"
        ],
        "by name, and by image"
    );
}

#[test]
fn declared_entry_points_leave_no_root_to_add() {
    let yaml = app("default", "web", 80, "[{name: DB_ADDR, value: 'db:5432'}]")
        + &app("default", "db", 5432, "[]")
        + "\
---
apiVersion: v1
kind: Service
metadata: {name: web-public}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80}]}
";
    let map = map_of(&yaml);
    let entries: Vec<&str> = map
        .nodes
        .iter()
        .filter(|n| n.entry_point)
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(entries, vec!["default/Service/web-public"]);
}
