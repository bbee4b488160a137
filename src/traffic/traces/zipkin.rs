//! Zipkin v2 JSON: an array of spans (`/api/v2/trace/{id}`), or an array of such arrays
//! (`/api/v2/traces`). A span carries its service (`localEndpoint`) and, for client spans, the
//! service it called (`remoteEndpoint`). With `shared`, a server span reuses its client's id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::assemble::{Assembler, SpanKind, SpanRecord, parse_id, parse_span_id};
use super::{Attributes, is_http_server_error};

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub trace_id: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// CLIENT, SERVER, PRODUCER or CONSUMER; absent for local spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Microseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// Microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_endpoint: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_endpoint: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

impl Span {
    /// Adds the span to `assembler`.
    pub fn ingest(self, assembler: &mut Assembler) {
        // Tags hold both resource (k8s.*) and span attributes in Zipkin.
        let mut attributes =
            Attributes::from_pairs(self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Some(name) = self.local_endpoint.and_then(|e| e.service_name) {
            attributes.set_service_name(&name);
        }
        let local = assembler.intern(attributes.resource_hints());
        let kind = self
            .kind
            .as_deref()
            .map_or(SpanKind::Internal, SpanKind::from_name);
        if let Some(remote) = self.remote_endpoint.and_then(|e| e.service_name) {
            attributes.set_peer_service(&remote);
        }
        let peer = attributes
            .peer_hints(assembler.namespace_of(local))
            .map(|hints| assembler.intern(hints));
        let http_status = attributes
            .get("http.status_code")
            .or_else(|| attributes.get("http.response.status_code"))
            .and_then(|code| code.parse().ok());
        let failed = self.tags.contains_key("error") || is_http_server_error(http_status);
        assembler.add(
            parse_id(&self.trace_id),
            SpanRecord {
                span_id: parse_span_id(&self.id).unwrap_or_default(),
                parent_id: self.parent_id.as_deref().and_then(parse_span_id),
                kind,
                local,
                peer,
                start_micros: self.timestamp.unwrap_or_default(),
                duration_micros: self.duration,
                failed,
                shared: self.shared,
            },
        );
    }
}
