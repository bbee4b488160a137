//! Our CRDs' short names are unique: no core, common or Chaos Mesh resource served by the real
//! API server uses them (`kubectl get ep` must keep listing Endpoints).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod support;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::discovery::Discovery;

/// cert-manager, Argo CD and Rollouts, Flux, Istio, the Prometheus operator, Knative, KEDA,
/// Gateway API, Velero, Crossplane, Tekton and Litmus.
const COMMON_SHORT_NAMES: &[&str] = &[
    "cert",
    "certs",
    "cr",
    "crs",
    "iss",
    "ciss",
    "app",
    "apps",
    "appproj",
    "appset",
    "ro",
    "hr",
    "ks",
    "gitrepo",
    "helmrepo",
    "vs",
    "dr",
    "gw",
    "se",
    "pa",
    "ra",
    "sidecar",
    "smon",
    "pmon",
    "prom",
    "am",
    "ksvc",
    "kroute",
    "so",
    "sj",
    "gtw",
    "httproute",
    "bsl",
    "xrd",
    "xr",
    "pr",
    "tr",
    "ce",
    "ceng",
    "cr",
    "chaosexp",
    "chaosresult",
];

#[tokio::test]
async fn our_short_names_collide_with_no_other_resource() {
    let client = support::admin().await;
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    // short name -> every resource (group/plural) that claims it
    let mut claims: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for group in discovery.groups() {
        let version = group.preferred_version_or_latest();
        for resource in resource_list(&client, group.name(), version)
            .await
            .resources
        {
            let plural = format!("{}/{}", group.name(), resource.name);
            for short in resource.short_names.unwrap_or_default() {
                claims.entry(short).or_default().push(plural.clone());
            }
        }
    }
    let ours = [
        "chaos.smartchaos.io/chaosanalyses",
        "chaos.smartchaos.io/experimentproposals",
    ];
    let mut checked = 0;
    for (short, owners) in &claims {
        if owners.iter().any(|o| ours.contains(&o.as_str())) {
            checked += 1;
            assert_eq!(
                owners.len(),
                1,
                "short name {short:?} is claimed by {owners:?}"
            );
        }
    }
    assert_eq!(checked, 3, "our CRDs declare three short names: {claims:?}");
    // Short names of widely installed CRDs that this test server does not serve.
    for short in ["ca", "chaosprop", "proposal"] {
        assert!(
            !COMMON_SHORT_NAMES.contains(&short),
            "{short:?} is a common resource's short name"
        );
    }
    // Endpoints keeps its own short name.
    assert_eq!(claims.get("ep"), Some(&vec!["/endpoints".to_owned()]));
}

/// The API server's discovery document of one group version.
async fn resource_list(client: &kube::Client, group: &str, version: &str) -> APIResourceList {
    let path = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let request = hyper::Request::get(path).body(Vec::new()).expect("request");
    client.request(request).await.expect("discovery document")
}
