//! Every object the analysis emits (Chaos Mesh manifests and ExperimentProposal drafts) matches
//! the OpenAPI schema of its CRD: the official Chaos Mesh CRDs in `../shared/chaos-mesh/crd.yaml`
//! and our own. A small structural validator (known properties, required fields, types, enums)
//! catches misspelt fields and invalid values without an API server; the integration tests
//! dry-run the same objects against a real one.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use smart_chaos::analysis::{
    AnalysisConfig, analyze_builtin, build_chaos_manifests, build_proposals,
};
use smart_chaos::chaosmesh::ChaosKind;
use smart_chaos::servicemap::ServiceMap;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A shop with every feature the built-in rules design for: replicas, an HPA, a StatefulSet with
/// a volume, an external host, an Ingress and a LoadBalancer.
const SHOP_MAP: &str = r#"{
  "nodes": [
    {"id": "shop/Deployment/cart", "kind": "Deployment", "namespace": "shop", "name": "cart",
     "workload": {"replicas": 2, "podLabels": {"app": "cart"},
       "containers": [{"name": "server", "image": "cart:1", "ports": [7070], "readinessProbe": true, "livenessProbe": true, "resourceLimits": true}],
       "hasPdb": false}},
    {"id": "shop/Deployment/web", "kind": "Deployment", "namespace": "shop", "name": "web",
     "workload": {"replicas": 4, "podLabels": {"app": "web", "tier": "front"},
       "containers": [{"name": "web", "image": "web:1", "ports": [8080], "readinessProbe": true, "livenessProbe": true, "resourceLimits": true}],
       "hasPdb": true, "autoscaling": [4, 12]}},
    {"id": "shop/External/api.stripe.example", "kind": "External", "namespace": "shop", "name": "api.stripe.example", "host": "api.stripe.example"},
    {"id": "shop/Ingress/web", "kind": "Ingress", "namespace": "shop", "name": "web", "entryPoint": true},
    {"id": "shop/Service/cart", "kind": "Service", "namespace": "shop", "name": "cart",
     "service": {"serviceType": "ClusterIP", "ports": [7070], "selector": {"app": "cart"}, "backends": ["shop/Deployment/cart"]}},
    {"id": "shop/Service/db", "kind": "Service", "namespace": "shop", "name": "db",
     "service": {"serviceType": "Headless", "ports": [5432], "selector": {"app": "db"}, "backends": ["shop/StatefulSet/db"]}},
    {"id": "shop/Service/web", "kind": "Service", "namespace": "shop", "name": "web",
     "service": {"serviceType": "ClusterIP", "ports": [80], "selector": {"app": "web"}, "backends": ["shop/Deployment/web"]}},
    {"id": "shop/StatefulSet/db", "kind": "StatefulSet", "namespace": "shop", "name": "db",
     "workload": {"replicas": 1, "podLabels": {"app": "db"},
       "containers": [{"name": "postgres", "image": "postgres:16", "ports": [5432], "readinessProbe": false, "livenessProbe": true, "resourceLimits": false}],
       "dataStore": "postgres", "persistentMounts": ["/var/lib/postgresql/data"], "hasPdb": false}}
  ],
  "edges": [
    {"from": "shop/Deployment/cart", "to": "shop/External/api.stripe.example", "evidence": [{"source": "env", "container": "server", "name": "STRIPE_URL", "value": "https://api.stripe.example"}], "confidence": 0.9, "port": 443},
    {"from": "shop/Deployment/cart", "to": "shop/Service/db", "evidence": [{"source": "env", "container": "server", "name": "DB_HOST", "value": "db"}], "confidence": 0.9, "port": 5432, "protocol": "postgres"},
    {"from": "shop/Deployment/web", "to": "shop/Service/cart", "evidence": [{"source": "env", "container": "web", "name": "CART_ADDR", "value": "cart:7070"}], "confidence": 0.9, "port": 7070},
    {"from": "shop/Ingress/web", "to": "shop/Service/web", "evidence": [{"source": "ingressRule", "ingress": "web", "host": "shop.example.com", "path": "/"}], "confidence": 1.0, "port": 80, "protocol": "http"}
  ]
}"#;

/// Checks `value` against an OpenAPI v3 schema; every problem is pushed with its path.
fn validate(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        problems.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(object) = value.as_object() else {
                problems.push(format!("{path}: expected an object, got {value}"));
                return;
            };
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(required) {
                    problems.push(format!("{path}: missing required field {required}"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, child) in object {
                let child_path = format!("{path}.{key}");
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(child_schema), _) => validate(child_schema, child, &child_path, problems),
                    (None, Some(additional)) if additional.is_object() => {
                        validate(additional, child, &child_path, problems)
                    }
                    (None, Some(Value::Bool(true))) => {}
                    (None, _) if preserve => {}
                    // `metadata` and other free-form objects have no properties listed.
                    (None, None) if properties.is_none() => {}
                    (None, _) => problems.push(format!("{child_path}: unknown field")),
                }
            }
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                problems.push(format!("{path}: expected an array, got {value}"));
                return;
            };
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item_schema, item, &format!("{path}[{i}]"), problems);
                }
            }
        }
        Some("string") if !(value.is_string() || (int_or_string && value.is_i64())) => {
            problems.push(format!("{path}: expected a string, got {value}"));
        }
        Some("integer") if !(value.is_i64() || (int_or_string && value.is_string())) => {
            problems.push(format!("{path}: expected an integer, got {value}"));
        }
        Some("boolean") if !value.is_boolean() => {
            problems.push(format!("{path}: expected a boolean, got {value}"));
        }
        _ => {}
    }
}

/// The openAPIV3Schema of `kind` among the CRDs of a multi-document YAML stream.
fn crd_schema(yaml: &str, kind: &str) -> Result<Value, Box<dyn std::error::Error>> {
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = Value::deserialize(document)?;
        if value.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind) {
            return value
                .pointer("/spec/versions/0/schema/openAPIV3Schema")
                .cloned()
                .ok_or_else(|| format!("{kind} has no schema").into());
        }
    }
    Err(format!("no CRD for {kind}").into())
}

#[test]
fn the_validator_catches_mistakes() -> TestResult {
    let schema: Value = serde_json::from_str(
        r#"{"type": "object", "required": ["mode"], "properties": {
            "mode": {"type": "string", "enum": ["one", "all"]},
            "port": {"type": "integer"}}}"#,
    )?;
    let mut problems = Vec::new();
    validate(
        &schema,
        &serde_json::json!({"mode": "some", "port": "80", "prot": 1}),
        "spec",
        &mut problems,
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
    let mut none = Vec::new();
    validate(
        &schema,
        &serde_json::json!({"mode": "one", "port": 80}),
        "spec",
        &mut none,
    );
    assert!(none.is_empty(), "{none:?}");
    Ok(())
}

#[test]
fn chaos_manifests_and_proposals_match_their_crds() -> TestResult {
    let map: ServiceMap = serde_json::from_str(SHOP_MAP)?;
    let result = analyze_builtin(&map, &AnalysisConfig::default())?;
    let manifests = build_chaos_manifests(&result, "shop");
    let kinds: BTreeSet<ChaosKind> = manifests.iter().map(|m| m.spec.kind()).collect();
    for kind in [
        ChaosKind::PodChaos,
        ChaosKind::NetworkChaos,
        ChaosKind::StressChaos,
        ChaosKind::IOChaos,
        ChaosKind::DNSChaos,
        ChaosKind::HTTPChaos,
    ] {
        assert!(kinds.contains(&kind), "no {kind} emitted: {kinds:?}");
    }
    let chaos_crds = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/chaos-mesh/crd.yaml"),
    )?;
    let mut problems = Vec::new();
    for manifest in &manifests {
        let kind = manifest.spec.kind();
        let schema = crd_schema(&chaos_crds, kind.as_str())?;
        let value = serde_json::to_value(manifest)?;
        assert_eq!(value["kind"], kind.as_str());
        validate(&schema, &value, kind.as_str(), &mut problems);
    }
    let own_crds = smart_chaos::api::crds_yaml()?;
    let proposal_schema = crd_schema(&own_crds, "ExperimentProposal")?;
    for proposal in build_proposals(&result, "shop") {
        // apiVersion, kind and metadata are implicit at the root of our generated schema.
        let value = serde_json::to_value(&proposal.spec)?;
        let spec_schema = proposal_schema
            .pointer("/properties/spec")
            .ok_or("the ExperimentProposal schema has no spec")?;
        validate(
            spec_schema,
            &value,
            "ExperimentProposal.spec",
            &mut problems,
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
