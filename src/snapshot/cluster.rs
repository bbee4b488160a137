//! Reading a live cluster into a [`Snapshot`]: the same kinds as the file reader, listed with
//! kube in pages, scoped by namespaces and a label selector. Secrets are never listed: the
//! snapshot has no Secret kind and no code path here asks for one.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use super::{DestinationRule, HttpRoute, KubeObject, Snapshot, VirtualService};

/// Objects per list request: small pages keep the apiserver's and our peak memory low.
const PAGE_SIZE: u32 = 250;

/// A kind the reader lists, as RBAC names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadKind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
}

impl ReadKind {
    /// `deployments.apps`, or `pods` for the core group: how `kubectl auth can-i` spells it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Every kind [`read`] lists, optional ones included. Whoever asks for an analysis must be allowed
/// to `list` each of them in the scope (admission and the operator's re-check both use this
/// table), so what the operator reads for them is never more than they could read themselves.
/// A test below keeps it in step with `read`.
pub const READ_KINDS: [ReadKind; 16] = [
    ReadKind {
        group: "apps",
        resource: "deployments",
    },
    ReadKind {
        group: "apps",
        resource: "statefulsets",
    },
    ReadKind {
        group: "apps",
        resource: "daemonsets",
    },
    ReadKind {
        group: "batch",
        resource: "jobs",
    },
    ReadKind {
        group: "batch",
        resource: "cronjobs",
    },
    ReadKind {
        group: "",
        resource: "pods",
    },
    ReadKind {
        group: "",
        resource: "services",
    },
    ReadKind {
        group: "discovery.k8s.io",
        resource: "endpointslices",
    },
    ReadKind {
        group: "networking.k8s.io",
        resource: "ingresses",
    },
    ReadKind {
        group: "",
        resource: "configmaps",
    },
    ReadKind {
        group: "networking.k8s.io",
        resource: "networkpolicies",
    },
    ReadKind {
        group: "autoscaling",
        resource: "horizontalpodautoscalers",
    },
    ReadKind {
        group: "policy",
        resource: "poddisruptionbudgets",
    },
    ReadKind {
        group: "networking.istio.io",
        resource: "virtualservices",
    },
    ReadKind {
        group: "networking.istio.io",
        resource: "destinationrules",
    },
    ReadKind {
        group: "gateway.networking.k8s.io",
        resource: "httproutes",
    },
];

/// Which part of the cluster to read.
#[derive(Clone, Debug, Default)]
pub struct ClusterScope {
    /// Namespaces to read; empty means every namespace.
    pub namespaces: Vec<String>,
    /// A label selector in the API's string form (`app=web,tier!=db`).
    pub label_selector: Option<String>,
}

/// A failure to read the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterReadError {
    #[error("listing {kind} in {scope}: {source}")]
    List {
        kind: &'static str,
        scope: String,
        #[source]
        source: kube::Error,
    },
    #[error("decoding a {kind} from the cluster: {source}")]
    Decode {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads the scope into a snapshot. Optional kinds (Istio, Gateway API) are skipped when their
/// CRDs are not installed; a namespace that does not exist simply has no objects.
pub async fn read(client: &Client, scope: &ClusterScope) -> Result<Snapshot, ClusterReadError> {
    // Each page is pruned into the snapshot as it arrives, so at most one page of full objects is
    // in memory at a time (full objects cost kilobytes each; records a fraction of that).
    let mut snapshot = Snapshot::default();
    let namespaces: Vec<Option<&str>> = if scope.namespaces.is_empty() {
        vec![None]
    } else {
        scope
            .namespaces
            .iter()
            .map(|ns| Some(ns.as_str()))
            .collect()
    };
    for ns in namespaces {
        let reader = Reader {
            client,
            namespace: ns,
            selector: scope.label_selector.as_deref(),
        };
        reader
            .typed::<Deployment>("Deployment", &mut snapshot)
            .await?;
        reader
            .typed::<StatefulSet>("StatefulSet", &mut snapshot)
            .await?;
        reader
            .typed::<DaemonSet>("DaemonSet", &mut snapshot)
            .await?;
        reader.typed::<Job>("Job", &mut snapshot).await?;
        reader.typed::<CronJob>("CronJob", &mut snapshot).await?;
        reader.typed::<Pod>("Pod", &mut snapshot).await?;
        reader.typed::<Service>("Service", &mut snapshot).await?;
        reader
            .typed::<EndpointSlice>("EndpointSlice", &mut snapshot)
            .await?;
        reader.typed::<Ingress>("Ingress", &mut snapshot).await?;
        reader
            .typed::<ConfigMap>("ConfigMap", &mut snapshot)
            .await?;
        reader
            .typed::<NetworkPolicy>("NetworkPolicy", &mut snapshot)
            .await?;
        reader
            .typed::<HorizontalPodAutoscaler>("HorizontalPodAutoscaler", &mut snapshot)
            .await?;
        reader
            .typed::<PodDisruptionBudget>("PodDisruptionBudget", &mut snapshot)
            .await?;
        reader
            .optional::<VirtualService>(
                (
                    "networking.istio.io",
                    "v1",
                    "VirtualService",
                    "virtualservices",
                ),
                &mut snapshot,
            )
            .await?;
        reader
            .optional::<DestinationRule>(
                (
                    "networking.istio.io",
                    "v1",
                    "DestinationRule",
                    "destinationrules",
                ),
                &mut snapshot,
            )
            .await?;
        reader
            .optional::<HttpRoute>(
                ("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
                &mut snapshot,
            )
            .await?;
    }
    snapshot.normalize();
    Ok(snapshot)
}

struct Reader<'a> {
    client: &'a Client,
    namespace: Option<&'a str>,
    selector: Option<&'a str>,
}

impl Reader<'_> {
    fn scope(&self) -> String {
        self.namespace.map_or_else(
            || "all namespaces".to_string(),
            |ns| format!("namespace {ns}"),
        )
    }

    fn params(&self, continue_token: Option<String>) -> ListParams {
        let mut params = ListParams::default().limit(PAGE_SIZE);
        if let Some(selector) = self.selector {
            params = params.labels(selector);
        }
        if let Some(token) = continue_token {
            params = params.continue_token(&token);
        }
        params
    }

    async fn typed<K>(&self, kind: &'static str, out: &mut Snapshot) -> Result<(), ClusterReadError>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug
            + Into<KubeObject>,
    {
        let api: Api<K> = match self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let mut continue_token = None;
        loop {
            let page = api
                .list(&self.params(continue_token))
                .await
                .map_err(|source| ClusterReadError::List {
                    kind,
                    scope: self.scope(),
                    source,
                })?;
            for item in page.items {
                // Every listed object has its namespace set, so the default is never used.
                out.add(item, super::DEFAULT_NAMESPACE);
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => continue_token = Some(token),
                _ => return Ok(()),
            }
        }
    }

    /// Lists a kind whose CRD may be absent (Istio, Gateway API): a 404 means "not installed".
    async fn optional<K>(
        &self,
        (group, version, kind, plural): (&str, &str, &'static str, &str),
        out: &mut Snapshot,
    ) -> Result<(), ClusterReadError>
    where
        K: DeserializeOwned + Into<KubeObject>,
    {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = match self.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let mut continue_token = None;
        loop {
            let page = match api.list(&self.params(continue_token)).await {
                Ok(page) => page,
                Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
                Err(source) => {
                    return Err(ClusterReadError::List {
                        kind,
                        scope: self.scope(),
                        source,
                    });
                }
            };
            for item in page.items {
                let value = serde_json::to_value(&item)
                    .and_then(serde_json::from_value::<K>)
                    .map_err(|source| ClusterReadError::Decode { kind, source })?;
                out.add(value, super::DEFAULT_NAMESPACE);
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => continue_token = Some(token),
                _ => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed<K: Resource<DynamicType = ()>>() -> ReadKind {
        ReadKind {
            group: Box::leak(K::group(&()).into_owned().into_boxed_str()),
            resource: Box::leak(K::plural(&()).into_owned().into_boxed_str()),
        }
    }

    #[test]
    fn read_kinds_are_the_kinds_read_lists() {
        let listed = [
            typed::<Deployment>(),
            typed::<StatefulSet>(),
            typed::<DaemonSet>(),
            typed::<Job>(),
            typed::<CronJob>(),
            typed::<Pod>(),
            typed::<Service>(),
            typed::<EndpointSlice>(),
            typed::<Ingress>(),
            typed::<ConfigMap>(),
            typed::<NetworkPolicy>(),
            typed::<HorizontalPodAutoscaler>(),
            typed::<PodDisruptionBudget>(),
            ReadKind {
                group: "networking.istio.io",
                resource: "virtualservices",
            },
            ReadKind {
                group: "networking.istio.io",
                resource: "destinationrules",
            },
            ReadKind {
                group: "gateway.networking.k8s.io",
                resource: "httproutes",
            },
        ];
        assert_eq!(listed, READ_KINDS);
        assert_eq!(READ_KINDS[0].qualified(), "deployments.apps");
        assert_eq!(READ_KINDS[5].qualified(), "pods");
    }
}
