//! Jaeger JSON, as the query API returns it (`{"data":[trace...]}`) and as the UI downloads one
//! trace (`{"traceID":...,"spans":[...],"processes":{...}}`). A span names its process by id;
//! processes carry the service name and process tags (`hostname` is the pod name in Kubernetes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::assemble::{Assembler, SpanKind, SpanRecord, parse_id, parse_span_id};
use super::{Attributes, is_http_server_error};

/// One trace: its spans and the processes they ran in.
#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Trace {
    #[serde(default)]
    pub spans: Vec<Span>,
    #[serde(default)]
    pub processes: BTreeMap<String, Process>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Microseconds since the epoch.
    #[serde(default, rename = "startTime")]
    pub start_time: u64,
    /// Microseconds.
    #[serde(default)]
    pub duration: u64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default, rename = "processID")]
    pub process_id: String,
    /// Some exports inline the process in each span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Tag {
    pub key: String,
    pub value: TagValue,
}

/// A tag's value: Jaeger types them (`string`, `bool`, `int64`, `float64`).
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum TagValue {
    Text(String),
    Flag(bool),
    Integer(i64),
    Float(f64),
}

impl Tag {
    /// A string tag (tests write them).
    pub fn text(key: &str, value: &str) -> Self {
        Tag {
            key: key.to_owned(),
            value: TagValue::Text(value.to_owned()),
        }
    }

    fn as_text(&self) -> Option<&str> {
        match &self.value {
            TagValue::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl Trace {
    /// Adds the trace's spans to `assembler` and resolves the trace: it is complete.
    pub fn ingest(self, assembler: &mut Assembler) {
        let mut trace_ids = Vec::new();
        for span in self.spans {
            let process = span
                .process
                .as_ref()
                .or_else(|| self.processes.get(&span.process_id));
            let mut resource = Attributes::from_pairs(
                process
                    .into_iter()
                    .flat_map(|p| &p.tags)
                    .filter_map(|tag| Some((tag.key.as_str(), tag.as_text()?))),
            );
            if let Some(process) = process {
                resource.set_service_name(&process.service_name);
            }
            let local = assembler.intern(resource.resource_hints());
            let tags = Attributes::from_pairs(
                span.tags
                    .iter()
                    .filter_map(|tag| Some((tag.key.as_str(), tag.as_text()?))),
            );
            let kind = tags
                .get("span.kind")
                .map_or(SpanKind::Internal, SpanKind::from_name);
            let flagged_error = span
                .tags
                .iter()
                .any(|tag| tag.key == "error" && matches!(tag.value, TagValue::Flag(true)));
            let http_status = span
                .tags
                .iter()
                .filter(|tag| {
                    tag.key == "http.status_code" || tag.key == "http.response.status_code"
                })
                .find_map(|tag| match &tag.value {
                    TagValue::Integer(code) => u64::try_from(*code).ok(),
                    TagValue::Text(code) => code.parse().ok(),
                    _ => None,
                });
            let peer = tags
                .peer_hints(assembler.namespace_of(local))
                .map(|hints| assembler.intern(hints));
            let parent_id = span
                .references
                .iter()
                .find(|r| r.ref_type == "CHILD_OF")
                .or_else(|| span.references.first())
                .and_then(|r| parse_span_id(&r.span_id));
            let trace_id = parse_id(&span.trace_id);
            if !trace_ids.contains(&trace_id) {
                trace_ids.push(trace_id);
            }
            assembler.add(
                trace_id,
                SpanRecord {
                    span_id: parse_span_id(&span.span_id).unwrap_or_default(),
                    parent_id,
                    kind,
                    local,
                    peer,
                    start_micros: span.start_time,
                    duration_micros: Some(span.duration),
                    failed: flagged_error
                        || tags.marks_error()
                        || is_http_server_error(http_status),
                    shared: false,
                },
            );
        }
        for trace_id in trace_ids {
            assembler.finish_trace(trace_id);
        }
    }
}
