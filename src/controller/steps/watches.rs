//! Step `watches`: what makes an analysis look at its scope again.

use kube::ResourceExt;
use kube::api::Api;
use kube::core::{DeserializeGuard, PartialObjectMeta};

use crate::api::{ChaosAnalysis, ExperimentProposal};

/// Changes in the scoped objects coalesce for this long before an analysis looks again.
const SCOPE_DEBOUNCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Adds the triggers of re-analysis to the analyses controller: the proposals it owns, and every
/// change of an object kind the map reads most (workloads, Services, ConfigMaps), mapped to the
/// analyses whose scope holds the object's namespace. The reconciler then compares map hashes, so
/// a change that does not alter the map costs one read of the scope and no stage run.
///
/// A trigger needs only a namespace or an owner reference, so these are metadata-only watches
/// (`PartialObjectMetadata`): the API server sends no spec or status, a list page costs a
/// fraction of the full objects, and events are mapped and dropped, with no cache kept.
pub fn watch_scopes(
    controller: kube::runtime::Controller<DeserializeGuard<ChaosAnalysis>>,
    client: &kube::Client,
) -> kube::runtime::Controller<DeserializeGuard<ChaosAnalysis>> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    use kube::runtime::{controller, watcher};

    let store = controller.store();
    let in_scope = move |namespace: Option<String>| analyses_in_scope(&store, namespace.as_deref());
    let config = || watcher::Config::default().any_semantic();
    controller
        .with_config(controller::Config::default().debounce(SCOPE_DEBOUNCE))
        .owns(metadata_of::<ExperimentProposal>(client), config())
        .watches(metadata_of::<Deployment>(client), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(metadata_of::<StatefulSet>(client), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(metadata_of::<DaemonSet>(client), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(metadata_of::<Service>(client), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(metadata_of::<ConfigMap>(client), config(), move |o| {
            in_scope(o.namespace())
        })
}

/// Every `K` in the cluster, as its metadata only: `Api<PartialObjectMeta<K>>` makes
/// metadata-only requests.
fn metadata_of<K>(client: &kube::Client) -> Api<PartialObjectMeta<K>>
where
    K: kube::Resource<DynamicType = ()>,
{
    Api::all(client.clone())
}

/// The analyses whose scope covers `namespace` (an analysis scoped by labels only covers all).
fn analyses_in_scope(
    store: &kube::runtime::reflector::Store<DeserializeGuard<ChaosAnalysis>>,
    namespace: Option<&str>,
) -> Vec<kube::runtime::reflector::ObjectRef<DeserializeGuard<ChaosAnalysis>>> {
    let Some(namespace) = namespace else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|guard| match &guard.0 {
            Ok(a) => {
                a.spec.scope.namespaces.is_empty()
                    || a.spec.scope.namespaces.iter().any(|n| n == namespace)
            }
            Err(_) => false,
        })
        .map(|guard| kube::runtime::reflector::ObjectRef::from_obj(guard.as_ref()))
        .collect()
}
