//! The live-cluster path gives the same map as the files path: each corpus app is applied to the
//! real kube-apiserver, read back with the cluster reader, and compared with the same manifests
//! read from files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod operator_support;
mod support;

use smart_chaos::servicemap;
use smart_chaos::snapshot::cluster::{self, ClusterScope};
use smart_chaos::snapshot::{self, ReadOptions};

async fn compare(app: &str) {
    let client = support::admin().await;
    let ns = support::test_namespace(&client, &format!("live-{app}")).await;
    let docs =
        support::manifests_in_namespace(&support::shared_dir().join("corpus").join(app), &ns);
    let dir = std::env::temp_dir().join(format!("smart-chaos-live-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("manifests.yaml");
    support::write_yaml_docs(&file, &docs);

    let from_files = snapshot::read_paths(&[file], &ReadOptions::default()).expect("reading files");
    assert!(from_files.warnings.is_empty(), "{:?}", from_files.warnings);
    let files_map = servicemap::build(&from_files.snapshot);

    support::apply_manifests(&client, &docs).await;
    let scope = ClusterScope {
        namespaces: vec![ns.clone()],
        label_selector: None,
    };
    let live = cluster::read(&client, &scope)
        .await
        .expect("reading the cluster");
    let live_map = servicemap::build(&live);

    println!(
        "{app}: files {} nodes / {} edges, live {} nodes / {} edges",
        files_map.nodes.len(),
        files_map.edges.len(),
        live_map.nodes.len(),
        live_map.edges.len()
    );
    assert!(!files_map.edges.is_empty(), "{app}: the map has no edges");
    assert_eq!(
        files_map.to_json().unwrap(),
        live_map.to_json().unwrap(),
        "{app}: maps differ"
    );
    assert_eq!(
        files_map.content_hash().unwrap(),
        live_map.content_hash().unwrap()
    );

    // The CLI without -f reads the current kube context the same way.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["map", "-n", &ns])
        .env(
            "KUBECONFIG",
            support::server().kubeconfig_path(support::User::Admin),
        )
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(
        String::from_utf8(cli.stdout).unwrap(),
        files_map.to_json().unwrap(),
        "{app}: `smart-chaos map -n` differs"
    );
}

#[tokio::test]
async fn online_boutique_live_equals_files() {
    compare("online-boutique").await;
}

#[tokio::test]
async fn sock_shop_live_equals_files() {
    compare("sock-shop").await;
}

#[tokio::test]
async fn bookinfo_live_equals_files() {
    compare("bookinfo").await;
}

#[tokio::test]
async fn the_reader_never_lists_secrets_and_respects_the_label_selector() {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::api::{Api, ListParams, PostParams};
    // The operator's service account under the shipped RBAC: it may read the map's kinds
    // everywhere and has no rights on Secrets.
    let admin = operator_support::admin_with_operator_manifests().await;
    let ns = support::test_namespace(&admin, "live-scope").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let mut secret = Secret::default();
    secret.metadata.name = Some("db".into());
    secret.string_data = Some([("password".to_string(), "canary-1234".to_string())].into());
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);
    for (name, team) in [("ours", "search"), ("theirs", "ads")] {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.labels = Some([("team".to_string(), team.to_string())].into());
        maps.create(&PostParams::default(), &cm).await.unwrap();
    }
    let (reader, log) = support::server()
        .recording_client(support::User::Operator)
        .await;
    let denied = Api::<Secret>::namespaced(reader.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect_err("the reader's role has no Secret rights");
    assert!(
        matches!(&denied, kube::Error::Api(s) if s.code == 403),
        "{denied}"
    );
    let before_read = log.requests().len();

    let scope = ClusterScope {
        namespaces: vec![ns.clone()],
        label_selector: Some("team=search".into()),
    };
    let snap = cluster::read(&reader, &scope).await.unwrap();
    let names: Vec<&str> = snap.config_maps.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["ours"]);

    // Every request the reader sent, errors or not: the map's kinds, and never a Secret.
    let requests = log.requests().split_off(before_read);
    assert!(
        requests
            .iter()
            .any(|r| r == &format!("GET /api/v1/namespaces/{ns}/configmaps")),
        "{requests:#?}"
    );
    let touching_secrets: Vec<&String> =
        requests.iter().filter(|r| r.contains("secrets")).collect();
    assert!(
        touching_secrets.is_empty(),
        "the reader asked for Secrets: {touching_secrets:?}"
    );
}
