//! Typed views of the custom resources the map reads: Istio VirtualService and DestinationRule,
//! and Gateway API HTTPRoute. Only the fields the map reads are declared; serde ignores the rest,
//! and any API version of these kinds reads the same.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// Istio `networking.istio.io` VirtualService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualService {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: VirtualServiceSpec,
}

/// The fields of a VirtualService spec the map reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub gateways: Vec<String>,
    #[serde(default)]
    pub http: Vec<IstioHttpRoute>,
    #[serde(default)]
    pub tcp: Vec<IstioL4Route>,
    #[serde(default)]
    pub tls: Vec<IstioL4Route>,
}

/// An HTTP route of a VirtualService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioHttpRoute {
    #[serde(default)]
    pub route: Vec<IstioRouteDestination>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retries: Option<IstioRetries>,
}

/// Retry settings of an HTTP route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioRetries {
    #[serde(default)]
    pub attempts: Option<i32>,
}

/// A TCP or TLS route of a VirtualService.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioL4Route {
    #[serde(default)]
    pub route: Vec<IstioRouteDestination>,
}

/// A weighted destination.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioRouteDestination {
    pub destination: IstioDestination,
    #[serde(default)]
    pub weight: Option<i32>,
}

/// Where a route sends traffic.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestination {
    pub host: String,
    #[serde(default)]
    pub subset: Option<String>,
    #[serde(default)]
    pub port: Option<IstioPortSelector>,
}

/// A destination port.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioPortSelector {
    #[serde(default)]
    pub number: Option<i32>,
}

/// Istio `networking.istio.io` DestinationRule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRule {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DestinationRuleSpec,
}

/// The fields of a DestinationRule spec the map reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub subsets: Vec<IstioSubset>,
    #[serde(default)]
    pub traffic_policy: Option<IstioTrafficPolicy>,
}

/// A named subset.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioSubset {
    pub name: String,
}

/// Which traffic policies are set; their content does not matter to the map.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficPolicy {
    #[serde(default)]
    pub outlier_detection: Option<Configured>,
    #[serde(default)]
    pub connection_pool: Option<Configured>,
}

/// Gateway API `gateway.networking.k8s.io` HTTPRoute.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: HttpRouteSpec,
}

/// The fields of an HTTPRoute spec the map reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    #[serde(default)]
    pub parent_refs: Vec<GatewayParentRef>,
    #[serde(default)]
    pub hostnames: Vec<String>,
    #[serde(default)]
    pub rules: Vec<HttpRouteRule>,
}

/// A parent (usually a Gateway).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayParentRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// One rule: matches and backends.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRule {
    #[serde(default)]
    pub matches: Vec<HttpRouteMatch>,
    #[serde(default)]
    pub backend_refs: Vec<HttpBackendRef>,
}

/// A request match; only the path is read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteMatch {
    #[serde(default)]
    pub path: Option<HttpPathMatch>,
}

/// A path match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpPathMatch {
    #[serde(default)]
    pub value: Option<String>,
}

/// A backend reference (a Service unless `kind` says otherwise).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpBackendRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub port: Option<i32>,
}

/// A setting whose presence matters but whose content does not: reading ignores the content,
/// writing gives an empty mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Configured;

impl<'de> Deserialize<'de> for Configured {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Configured)
    }
}

impl Serialize for Configured {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        serializer.serialize_map(Some(0))?.end()
    }
}
