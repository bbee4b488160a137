//! The team's architecture and test cases in the operator, on the real kube-apiserver: a diagram
//! kept in a ConfigMap joins the map (a service it names that the cluster lacks is a drift
//! finding), a test case Chaos Mesh can express becomes a Pending proposal, one it cannot gets its
//! blast radius in status with the reason, and a ConfigMap the requester may not read is never
//! read for them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod operator_support;
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Subject};
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use operator_support::{
    TEST_MANAGER, admin_with_operator_manifests, bind_in_namespace, eventually, start_operator,
};
use smart_chaos::analysis::{self, AnalysisConfig, FindingKind};
use smart_chaos::api::{
    AnalysisPhase, ApprovalState, ArchitectureRef, ChaosAnalysis, ChaosAnalysisSpec,
    ChaosAnalysisStatus, ExperimentProposal, Guardrails, Scope, TestCaseSpec, conditions,
};
use smart_chaos::architecture;
use smart_chaos::chaosmesh::ChaosKind;
use smart_chaos::servicemap;
use smart_chaos::snapshot::cluster::READ_KINDS;
use smart_chaos::snapshot::{self, ReadOptions};
use support::User;

/// The team's picture of Online Boutique: some of its calls, and a ledger service the cluster
/// does not run.
const DIAGRAM: &str = "flowchart LR
  frontend --> cartservice
  cartservice --> redis-cart[(Redis cart)]
  checkoutservice --> paymentservice
  checkoutservice --> ledger[Payment Ledger]
";

fn spec(ns: &str) -> ChaosAnalysisSpec {
    ChaosAnalysisSpec {
        scope: Scope {
            namespaces: vec![ns.to_owned()],
            label_selector: None,
        },
        architecture: None,
        provider: Default::default(),
        guardrails: Guardrails::default(),
        refresh: Default::default(),
        telemetry: None,
        architecture_refs: vec![ArchitectureRef {
            config_map: "team-architecture".into(),
            key: "shop.mmd".into(),
        }],
        test_cases: vec![
            TestCaseSpec {
                name: "cart-slow".into(),
                failure: "cartservice latency=500ms to=redis-cart".into(),
            },
            TestCaseSpec {
                name: "zone-a-down".into(),
                failure: "cartservice zone-down=eu-west-1a".into(),
            },
        ],
        suppressions: Vec::new(),
    }
}

async fn analysis_as(
    client: &Client,
    ns: &str,
    name: &str,
    spec: ChaosAnalysisSpec,
) -> ChaosAnalysis {
    let mut analysis = ChaosAnalysis::new(name, spec);
    analysis.metadata.namespace = Some(ns.to_owned());
    support::stamp_requester(client, &mut analysis.metadata).await;
    analysis
}

async fn architecture_config_map(admin: &Client, ns: &str) {
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some("team-architecture".into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            "shop.mmd".to_owned(),
            DIAGRAM.to_owned(),
        )])),
        ..ConfigMap::default()
    };
    Api::<ConfigMap>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
}

/// Online Boutique in a fresh namespace; returns the namespace and its manifests' file.
async fn boutique(admin: &Client, prefix: &str) -> (String, std::path::PathBuf) {
    let ns = support::test_namespace(admin, prefix).await;
    let docs =
        support::manifests_in_namespace(&support::shared_dir().join("corpus/online-boutique"), &ns);
    let dir = std::env::temp_dir().join(format!("smart-chaos-arch-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("manifests.yaml");
    support::write_yaml_docs(&file, &docs);
    support::apply_manifests(admin, &docs).await;
    (ns, file)
}

async fn settled(
    api: &Api<ChaosAnalysis>,
    name: &str,
    phase: AnalysisPhase,
) -> ChaosAnalysisStatus {
    eventually("the analysis to settle", Duration::from_secs(90), || {
        let api = api.clone();
        let name = name.to_owned();
        async move {
            let status = api.get(&name).await.ok()?.status?;
            (status.phase == Some(phase) && status.observed_generation == Some(1)).then_some(status)
        }
    })
    .await
}

#[tokio::test]
async fn a_configmap_diagram_joins_the_map_and_test_cases_become_a_proposal_and_a_status_entry() {
    let admin = admin_with_operator_manifests().await;
    let (ns, manifests) = boutique(&admin, "arch-op").await;
    architecture_config_map(&admin, &ns).await;

    // What the offline pipeline makes of the same manifests with and without the diagram.
    let outcome = snapshot::read_paths(&[manifests], &ReadOptions::default()).unwrap();
    let config =
        AnalysisConfig::from_guardrails(&Guardrails::default(), Some("smart-chaos-system"))
            .unwrap();
    let plain = servicemap::build(&outcome.snapshot);
    let mut declared = plain.clone();
    let diagram =
        architecture::parse_diagram("shop.mmd", DIAGRAM, architecture::DiagramFormat::Mermaid, 0)
            .unwrap();
    architecture::declare(&mut declared, &[diagram]);
    let without = analysis::analyze_builtin(&plain, &config).unwrap();
    let with = analysis::analyze_builtin(&declared, &config).unwrap();
    assert!(
        with.dependencies
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::DeclaredServiceMissing
                && f.message.contains("Payment Ledger")),
        "{:#?}",
        with.dependencies.findings
    );

    let operator = start_operator(&ns, "arch-a").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        &analysis_as(&admin, &ns, "shop", spec(&ns)).await,
    )
    .await
    .unwrap();
    let status = settled(&api, "shop", AnalysisPhase::Ready).await;
    let summary = status.summary.clone().unwrap();
    // The diagram's drift finding is there: the operator's count is the offline one with it.
    assert_eq!(summary.findings, with.summary.findings);
    assert!(summary.findings > without.summary.findings);
    assert_eq!(summary.edges, with.summary.edges);

    // The expressible test case is a Pending proposal with the radius status shows.
    let slow = status
        .test_cases
        .iter()
        .find(|c| c.name == "cart-slow")
        .unwrap();
    assert_eq!(slow.reason, None, "{slow:?}");
    assert!(
        slow.canonical
            .as_deref()
            .unwrap()
            .starts_with(&format!("{ns}/Deployment/cartservice latency=500ms"))
    );
    let proposal = Api::<ExperimentProposal>::namespaced(admin.clone(), &ns)
        .get(slow.proposal.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(proposal.approval_state(), ApprovalState::Pending);
    assert_eq!(proposal.spec.experiment.kind, ChaosKind::NetworkChaos);
    let network = proposal.spec.experiment.network_chaos.as_ref().unwrap();
    assert_eq!(network.delay.as_ref().unwrap().latency, "500ms");
    assert_eq!(
        Some(&proposal.spec.blast_radius),
        slow.blast_radius.as_ref()
    );
    assert!(proposal.spec.hypothesis.statement.contains("cart-slow"));
    assert!(!proposal.spec.steady_state.is_empty());

    // The inexpressible one has no proposal, but its blast radius and the reason.
    let zone = status
        .test_cases
        .iter()
        .find(|c| c.name == "zone-a-down")
        .unwrap();
    assert_eq!(zone.proposal, None);
    assert!(
        zone.reason.as_deref().unwrap().contains("zone eu-west-1a"),
        "{zone:?}"
    );
    let radius = zone.blast_radius.as_ref().unwrap();
    assert!(
        radius
            .affected_workloads
            .contains(&format!("{ns}/Deployment/cartservice"))
    );
    assert!(
        radius
            .affected_workloads
            .contains(&format!("{ns}/Deployment/frontend"))
    );
    assert!(!radius.affected_entry_points.is_empty());
    assert_eq!(
        summary.proposals,
        i64::try_from(with.planned.len() + 1).unwrap()
    );
    operator.stop().await;
}

/// May list what the operator reads (ConfigMaps included) and manage analyses, but get no
/// ConfigMap by name.
const LIST_ONLY_ROLE: &str = "test-architecture-list-only";

#[tokio::test]
async fn a_configmap_the_requester_may_not_get_is_not_read_for_them() {
    let admin = admin_with_operator_manifests().await;
    let mut rules: Vec<PolicyRule> = READ_KINDS
        .iter()
        .map(|kind| PolicyRule {
            api_groups: Some(vec![kind.group.into()]),
            resources: Some(vec![kind.resource.into()]),
            verbs: vec!["list".into()],
            ..PolicyRule::default()
        })
        .collect();
    rules.push(PolicyRule {
        api_groups: Some(vec!["chaos.smartchaos.io".into()]),
        resources: Some(vec!["chaosanalyses".into()]),
        verbs: ["get", "list", "create", "update", "patch"]
            .map(String::from)
            .to_vec(),
        ..PolicyRule::default()
    });
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(LIST_ONLY_ROLE.into()),
            ..ObjectMeta::default()
        },
        rules: Some(rules),
        aggregation_rule: None,
    };
    Api::<ClusterRole>::all(admin.clone())
        .patch(
            LIST_ONLY_ROLE,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&role),
        )
        .await
        .unwrap();
    let (ns, _) = boutique(&admin, "arch-refused").await;
    architecture_config_map(&admin, &ns).await;
    let tenant_user = Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "User".into(),
        name: "tenant".into(),
        namespace: None,
    };
    bind_in_namespace(&admin, &ns, "tenant-lists", tenant_user, LIST_ONLY_ROLE).await;
    let tenant = support::server().client(User::Tenant).await;
    let operator = start_operator(&ns, "arch-b").await;
    let analysis = analysis_as(&tenant, &ns, "shop", spec(&ns)).await;
    Api::<ChaosAnalysis>::namespaced(tenant.clone(), &ns)
        .create(&PostParams::default(), &analysis)
        .await
        .unwrap();
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    let status = settled(&api, "shop", AnalysisPhase::Failed).await;
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::READY)
        .unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains(&format!(
            "user tenant may not get ConfigMap {ns}/team-architecture"
        )),
        "{}",
        ready.message
    );
    assert!(
        ready
            .message
            .contains(&format!("configmap {ns}/team-architecture key shop.mmd"))
    );
    // Nothing was analysed on the tenant's behalf from it: no summary, no test case entries.
    assert!(status.summary.is_none() && status.test_cases.is_empty());
    operator.stop().await;
}
