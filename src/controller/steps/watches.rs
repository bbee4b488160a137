//! Step `watches`: what makes an analysis look at its scope again.

use kube::ResourceExt;
use kube::api::Api;
use kube::core::DeserializeGuard;

use crate::api::{ChaosAnalysis, ExperimentProposal};

/// Changes in the scoped objects coalesce for this long before an analysis looks again.
const SCOPE_DEBOUNCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Adds the triggers of re-analysis to the analyses controller: the proposals it owns, and every
/// change of an object kind the map reads most (workloads, Services, ConfigMaps), mapped to the
/// analyses whose scope holds the object's namespace. The reconciler then compares map hashes, so
/// a change that does not alter the map costs one read of the scope and no stage run. These
/// watches keep no cache: events are mapped and dropped.
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
        .owns(Api::<ExperimentProposal>::all(client.clone()), config())
        .watches(Api::<Deployment>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<StatefulSet>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<DaemonSet>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<Service>::all(client.clone()), config(), {
            let in_scope = in_scope.clone();
            move |o| in_scope(o.namespace())
        })
        .watches(Api::<ConfigMap>::all(client.clone()), config(), move |o| {
            in_scope(o.namespace())
        })
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
