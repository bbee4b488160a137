//! The shipped manifests: generated copies in sync with the code, deploy/ applied file by file to
//! the real kube-apiserver, and the Helm chart linted, rendered (helm built from its Go module)
//! and its rendering applied too.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use operator_support::{apply_object, kustomization_resources, repo_root, yaml_objects};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn generated_copies_match_the_code() {
    let root = repo_root();
    let crds = smart_chaos::api::crds_yaml().expect("rendering the CRDs");
    let policy = smart_chaos::api::policy::policy_yaml().expect("rendering the policy");
    let tenancy = smart_chaos::api::policy::tenancy_yaml().expect("rendering the tenancy policy");
    let halt = smart_chaos::api::halt::halt_policy_yaml().expect("rendering the halt policy");
    for (path, expected) in [
        ("crds/halt-policy.yaml", &halt),
        ("deploy/halt-policy.yaml", &halt),
        ("charts/smart-chaos/files/halt-policy.yaml", &halt),
        ("crds/tenancy-policy.yaml", &tenancy),
        ("deploy/tenancy-policy.yaml", &tenancy),
        ("charts/smart-chaos/files/tenancy-policy.yaml", &tenancy),
        ("crds/approval-policy.yaml", &policy),
        ("deploy/crds.yaml", &crds),
        ("deploy/approval-policy.yaml", &policy),
        ("charts/smart-chaos/crds/smart-chaos.yaml", &crds),
        ("charts/smart-chaos/files/approval-policy.yaml", &policy),
    ] {
        assert!(
            read(&root.join(path)) == *expected,
            "{path} is out of date: run scripts/generate.sh"
        );
    }
}

#[test]
fn deploy_binding_names_the_shipped_service_account() {
    let root = repo_root();
    let identity = smart_chaos::api::policy::OperatorIdentity::default();
    let expected = [
        serde_json::to_value(smart_chaos::api::policy::approval_policy_binding(&identity))
            .expect("binding"),
        serde_json::to_value(smart_chaos::api::policy::tenancy_policy_binding(&identity))
            .expect("binding"),
        serde_json::to_value(smart_chaos::api::policy::approval_policy_params(&identity))
            .expect("params"),
    ];
    let shipped = yaml_objects(&read(&root.join("deploy/approval-policy-binding.yaml")));
    assert_eq!(shipped.len(), 3);
    for (object, expected) in shipped.iter().zip(expected) {
        let mut object = serde_json::to_value(object).expect("json");
        let mut expected = expected;
        // Labels are presentation; everything else must be what the code would render.
        for v in [&mut object, &mut expected] {
            if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.remove("labels");
            }
        }
        assert_eq!(object, expected);
    }
    // The ServiceAccount deploy/rbac.yaml creates is the one the parameter denies.
    let rbac = yaml_objects(&read(&root.join("deploy/rbac.yaml")));
    let sa = rbac
        .iter()
        .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "ServiceAccount"))
        .expect("a ServiceAccount");
    assert_eq!(
        format!(
            "system:serviceaccount:{}:{}",
            sa.metadata.namespace.as_deref().unwrap_or_default(),
            sa.metadata.name.as_deref().unwrap_or_default()
        ),
        identity.username()
    );
}

#[test]
fn chart_versions_follow_the_crate() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Chart {
        version: String,
        app_version: String,
    }
    let chart: Chart =
        serde_yaml::from_str(&read(&repo_root().join("charts/smart-chaos/Chart.yaml")))
            .expect("Chart.yaml");
    assert_eq!(chart.app_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(chart.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn every_deploy_file_applies_to_the_api_server() {
    let admin = support::admin().await;
    let files = kustomization_resources(&repo_root().join("deploy"));
    assert!(files.len() >= 6, "{files:?}");
    let mut kinds = Vec::new();
    for file in files {
        for object in yaml_objects(&read(&file)) {
            kinds.push(
                object
                    .types
                    .as_ref()
                    .map(|t| t.kind.clone())
                    .unwrap_or_default(),
            );
            apply_object(&admin, &object, false).await;
        }
    }
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ClusterRole",
        "Deployment",
        "Service",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "deploy/ lacks a {kind}: {kinds:?}"
        );
    }
}

fn helm() -> PathBuf {
    let root = repo_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/build-helm.sh"))
        .current_dir(&root)
        .output()
        .expect("running scripts/build-helm.sh (needs bash and Go)");
    assert!(
        out.status.success(),
        "building helm failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    PathBuf::from(path)
}

fn run_helm(helm: &Path, args: &[&str]) -> String {
    let out = Command::new(helm)
        .args(args)
        .current_dir(repo_root())
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("smart-chaos-helm/cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("smart-chaos-helm/config"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("smart-chaos-helm/data"),
        )
        .output()
        .expect("running helm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[tokio::test]
async fn the_chart_lints_renders_and_applies() {
    let helm = helm();
    let lint = run_helm(&helm, &["lint", "--strict", "charts/smart-chaos"]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let admin = support::admin().await;

    // In the default namespace and names the rendering equals deploy/'s objects in meaning, so
    // it is applied for real.
    let rendered = run_helm(
        &helm,
        &[
            "template",
            "smart-chaos",
            "charts/smart-chaos",
            "--namespace",
            "smart-chaos-system",
            "--include-crds",
        ],
    );
    let objects = yaml_objects(&rendered);
    let kinds: Vec<String> = objects
        .iter()
        .filter_map(|o| o.types.as_ref().map(|t| t.kind.clone()))
        .collect();
    for kind in [
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ConfigMap",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ServiceAccount",
        "Service",
        "Deployment",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "the chart renders no {kind}: {kinds:?}"
        );
    }
    assert!(
        !kinds.iter().any(|k| k == "ServiceMonitor"),
        "ServiceMonitor is off by default"
    );
    assert!(!rendered.contains("kind: Secret"));
    let ns_object = yaml_objects(&read(&repo_root().join("deploy/namespace.yaml")));
    for object in ns_object.iter().chain(objects.iter()) {
        apply_object(&admin, object, false).await;
    }

    // Elsewhere, with options: the parameter names that namespace's service account, the
    // credentials Secret is the only Secret readable, and everything passes a server-side dry run.
    let ns = support::test_namespace(&admin, "helm").await;
    let rendered = run_helm(
        &helm,
        &[
            "template",
            "sc",
            "charts/smart-chaos",
            "--namespace",
            &ns,
            "--set",
            "credentialsSecret.name=model-credentials",
            "--set",
            "replicaCount=2",
        ],
    );
    assert!(
        rendered.contains(&format!(
            "operatorUsername: \"system:serviceaccount:{ns}:smart-chaos\""
        )),
        "{rendered}"
    );
    assert!(
        rendered.contains("resourceNames: [\"model-credentials\"]"),
        "{rendered}"
    );
    assert!(rendered.contains("replicas: 2"));
    for object in yaml_objects(&rendered) {
        apply_object(&admin, &object, true).await;
    }

    let with_monitor = run_helm(
        &helm,
        &[
            "template",
            "smart-chaos",
            "charts/smart-chaos",
            "--set",
            "serviceMonitor.enabled=true",
        ],
    );
    assert!(
        yaml_objects(&with_monitor)
            .iter()
            .any(|o| o.types.as_ref().is_some_and(|t| t.kind == "ServiceMonitor"))
    );
}

/// The operator's ClusterRole: writes only on our CRDs, Events, Leases and Chaos Mesh kinds; no
/// Secrets unless one is named; no wildcards.
fn assert_least_privilege(role: &k8s_openapi::api::rbac::v1::ClusterRole, secret: Option<&str>) {
    const WRITE: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
    const WRITABLE_GROUPS: [&str; 4] = [
        "chaos.smartchaos.io",
        "chaos-mesh.org",
        "events.k8s.io",
        "coordination.k8s.io",
    ];
    let rules = role.rules.clone().unwrap_or_default();
    assert!(!rules.is_empty());
    for rule in &rules {
        let groups = rule.api_groups.clone().unwrap_or_default();
        let resources = rule.resources.clone().unwrap_or_default();
        for field in groups.iter().chain(&resources).chain(&rule.verbs) {
            assert_ne!(field, "*", "wildcard in {rule:?}");
        }
        // Asking the API server a question (a SubjectAccessReview for the tenancy re-check)
        // is a create that writes nothing.
        let asks_only = groups == ["authorization.k8s.io"]
            && resources == ["subjectaccessreviews"]
            && rule.verbs == ["create"];
        if rule.verbs.iter().any(|v| WRITE.contains(&v.as_str())) && !asks_only {
            assert!(
                groups.iter().all(|g| WRITABLE_GROUPS.contains(&g.as_str())),
                "write access outside our groups: {rule:?}"
            );
        }
        if resources.iter().any(|r| r == "secrets") {
            let names = rule.resource_names.clone().unwrap_or_default();
            assert_eq!(
                names,
                secret.map(|s| vec![s.to_string()]).unwrap_or_default(),
                "{rule:?}"
            );
            assert_eq!(rule.verbs, vec!["get".to_string()], "{rule:?}");
        }
    }
    let reads_secrets = rules.iter().any(|r| {
        r.resources
            .as_ref()
            .is_some_and(|rs| rs.iter().any(|x| x == "secrets"))
    });
    assert_eq!(reads_secrets, secret.is_some());
}

fn operator_role(objects: &[kube::api::DynamicObject]) -> k8s_openapi::api::rbac::v1::ClusterRole {
    let object = objects
        .iter()
        .find(|o| {
            o.types.as_ref().is_some_and(|t| t.kind == "ClusterRole")
                && o.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.ends_with("-operator"))
        })
        .expect("the operator's ClusterRole");
    serde_json::from_value(serde_json::to_value(object).expect("json")).expect("a ClusterRole")
}

#[test]
fn the_shipped_operator_roles_are_least_privilege() {
    let deploy = yaml_objects(&read(&repo_root().join("deploy/rbac.yaml")));
    assert_least_privilege(&operator_role(&deploy), None);
    let helm = helm();
    let plain = yaml_objects(&run_helm(
        &helm,
        &["template", "smart-chaos", "charts/smart-chaos"],
    ));
    assert_least_privilege(&operator_role(&plain), None);
    let with_secret = yaml_objects(&run_helm(
        &helm,
        &[
            "template",
            "smart-chaos",
            "charts/smart-chaos",
            "--set",
            "credentialsSecret.name=llm-key",
        ],
    ));
    assert_least_privilege(&operator_role(&with_secret), Some("llm-key"));
}

#[tokio::test]
async fn the_api_server_grants_the_operator_only_what_it_needs() {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    operator_support::admin_with_operator_manifests().await;
    let operator = support::server().client(support::User::Operator).await;
    let api: kube::Api<SelfSubjectAccessReview> = kube::Api::all(operator);
    let cases = [
        ("chaos-mesh.org", "podchaos", "create", "shop", true),
        (
            "chaos.smartchaos.io",
            "experimentproposals",
            "patch",
            "shop",
            true,
        ),
        (
            "chaos.smartchaos.io",
            "experimentproposals",
            "approve",
            "shop",
            false,
        ),
        ("apps", "deployments", "list", "shop", true),
        ("apps", "deployments", "create", "shop", false),
        ("", "secrets", "get", "shop", false),
        ("", "pods", "delete", "shop", false),
        (
            "coordination.k8s.io",
            "leases",
            "update",
            "smart-chaos-system",
            true,
        ),
        ("coordination.k8s.io", "leases", "update", "shop", false),
        ("events.k8s.io", "events", "create", "shop", true),
    ];
    for (group, resource, verb, namespace, expected) in cases {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    verb: Some(verb.into()),
                    namespace: Some(namespace.into()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let answer = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .expect("an access review");
        let allowed = answer.status.map(|s| s.allowed).unwrap_or(false);
        assert_eq!(
            allowed, expected,
            "{verb} {group}/{resource} in {namespace}"
        );
    }
}

/// The images of the Deployments in a rendering.
fn deployment_images(rendered: &str) -> Vec<String> {
    serde_yaml::Deserializer::from_str(rendered)
        .filter_map(|doc| {
            use serde::Deserialize;
            Option::<serde_yaml::Value>::deserialize(doc).unwrap()
        })
        .filter(|doc| doc["kind"] == "Deployment")
        .map(|doc| {
            let deployment: k8s_openapi::api::apps::v1::Deployment =
                serde_yaml::from_value(doc).unwrap();
            deployment.spec.unwrap().template.spec.unwrap().containers[0]
                .image
                .clone()
                .unwrap()
        })
        .collect()
}

/// `helm template` and `kubectl kustomize deploy/` (what `kubectl apply -k deploy/` applies)
/// both name the image scripts/build-image.sh builds (tests/image.rs checks that side).
#[test]
fn both_install_paths_name_the_image_the_script_builds() {
    let image = concat!("smart-chaos:", env!("CARGO_PKG_VERSION"));
    let helm = helm();
    let rendered = run_helm(
        &helm,
        &[
            "template",
            "smart-chaos",
            "charts/smart-chaos",
            "--namespace",
            "smart-chaos-system",
        ],
    );
    assert_eq!(deployment_images(&rendered), [image]);
    let kustomized = Command::new("kubectl")
        .args(["kustomize", "deploy"])
        .current_dir(repo_root())
        .output()
        .expect("kubectl is required (scripts/install-deps.sh)");
    assert!(
        kustomized.status.success(),
        "kubectl kustomize deploy failed: {}",
        String::from_utf8_lossy(&kustomized.stderr)
    );
    assert_eq!(
        deployment_images(&String::from_utf8(kustomized.stdout).unwrap()),
        [image]
    );
}
