//! Tenancy on the real kube-apiserver: nobody reaches a namespace through the operator that they
//! cannot reach themselves. Users `tenant` and `partner` start with no rights at all; each test
//! grants exactly the rights it names, per namespace, with RoleBindings to the user.

// Test code: failing loudly is the point (clippy only recognises #[test] functions as tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod operator_support;
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleBinding, Subject};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use operator_support::{
    OPERATOR_NAMESPACE, TEST_MANAGER, admin_with_operator_manifests, bind_in_namespace,
    create_proposal, decided, eventually, proposal, start_operator,
};
use serde_json::json;
use smart_chaos::api::{
    ANALYSIS_LABEL, AnalysisPhase, ApprovalState, ChaosAnalysis, ExperimentProposal, conditions,
};
use smart_chaos::snapshot::cluster::READ_KINDS;
use support::User;

/// May list, in a namespace, exactly the kinds the operator reads, and manage analyses there.
const READER_ROLE: &str = "test-tenancy-reader";
/// May decide on proposals in a namespace: read, patch and the custom verb `approve`.
const APPROVER_ROLE: &str = "test-tenancy-approver";

async fn install_roles(admin: &Client) {
    let mut reader_rules: Vec<PolicyRule> = READ_KINDS
        .iter()
        .map(|kind| PolicyRule {
            api_groups: Some(vec![kind.group.into()]),
            resources: Some(vec![kind.resource.into()]),
            verbs: vec!["list".into()],
            ..PolicyRule::default()
        })
        .collect();
    reader_rules.push(PolicyRule {
        api_groups: Some(vec!["chaos.smartchaos.io".into()]),
        resources: Some(vec!["chaosanalyses".into()]),
        verbs: ["get", "list", "create", "update", "patch", "delete"]
            .map(String::from)
            .to_vec(),
        ..PolicyRule::default()
    });
    let approver_rules = vec![PolicyRule {
        api_groups: Some(vec!["chaos.smartchaos.io".into()]),
        resources: Some(vec!["experimentproposals".into()]),
        verbs: ["get", "list", "patch", "update", "approve"]
            .map(String::from)
            .to_vec(),
        ..PolicyRule::default()
    }];
    for (name, rules) in [(READER_ROLE, reader_rules), (APPROVER_ROLE, approver_rules)] {
        let role = ClusterRole {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            rules: Some(rules),
            aggregation_rule: None,
        };
        Api::<ClusterRole>::all(admin.clone())
            .patch(
                name,
                &PatchParams::apply(TEST_MANAGER).force(),
                &Patch::Apply(&role),
            )
            .await
            .expect("a test role");
    }
}

fn user(name: &str) -> Subject {
    Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "User".into(),
        name: name.into(),
        namespace: None,
    }
}

/// An admin client with the shipped policies enforcing and the test roles installed.
async fn setup() -> Client {
    let admin = admin_with_operator_manifests().await;
    install_roles(&admin).await;
    admin
}

/// Online Boutique applied to `ns`.
async fn boutique_in(admin: &Client, ns: &str) {
    let docs =
        support::manifests_in_namespace(&support::shared_dir().join("corpus/online-boutique"), ns);
    support::apply_manifests(admin, &docs).await;
}

/// An analysis as `user` would write it, with that user's `requested-by` annotations.
async fn analysis_by(
    client: &Client,
    ns: &str,
    name: &str,
    spec: serde_json::Value,
) -> ChaosAnalysis {
    let mut analysis: ChaosAnalysis = serde_json::from_value(json!({
        "apiVersion": "chaos.smartchaos.io/v1alpha1",
        "kind": "ChaosAnalysis",
        "metadata": { "name": name, "namespace": ns },
        "spec": spec,
    }))
    .unwrap();
    support::stamp_requester(client, &mut analysis.metadata).await;
    analysis
}

/// Creates `analysis` as the user of `client`; the API server's refusal message, if any.
async fn create_as(client: &Client, analysis: &ChaosAnalysis) -> Result<ChaosAnalysis, String> {
    let ns = analysis.metadata.namespace.as_deref().unwrap();
    Api::<ChaosAnalysis>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), analysis)
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) => status.message,
            other => panic!("unexpected error: {other}"),
        })
}

#[tokio::test]
async fn an_analysis_of_a_namespace_its_requester_cannot_read_is_refused_at_creation() {
    let admin = setup().await;
    let tenant_a = support::test_namespace(&admin, "tenant-a").await;
    let boutique = support::test_namespace(&admin, "boutique").await;
    boutique_in(&admin, &boutique).await;
    bind_in_namespace(
        &admin,
        &tenant_a,
        "tenant-reads",
        user("tenant"),
        READER_ROLE,
    )
    .await;
    bind_in_namespace(
        &admin,
        &tenant_a,
        "tenant-approves",
        user("tenant"),
        APPROVER_ROLE,
    )
    .await;
    let tenant = support::server().client(User::Tenant).await;

    // The scenario of the issue: scope and allowedNamespaces are boutique.
    let scenario = analysis_by(
        &tenant,
        &tenant_a,
        "shop",
        json!({"scope": {"namespaces": [boutique]},
               "guardrails": {"allowedNamespaces": [boutique]}}),
    )
    .await;
    let refusal = create_as(&tenant, &scenario)
        .await
        .expect_err("the scenario was admitted");
    eprintln!("refused: {refusal}");
    assert!(
        refusal.contains(&format!("in namespace {boutique}")),
        "{refusal}"
    );
    assert!(
        refusal.contains("may not list deployments.apps"),
        "{refusal}"
    );

    // Its own namespace is fine; reaching out through allowedNamespaces is not.
    let own = analysis_by(
        &tenant,
        &tenant_a,
        "own",
        json!({"scope": {"namespaces": [tenant_a]}}),
    )
    .await;
    create_as(&tenant, &own)
        .await
        .expect("an analysis of the tenant's own namespace");
    let reach = analysis_by(
        &tenant,
        &tenant_a,
        "reach",
        json!({"scope": {"namespaces": [tenant_a]},
               "guardrails": {"allowedNamespaces": [boutique]}}),
    )
    .await;
    let refusal = create_as(&tenant, &reach)
        .await
        .expect_err("allowedNamespaces outside the scope");
    assert!(
        refusal.contains(&format!("names {boutique}, which is outside")),
        "{refusal}"
    );

    // Who asked must be who asks: a missing or borrowed requester is refused.
    let mut anonymous = own.clone();
    anonymous.metadata.name = Some("anonymous".into());
    anonymous.metadata.annotations = None;
    let refusal = create_as(&tenant, &anonymous)
        .await
        .expect_err("no requester");
    assert!(refusal.contains("requested-by: \"tenant\""), "{refusal}");
    let mut borrowed = analysis_by(
        &admin,
        &tenant_a,
        "borrowed",
        json!({"scope": {"namespaces": [tenant_a]}}),
    )
    .await;
    borrowed.metadata.namespace = Some(tenant_a.clone());
    let refusal = create_as(&tenant, &borrowed)
        .await
        .expect_err("an admin's name borrowed");
    assert!(refusal.contains("requested-by"), "{refusal}");

    // Nothing of boutique anywhere in tenant-a: no analysis scoped to it, no proposal, no event.
    let analyses = Api::<ChaosAnalysis>::namespaced(admin.clone(), &tenant_a)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(analyses.items.len(), 1);
    assert_eq!(
        analyses.items[0].spec.scope.namespaces,
        vec![tenant_a.clone()]
    );
    let proposals = Api::<ExperimentProposal>::namespaced(admin.clone(), &tenant_a)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(proposals.items.is_empty());
    let events = Api::<Event>::namespaced(admin.clone(), &tenant_a)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .all(|e| !serde_json::to_string(e).unwrap().contains(&boutique)),
        "{events:?}"
    );
}

#[tokio::test]
async fn approving_needs_the_approve_verb_in_every_namespace_the_experiment_touches() {
    let admin = setup().await;
    let tenant_a = support::test_namespace(&admin, "tenant-a").await;
    let boutique = support::test_namespace(&admin, "boutique").await;
    bind_in_namespace(
        &admin,
        &tenant_a,
        "tenant-approves",
        user("tenant"),
        APPROVER_ROLE,
    )
    .await;
    bind_in_namespace(
        &admin,
        &tenant_a,
        "partner-approves",
        user("partner"),
        APPROVER_ROLE,
    )
    .await;
    bind_in_namespace(
        &admin,
        &boutique,
        "partner-approves",
        user("partner"),
        APPROVER_ROLE,
    )
    .await;
    // The proposal lives in tenant-a; its experiment selects pods in boutique.
    let mut reaching = proposal("kill-cart", &tenant_a, "cartservice");
    reaching.spec.target = format!("{boutique}/Deployment/cartservice");
    if let Some(spec) = reaching.spec.experiment.pod_chaos.as_mut() {
        spec.selector.namespaces = vec![boutique.clone()];
    }
    create_proposal(&admin, &reaching).await;

    let approve_as = |who: User, name: &'static str| {
        let ns = tenant_a.clone();
        async move {
            let client = support::server().client(who).await;
            let body = json!({ "spec": { "approval": decided(ApprovalState::Approved, name) } });
            Api::<ExperimentProposal>::namespaced(client, &ns)
                .patch("kill-cart", &PatchParams::default(), &Patch::Merge(&body))
                .await
        }
    };
    let refusal = match approve_as(User::Tenant, "tenant").await {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("the tenant-a approver approved an experiment in boutique: {other:?}"),
    };
    eprintln!("refused: {refusal}");
    assert!(
        refusal.contains(&format!("touches namespace {boutique}")),
        "{refusal}"
    );
    assert!(refusal.contains("\"approve\""), "{refusal}");
    let stored = Api::<ExperimentProposal>::namespaced(admin.clone(), &tenant_a)
        .get("kill-cart")
        .await
        .unwrap();
    assert_eq!(stored.spec.approval.state, ApprovalState::Pending);

    let approved = approve_as(User::Partner, "partner")
        .await
        .expect("an approver in both namespaces may approve");
    assert_eq!(approved.spec.approval.state, ApprovalState::Approved);
    assert_eq!(
        approved.spec.approval.approved_by.as_deref(),
        Some("partner")
    );
}

#[tokio::test]
async fn a_label_selector_scope_of_every_namespace_needs_cluster_wide_rights_and_the_operator_namespace()
 {
    let admin = setup().await;
    let tenant_a = support::test_namespace(&admin, "tenant-a").await;
    bind_in_namespace(
        &admin,
        &tenant_a,
        "tenant-reads",
        user("tenant"),
        READER_ROLE,
    )
    .await;
    let tenant = support::server().client(User::Tenant).await;
    let everything = json!({"scope": {"labelSelector": {"matchLabels": {"tier": "web"}}}});

    // A namespace admin of tenant-a may not read the whole cluster.
    let wide = analysis_by(&tenant, &tenant_a, "wide", everything.clone()).await;
    let refusal = create_as(&tenant, &wide)
        .await
        .expect_err("a namespace admin scoped everything");
    eprintln!("refused: {refusal}");
    assert!(refusal.contains("user tenant may not list"), "{refusal}");
    assert!(refusal.contains("cluster-wide"), "{refusal}");

    // A cluster admin may, in the operator's namespace (the cluster-wide mode) ...
    let name = format!("wide-{tenant_a}");
    let platform = analysis_by(&admin, OPERATOR_NAMESPACE, &name, everything.clone()).await;
    create_as(&admin, &platform)
        .await
        .expect("a cluster admin's cluster-wide analysis");
    Api::<ChaosAnalysis>::namespaced(admin.clone(), OPERATOR_NAMESPACE)
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    // ... but not where the results would show the cluster to readers of a tenant namespace.
    let leaking = analysis_by(&admin, &tenant_a, "wide", everything).await;
    let refusal = create_as(&admin, &leaking)
        .await
        .expect_err("cluster-wide in a tenant namespace");
    assert!(refusal.contains("namespace of the operator"), "{refusal}");
}

#[tokio::test]
async fn a_requester_who_loses_read_rights_gets_a_failed_analysis_and_no_new_proposal() {
    let admin = setup().await;
    let tenant_a = support::test_namespace(&admin, "tenant-a").await;
    boutique_in(&admin, &tenant_a).await;
    bind_in_namespace(
        &admin,
        &tenant_a,
        "tenant-reads",
        user("tenant"),
        READER_ROLE,
    )
    .await;
    let tenant = support::server().client(User::Tenant).await;
    let shop = analysis_by(
        &tenant,
        &tenant_a,
        "shop",
        json!({"scope": {"namespaces": [tenant_a]}}),
    )
    .await;
    create_as(&tenant, &shop)
        .await
        .expect("the tenant's analysis");
    let operator = start_operator(&tenant_a, "tenancy-revoke").await;
    let analyses: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &tenant_a);
    let proposals: Api<ExperimentProposal> = Api::namespaced(admin.clone(), &tenant_a);
    let by_shop = ListParams::default().labels(&format!("{ANALYSIS_LABEL}=shop"));
    eventually("the analysis to be Ready", Duration::from_secs(60), || {
        let analyses = analyses.clone();
        async move {
            let status = analyses.get("shop").await.ok()?.status?;
            (status.phase == Some(AnalysisPhase::Ready)).then_some(())
        }
    })
    .await;
    let before = proposals.list(&by_shop).await.unwrap().items.len();
    assert!(before > 0, "the analysis proposed nothing");

    // The rights go; then the map changes (a new workload), which would mean new proposals.
    Api::<RoleBinding>::namespaced(admin.clone(), &tenant_a)
        .delete("tenant-reads", &DeleteParams::default())
        .await
        .unwrap();
    operator_support::deployment(&admin, &tenant_a, "newcomer", 3).await;

    let failed = eventually("the analysis to fail", Duration::from_secs(60), || {
        let analyses = analyses.clone();
        async move {
            let status = analyses.get("shop").await.ok()?.status?;
            (status.phase == Some(AnalysisPhase::Failed)).then_some(status)
        }
    })
    .await;
    let ready = failed
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::READY)
        .expect("a Ready condition");
    eprintln!("condition: {} {}", ready.reason, ready.message);
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "RequesterNotAllowed");
    assert!(
        ready.message.contains("user tenant may no longer list"),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains(&format!("in namespace {tenant_a}")),
        "{}",
        ready.message
    );
    // Results read on the tenant's behalf are gone from status.
    assert!(failed.summary.is_none() && failed.findings.is_empty());

    // Several more reconciles (the operator re-reads every second): still no new proposal.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = proposals.list(&by_shop).await.unwrap().items;
    assert_eq!(after.len(), before);
    assert!(after.iter().all(|p| !p.spec.target.contains("newcomer")));
    operator.stop().await;
}

#[tokio::test]
async fn with_chaos_mesh_namespace_filter_on_a_namespace_without_the_opt_in_gets_no_proposal() {
    let admin = setup().await;
    let opted_in = support::test_namespace(&admin, "opted-in").await;
    let plain = support::test_namespace(&admin, "plain").await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    let opt_in = json!({"metadata": {"annotations": {"chaos-mesh.org/inject": "enabled"}}});
    namespaces
        .patch(&opted_in, &PatchParams::default(), &Patch::Merge(&opt_in))
        .await
        .unwrap();
    boutique_in(&admin, &opted_in).await;
    boutique_in(&admin, &plain).await;
    let shop = analysis_by(
        &admin,
        &opted_in,
        "shop",
        json!({"scope": {"namespaces": [opted_in, plain]},
               "guardrails": {"chaosMeshNamespaceFilter": true}}),
    )
    .await;
    create_as(&admin, &shop).await.expect("the analysis");
    let operator = start_operator(&opted_in, "tenancy-filter").await;
    let analyses: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &opted_in);
    let status = eventually("the analysis to be Ready", Duration::from_secs(60), || {
        let analyses = analyses.clone();
        async move {
            let status = analyses.get("shop").await.ok()?.status?;
            (status.phase == Some(AnalysisPhase::Ready)).then_some(status)
        }
    })
    .await;
    operator.stop().await;

    let proposals = Api::<ExperimentProposal>::namespaced(admin.clone(), &opted_in)
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}=shop")))
        .await
        .unwrap()
        .items;
    assert!(
        !proposals.is_empty(),
        "nothing proposed in the opted-in namespace"
    );
    assert!(
        proposals
            .iter()
            .all(|p| p.spec.target.starts_with(&format!("{opted_in}/"))),
        "{:?}",
        proposals.iter().map(|p| &p.spec.target).collect::<Vec<_>>()
    );
    eprintln!("excluded: {:?}", status.excluded_namespaces);
    assert_eq!(status.excluded_namespaces.len(), 1);
    assert_eq!(status.excluded_namespaces[0].namespace, plain);
    assert!(
        status.excluded_namespaces[0]
            .reason
            .contains("lacks the annotation chaos-mesh.org/inject=enabled"),
        "{}",
        status.excluded_namespaces[0].reason
    );
}
