//! The operator end to end on the real kube-apiserver: Online Boutique applied to a namespace, a
//! ChaosAnalysis scoped to it, and the operator (running as its service account, under the
//! shipped RBAC and admission policy) writing status and Pending proposals that match the offline
//! CLI's counts; restarts and re-analyses never duplicate a proposal or lose an approval;
//! invalid analyses end in a condition a person can act on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

#[path = "support/fake_llm.rs"]
mod fake_llm;
mod operator_support;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use operator_support::{
    admin_with_operator_manifests, analysis, decided, eventually, lease_name, start_operator,
    start_operator_polling, start_operator_with,
};
use smart_chaos::analysis::{self, AnalysisConfig};
use smart_chaos::api::{
    ANALYSIS_LABEL, AnalysisPhase, ApprovalState, ChaosAnalysis, ChaosAnalysisStatus,
    ExperimentProposal, Guardrails,
};
use smart_chaos::servicemap;
use smart_chaos::snapshot::{self, ReadOptions};
use support::User;
use tokio::sync::Notify;

/// The proposal names the offline CLI plans for Online Boutique (as applied by [`boutique`])
/// under `guardrails`.
fn offline_proposal_names(ns: &str, guardrails: &Guardrails) -> BTreeSet<String> {
    let file = std::env::temp_dir()
        .join(format!("smart-chaos-op-{ns}"))
        .join("manifests.yaml");
    let outcome = snapshot::read_paths(&[file], &ReadOptions::default()).unwrap();
    let map = servicemap::build(&outcome.snapshot);
    let config = AnalysisConfig::from_guardrails(guardrails, Some("smart-chaos-system")).unwrap();
    let offline = analysis::analyze_builtin(&map, &config).unwrap();
    analysis::build_proposals(&offline, "boutique")
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

/// A client for `user` whose `n`th proposal write is never sent and never answers: an operator
/// using it is stuck in the middle of writing its proposals, with `n - 1` written, until the test
/// kills it. `stalled` is notified when that write is reached.
async fn client_stalling_proposal_write(user: User, n: usize) -> (Client, Arc<Notify>) {
    let stalled = Arc::new(Notify::new());
    let layer = StallLayer {
        writes: Arc::new(AtomicUsize::new(0)),
        stall_at: n,
        stalled: stalled.clone(),
    };
    let config = support::server().config(user).await;
    let client = kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&layer)
        .build();
    (client, stalled)
}

#[derive(Clone)]
struct StallLayer {
    writes: Arc<AtomicUsize>,
    stall_at: usize,
    stalled: Arc<Notify>,
}

impl<S> tower::Layer<S> for StallLayer {
    type Service = Stall<S>;
    fn layer(&self, inner: S) -> Stall<S> {
        Stall {
            inner,
            gate: self.clone(),
        }
    }
}

struct Stall<S> {
    inner: S,
    gate: StallLayer,
}

type Request = hyper::Request<kube::client::Body>;

impl<S> tower::Service<Request> for Stall<S>
where
    S: tower::Service<Request>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.uri().path();
        let proposal_write = request.method() == hyper::Method::PATCH
            && path.contains("/experimentproposals/")
            && !path.ends_with("/status");
        if proposal_write
            && self.gate.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.gate.stall_at
        {
            self.gate.stalled.notify_one();
            return Box::pin(std::future::pending());
        }
        Box::pin(self.inner.call(request))
    }
}

async fn lease_holder(admin: &Client, ns: &str) -> Option<String> {
    Api::<Lease>::namespaced(admin.clone(), "smart-chaos-system")
        .get_opt(&lease_name(ns))
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

fn names(proposals: &[ExperimentProposal]) -> BTreeSet<String> {
    proposals
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

/// Online Boutique applied to a fresh namespace; returns (namespace, offline result summary).
async fn boutique(admin: &Client) -> (String, smart_chaos::api::AnalysisSummary, usize) {
    let ns = support::test_namespace(admin, "op-boutique").await;
    let docs =
        support::manifests_in_namespace(&support::shared_dir().join("corpus/online-boutique"), &ns);
    let dir = std::env::temp_dir().join(format!("smart-chaos-op-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("manifests.yaml");
    support::write_yaml_docs(&file, &docs);
    support::apply_manifests(admin, &docs).await;
    let outcome = snapshot::read_paths(&[file], &ReadOptions::default()).unwrap();
    let map = servicemap::build(&outcome.snapshot);
    let config =
        AnalysisConfig::from_guardrails(&Guardrails::default(), Some("smart-chaos-system"))
            .unwrap();
    let offline = analysis::analyze_builtin(&map, &config).unwrap();
    (ns, offline.summary.clone(), offline.planned.len())
}

async fn wait_ready(api: &Api<ChaosAnalysis>, name: &str, generation: i64) -> ChaosAnalysisStatus {
    eventually("the analysis to be Ready", Duration::from_secs(60), || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let status = api.get(&name).await.ok()?.status?;
            (status.phase == Some(AnalysisPhase::Ready)
                && status.observed_generation == Some(generation))
            .then_some(status)
        }
    })
    .await
}

async fn proposals(admin: &Client, ns: &str, name: &str) -> Vec<ExperimentProposal> {
    Api::<ExperimentProposal>::namespaced(admin.clone(), ns)
        .list(&ListParams::default().labels(&format!("{ANALYSIS_LABEL}={name}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn online_boutique_reaches_ready_with_the_offline_counts_and_pending_proposals() {
    let admin = admin_with_operator_manifests().await;
    let (ns, offline, planned) = boutique(&admin).await;
    let operator = start_operator(&ns, "e2e-a").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    let started = Instant::now();
    let created = api
        .create(
            &PostParams::default(),
            &analysis(
                &ns,
                "boutique",
                serde_json::json!({"scope": {"namespaces": [ns]}}),
            ),
        )
        .await
        .unwrap();
    let status = wait_ready(&api, "boutique", 1).await;
    println!(
        "apply to Ready for Online Boutique (built-in engine): {:?}",
        started.elapsed()
    );
    let summary = status.summary.clone().unwrap();
    assert_eq!(summary.services, offline.services);
    assert_eq!(summary.workloads, offline.workloads);
    assert_eq!(summary.edges, offline.edges);
    assert_eq!(summary.unresolved, offline.unresolved);
    assert_eq!(summary.findings, offline.findings);
    assert_eq!(summary.hypotheses, offline.hypotheses);
    assert_eq!(summary.proposals, i64::try_from(planned).unwrap());
    for condition in ["Ready", "ServiceMapBuilt", "Analyzed"] {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == condition)
            .unwrap();
        assert_eq!(c.status, "True", "{condition}: {c:?}");
    }
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(degraded.status, "False");
    assert!(status.map_hash.is_some() && !status.hypotheses.is_empty());
    // The resilience score: in status (the printer column's field), one history point for the one
    // run, the losses that explain it and the remediations, which nobody applied.
    let score = status.score.expect("a resilience score in status");
    assert!((0..100).contains(&score), "{score}");
    assert_eq!(status.score_history.len(), 1);
    assert_eq!(status.score_history[0].score, score);
    assert!(!status.score_losses.is_empty() && !status.remediations.is_empty());
    assert!(
        status
            .score_losses
            .iter()
            .all(|l| l.points > 0.0 && !l.win_back.is_empty())
    );

    let items = proposals(&admin, &ns, "boutique").await;
    assert_eq!(items.len(), planned, "one proposal per planned experiment");
    for p in &items {
        assert_eq!(
            p.approval_state(),
            ApprovalState::Pending,
            "{}",
            p.metadata.name.as_deref().unwrap_or("")
        );
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.uid, created.metadata.uid.clone().unwrap());
        assert_eq!(owner.controller, Some(true));
    }
    println!(
        "{} services, {} edges, {} hypotheses, {} proposals (offline CLI: the same)",
        summary.services,
        summary.edges,
        summary.hypotheses,
        items.len()
    );
    operator.stop().await;
}

#[tokio::test]
async fn restarts_and_reanalyses_never_duplicate_proposals_or_lose_an_approval() {
    const STALL_AT: usize = 5;
    let admin = admin_with_operator_manifests().await;
    let (ns, _offline, planned) = boutique(&admin).await;
    let plan = offline_proposal_names(&ns, &Guardrails::default());
    assert_eq!(plan.len(), planned);
    assert!(
        planned > STALL_AT,
        "the kill must land before the last write"
    );
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "boutique",
            serde_json::json!({"scope": {"namespaces": [ns]}}),
        ),
    )
    .await
    .unwrap();

    // Killed while it writes its proposals: its fifth write hangs, and the task is aborted there,
    // no graceful stop.
    let (client, stalled) = client_stalling_proposal_write(User::Operator, STALL_AT).await;
    let first = start_operator_with(client, &ns, "e2e-killed", Duration::from_secs(1)).await;
    tokio::time::timeout(Duration::from_secs(60), stalled.notified())
        .await
        .expect("the first operator reached its fifth proposal write");
    first.task.abort();
    let _ = first.task.await;
    let partial = proposals(&admin, &ns, "boutique").await;
    assert_eq!(
        partial.len(),
        STALL_AT - 1,
        "the kill landed mid-write: {:?}",
        names(&partial)
    );
    assert!(names(&partial).is_subset(&plan), "{:?}", names(&partial));
    let status = api.get("boutique").await.unwrap().status;
    assert_ne!(
        status.as_ref().and_then(|s| s.phase),
        Some(AnalysisPhase::Ready),
        "Ready before all proposals were written: {status:?}"
    );

    let second = start_operator(&ns, "e2e-restarted").await;
    wait_ready(&api, "boutique", 1).await;
    let items = proposals(&admin, &ns, "boutique").await;
    assert_eq!(items.len(), planned);
    assert_eq!(
        names(&items),
        plan,
        "the offline plan's proposals, no others"
    );

    // A person approves one proposal.
    let chosen = items[0].clone();
    let name = chosen.metadata.name.clone().unwrap();
    let proposals_api: Api<ExperimentProposal> = Api::namespaced(admin.clone(), &ns);
    let patch =
        serde_json::json!({"spec": {"approval": decided(ApprovalState::Approved, "admin")}});
    proposals_api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    // A restart: the new operator takes the Lease...
    let before_restart = api.get("boutique").await.unwrap();
    let analyzed_before = before_restart.status.unwrap().last_analyzed.unwrap();
    second.stop().await;
    let third = start_operator(&ns, "e2e-third").await;
    eventually(
        "the restarted operator to hold the Lease",
        Duration::from_secs(20),
        || {
            let admin = admin.clone();
            let ns = ns.clone();
            async move {
                (lease_holder(&admin, &ns).await.as_deref() == Some("e2e-third")).then_some(())
            }
        },
    )
    .await;
    // ...and, alone, re-analyses a new generation.
    let bump = serde_json::json!({"spec": {"guardrails": {"maxDuration": "4m"}}});
    api.patch("boutique", &PatchParams::default(), &Patch::Merge(&bump))
        .await
        .unwrap();
    let after_restart = wait_ready(&api, "boutique", 2).await;
    assert_ne!(
        after_restart.last_analyzed.as_ref(),
        Some(&analyzed_before),
        "the restarted operator did not analyse"
    );
    // Each analysis run adds a point to the score history.
    assert!(
        after_restart.score_history.len() >= 2,
        "{:?}",
        after_restart.score_history
    );
    assert_eq!(
        lease_holder(&admin, &ns).await.as_deref(),
        Some("e2e-third")
    );

    // Exactly the new plan's proposals, plus the approved one if the new plan dropped it.
    let mut expected = offline_proposal_names(
        &ns,
        &Guardrails {
            max_duration: "4m".into(),
            ..Guardrails::default()
        },
    );
    expected.insert(name.clone());
    let after = proposals(&admin, &ns, "boutique").await;
    assert_eq!(
        names(&after),
        expected,
        "proposals went missing or appeared"
    );
    assert_eq!(after.len(), expected.len());
    let approved = after
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
        .unwrap();
    assert_eq!(
        approved.approval_state(),
        ApprovalState::Approved,
        "the approval was lost"
    );
    assert_eq!(approved.spec.approval.approved_by.as_deref(), Some("admin"));
    assert_eq!(
        approved.spec.experiment, chosen.spec.experiment,
        "the approved experiment changed"
    );
    let pending_durations: Vec<Option<String>> = after
        .iter()
        .filter(|p| p.approval_state() == ApprovalState::Pending)
        .map(|p| {
            smart_chaos::chaosmesh::ChaosSpec::try_from(p.spec.experiment.clone())
                .unwrap()
                .duration()
                .map(str::to_string)
        })
        .collect();
    assert!(
        pending_durations
            .iter()
            .all(|d| d.as_deref().is_none_or(|d| d != "5m")),
        "pending proposals were not re-applied under the new guardrails: {pending_durations:?}"
    );
    third.stop().await;
}

#[tokio::test]
async fn invalid_analyses_end_in_an_actionable_condition() {
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "op-invalid").await;
    let operator = start_operator(&ns, "e2e-invalid").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        // allowedNamespaces must lie within the scope (the tenancy policy), so both name it.
        &analysis(&ns, "ghost", serde_json::json!({"scope": {"namespaces": [ns, "no-such-namespace"]}, "guardrails": {"allowedNamespaces": ["no-such-namespace"]}})),
    )
    .await
    .unwrap();
    let status = eventually("a Failed phase", Duration::from_secs(30), || {
        let api = api.clone();
        async move {
            api.get("ghost")
                .await
                .ok()?
                .status
                .filter(|s| s.phase == Some(AnalysisPhase::Failed))
        }
    })
    .await;
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(
        ready.message.contains("no-such-namespace"),
        "{}",
        ready.message
    );
    assert!(
        ready.message.contains("spec.guardrails.allowedNamespaces"),
        "{}",
        ready.message
    );

    // A model endpoint that refuses connections: the analysis still completes with the built-in
    // results, and Degraded names the stages that fell back.
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "llm-down",
            serde_json::json!({"scope": {"namespaces": [ns]},
            "provider": {"name": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1"}}),
        ),
    )
    .await
    .unwrap();
    let status = wait_ready(&api, "llm-down", 1).await;
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(degraded.status, "True", "{degraded:?}");
    assert_eq!(degraded.reason, "StagesFellBack", "{degraded:?}");
    assert!(
        degraded.message.contains("built-in results stand"),
        "{}",
        degraded.message
    );

    // Credentials in a Secret the operator may not read (the shipped RBAC grants no Secrets):
    // refused by the API server, reported, and the built-in results stand.
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "llm-secret",
            serde_json::json!({"scope": {"namespaces": [ns]},
            "provider": {"name": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1",
                         "credentialsSecretRef": {"name": "openai", "key": "token"}}}),
        ),
    )
    .await
    .unwrap();
    let status = wait_ready(&api, "llm-secret", 1).await;
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(degraded.reason, "ProviderNotAvailable", "{degraded:?}");
    assert!(
        degraded.message.contains("cannot read Secret"),
        "{}",
        degraded.message
    );
    assert!(
        degraded.message.contains("forbidden"),
        "{}",
        degraded.message
    );
    operator.stop().await;
}

#[tokio::test]
async fn a_change_in_the_scope_triggers_reanalysis_through_the_watches() {
    use k8s_openapi::api::apps::v1::Deployment;
    let admin = admin_with_operator_manifests().await;
    let (ns, offline, _) = boutique(&admin).await;
    // Polling is off for the length of the test: only the watches can notice the change.
    let operator = start_operator_polling(&ns, "e2e-watch", Duration::from_secs(3600)).await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "boutique",
            serde_json::json!({"scope": {"namespaces": [ns]}}),
        ),
    )
    .await
    .unwrap();
    let before = wait_ready(&api, "boutique", 1).await;
    assert_eq!(before.summary.as_ref().unwrap().edges, offline.edges);

    // adservice starts calling the cart: a new edge in the map.
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "server", "env": [{"name": "CART_SERVICE_ADDR", "value": "cartservice:7070"}]}
    ]}}}});
    deployments
        .patch(
            "adservice",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let after = eventually(
        "a re-analysis with the new edge",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            let old_hash = before.map_hash.clone();
            async move {
                let status = api.get("boutique").await.ok()?.status?;
                (status.map_hash != old_hash && status.phase == Some(AnalysisPhase::Ready))
                    .then_some(status)
            }
        },
    )
    .await;
    println!("map change to re-analysis: {:?}", started.elapsed());
    assert_eq!(after.summary.unwrap().edges, offline.edges + 1);
    operator.stop().await;
}

/// Bedrock credentials from the Secret the analysis names: the fake Converse server answers only
/// requests signed with exactly that access key, and every request it received was.
#[tokio::test]
async fn bedrock_calls_are_signed_with_the_credentials_of_the_named_secret() {
    use fake_llm::{FakeLlmServer, Step, WireFormat};
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
    use kube::api::ObjectMeta;

    const ACCESS_KEY: &str = "AKIDFROMTHESECRET";
    const SECRET_NAME: &str = "bedrock-credentials";
    let admin = admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "op-bedrock").await;
    operator_support::deployment(&admin, &ns, "web", 3).await;

    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.into()),
            ..ObjectMeta::default()
        },
        string_data: Some(
            [
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", "secret-from-the-secret"),
                ("AWS_SESSION_TOKEN", "session-from-the-secret"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    // What the README tells users to do: let the operator get this one Secret, nothing more.
    let role = Role {
        metadata: ObjectMeta {
            name: Some("smart-chaos-credentials".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            resource_names: Some(vec![SECRET_NAME.into()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("smart-chaos-credentials".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "smart-chaos-credentials".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "smart-chaos".into(),
            namespace: Some("smart-chaos-system".into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let server = FakeLlmServer::start(WireFormat::BedrockConverse, vec![])
        .await
        .unwrap();
    server.require_access_key(ACCESS_KEY);
    for stage in [
        "discovery",
        "dependencies",
        "steadyState",
        "hypotheses",
        "experiments",
        "blastRadius",
        "rumsfeld",
    ] {
        server.always_for(stage, Step::answer("{}"));
    }

    let operator = start_operator(&ns, "e2e-bedrock").await;
    let api: Api<ChaosAnalysis> = Api::namespaced(admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        &analysis(
            &ns,
            "bedrock",
            serde_json::json!({"scope": {"namespaces": [ns]},
            "provider": {"name": "bedrock", "model": "anthropic.claude-haiku-4-5-20251001-v1:0",
                         "region": "us-east-1", "endpoint": server.url(),
                         "credentialsSecretRef": {"name": SECRET_NAME}}}),
        ),
    )
    .await
    .unwrap();
    let status = wait_ready(&api, "bedrock", 1).await;
    operator.stop().await;

    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(degraded.status, "False", "{degraded:?}");
    let requests = server.requests();
    assert!(
        requests.len() >= 7,
        "one call per stage: {}",
        requests.len()
    );
    for request in &requests {
        assert_eq!(
            request.signed_access_key().as_deref(),
            Some(ACCESS_KEY),
            "{:?}",
            request.header("authorization")
        );
        assert_eq!(
            request.header("x-amz-security-token"),
            Some("session-from-the-secret")
        );
        assert!(!request.everything().contains("secret-from-the-secret"));
    }
    let usage = status.usage.unwrap();
    assert!(usage.input_tokens > 0, "{usage:?}");
}
