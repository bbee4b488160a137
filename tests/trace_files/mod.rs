//! Writing trace files for tests, in the three formats smart-chaos reads, from a description of
//! an application's calls as its team would know them. Every file is built from the crate's typed
//! wire structs and serde, never from strings.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use smart_chaos::traffic::traces::{jaeger, otlp, zipkin};

/// How a call shows in traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The caller's client span and the callee's server span (both instrumented).
    Paired,
    /// Only the caller's client span, with `peer.service` naming the callee.
    PeerService,
    /// Only the caller's client span, with `server.address` (a database or broker client).
    ServerAddress,
}

/// One kind of call an application makes.
#[derive(Clone, Debug)]
pub struct Call {
    pub caller: &'static str,
    pub callee: &'static str,
    pub shape: Shape,
}

pub const fn call(caller: &'static str, callee: &'static str, shape: Shape) -> Call {
    Call {
        caller,
        callee,
        shape,
    }
}

/// A span of the generated traces, format-neutral.
#[derive(Clone, Debug)]
pub struct TestSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: Option<String>,
    pub service: String,
    pub kind: Kind,
    pub peer_service: Option<String>,
    pub server_address: Option<String>,
    pub start_micros: u64,
    pub duration_micros: u64,
    pub failed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Server,
    Client,
}

/// What the resource of a service says about it.
pub struct Deployment<'a> {
    pub namespace: &'a str,
    /// Pod names get a ReplicaSet hash and suffix; the workload name is also given on every
    /// other resource (as the k8sattributes processor does when it can).
    pub with_workload_name: bool,
}

/// `repeats` traces per call of `calls`: each call in its own trace, starting with a server
/// span of the caller (the request that made it call), one call in 20 failing.
pub fn generate(calls: &[Call], repeats: usize) -> Vec<Vec<TestSpan>> {
    let mut traces = Vec::new();
    let mut clock = 1_700_000_000_000_000u64;
    let mut next_id = 1u64;
    let mut id = || {
        next_id += 1;
        format!("{next_id:016x}")
    };
    for round in 0..repeats {
        for call in calls {
            clock += 10_000;
            let root = id();
            let trace_id = format!("{:032x}{root}", round);
            let client = id();
            let failed = round % 20 == 7;
            let mut spans = vec![
                TestSpan {
                    trace_id: trace_id.clone(),
                    span_id: root.clone(),
                    parent_id: None,
                    service: call.caller.to_owned(),
                    kind: Kind::Server,
                    peer_service: None,
                    server_address: None,
                    start_micros: clock,
                    duration_micros: 9_000,
                    failed: false,
                },
                TestSpan {
                    trace_id: trace_id.clone(),
                    span_id: client.clone(),
                    parent_id: Some(root),
                    service: call.caller.to_owned(),
                    kind: Kind::Client,
                    peer_service: (call.shape == Shape::PeerService)
                        .then(|| call.callee.to_owned()),
                    server_address: (call.shape == Shape::ServerAddress)
                        .then(|| call.callee.to_owned()),
                    start_micros: clock + 500,
                    duration_micros: 2_000 + (round as u64 % 10) * 300,
                    failed,
                },
            ];
            if call.shape == Shape::Paired {
                spans.push(TestSpan {
                    trace_id,
                    span_id: id(),
                    parent_id: Some(client),
                    service: call.callee.to_owned(),
                    kind: Kind::Server,
                    peer_service: None,
                    server_address: None,
                    start_micros: clock + 700,
                    duration_micros: 1_500,
                    failed,
                });
            }
            traces.push(spans);
        }
    }
    traces
}

/// A pod name of `service`: `<service>-<hash>-<suffix>`.
fn pod_name(service: &str) -> String {
    format!("{service}-7d9f8b6c5d-x2x9k")
}

fn otlp_resource(service: &str, deployment: &Deployment<'_>) -> otlp::Resource {
    let mut attributes = vec![
        otlp::KeyValue::text("service.name", service),
        otlp::KeyValue::text("k8s.namespace.name", deployment.namespace),
        otlp::KeyValue::text("k8s.pod.name", &pod_name(service)),
    ];
    if deployment.with_workload_name {
        attributes.push(otlp::KeyValue::text("k8s.deployment.name", service));
    }
    otlp::Resource { attributes }
}

fn otlp_span(span: &TestSpan) -> otlp::Span {
    let mut attributes = Vec::new();
    if let Some(peer) = &span.peer_service {
        attributes.push(otlp::KeyValue::text("peer.service", peer));
    }
    if let Some(address) = &span.server_address {
        attributes.push(otlp::KeyValue::text("server.address", address));
    }
    otlp::Span {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        parent_span_id: span.parent_id.clone().unwrap_or_default(),
        name: "call".to_owned(),
        kind: match span.kind {
            Kind::Server => 2,
            Kind::Client => 3,
        },
        start_time_unix_nano: span.start_micros * 1_000,
        end_time_unix_nano: (span.start_micros + span.duration_micros) * 1_000,
        attributes,
        status: otlp::Status {
            code: if span.failed { 2 } else { 0 },
        },
    }
}

/// One `{"resourceSpans":[...]}` per trace, per line: the Collector's file exporter.
pub fn write_otlp_lines(path: &Path, traces: &[Vec<TestSpan>], deployment: &Deployment<'_>) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for trace in traces {
        serde_json::to_writer(&mut file, &otlp_document(trace, deployment)).unwrap();
        file.write_all(b"\n").unwrap();
    }
    file.flush().unwrap();
}

/// All traces in one pretty-printed `{"resourceSpans":[...]}` object.
pub fn write_otlp_document(path: &Path, traces: &[Vec<TestSpan>], deployment: &Deployment<'_>) {
    let spans: Vec<TestSpan> = traces.iter().flatten().cloned().collect();
    let file = std::fs::File::create(path).unwrap();
    serde_json::to_writer_pretty(file, &otlp_document(&spans, deployment)).unwrap();
}

fn otlp_document(spans: &[TestSpan], deployment: &Deployment<'_>) -> otlp::TracesData {
    let mut by_service: BTreeMap<&str, Vec<otlp::Span>> = BTreeMap::new();
    for span in spans {
        by_service
            .entry(span.service.as_str())
            .or_default()
            .push(otlp_span(span));
    }
    otlp::TracesData {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| otlp::ResourceSpans {
                resource: otlp_resource(service, deployment),
                scope_spans: vec![otlp::ScopeSpans { spans }],
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct JaegerResponse {
    data: Vec<jaeger::Trace>,
}

fn jaeger_trace(spans: &[TestSpan], deployment: &Deployment<'_>) -> jaeger::Trace {
    let mut processes = BTreeMap::new();
    let mut process_ids: BTreeMap<&str, String> = BTreeMap::new();
    for span in spans {
        let next = format!("p{}", process_ids.len() + 1);
        let id = process_ids
            .entry(span.service.as_str())
            .or_insert(next)
            .clone();
        let mut tags = vec![jaeger::Tag::text("hostname", &pod_name(&span.service))];
        tags.push(jaeger::Tag::text(
            "k8s.namespace.name",
            deployment.namespace,
        ));
        processes.insert(
            id,
            jaeger::Process {
                service_name: span.service.clone(),
                tags,
            },
        );
    }
    jaeger::Trace {
        spans: spans
            .iter()
            .map(|span| {
                let mut tags = vec![jaeger::Tag::text(
                    "span.kind",
                    match span.kind {
                        Kind::Server => "server",
                        Kind::Client => "client",
                    },
                )];
                if let Some(peer) = &span.peer_service {
                    tags.push(jaeger::Tag::text("peer.service", peer));
                }
                if let Some(address) = &span.server_address {
                    tags.push(jaeger::Tag::text("net.peer.name", address));
                }
                if span.failed {
                    tags.push(jaeger::Tag {
                        key: "error".to_owned(),
                        value: jaeger::TagValue::Flag(true),
                    });
                }
                jaeger::Span {
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    references: span
                        .parent_id
                        .iter()
                        .map(|parent| jaeger::Reference {
                            ref_type: "CHILD_OF".to_owned(),
                            span_id: parent.clone(),
                        })
                        .collect(),
                    start_time: span.start_micros,
                    duration: span.duration_micros,
                    tags,
                    process_id: process_ids
                        .get(span.service.as_str())
                        .cloned()
                        .unwrap_or_default(),
                    process: None,
                }
            })
            .collect(),
        processes,
    }
}

/// The Jaeger query API's answer: `{"data":[trace...]}`.
pub fn write_jaeger(path: &Path, traces: &[Vec<TestSpan>], deployment: &Deployment<'_>) {
    let response = JaegerResponse {
        data: traces
            .iter()
            .map(|trace| jaeger_trace(trace, deployment))
            .collect(),
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    serde_json::to_writer(file, &response).unwrap();
}

/// One Jaeger trace, as the UI downloads it.
pub fn write_jaeger_trace(path: &Path, trace: &[TestSpan], deployment: &Deployment<'_>) {
    let file = std::fs::File::create(path).unwrap();
    serde_json::to_writer_pretty(file, &jaeger_trace(trace, deployment)).unwrap();
}

/// A Zipkin v2 array of spans (services named only by `localEndpoint`, as Zipkin has no
/// resource attributes).
pub fn write_zipkin(path: &Path, traces: &[Vec<TestSpan>]) {
    let spans: Vec<zipkin::Span> = traces
        .iter()
        .flatten()
        .map(|span| {
            let mut tags = BTreeMap::new();
            if let Some(address) = &span.server_address {
                tags.insert("server.address".to_owned(), address.clone());
            }
            if span.failed {
                tags.insert("error".to_owned(), "true".to_owned());
            }
            zipkin::Span {
                trace_id: span.trace_id.clone(),
                id: span.span_id.clone(),
                parent_id: span.parent_id.clone(),
                kind: Some(
                    match span.kind {
                        Kind::Server => "SERVER",
                        Kind::Client => "CLIENT",
                    }
                    .to_owned(),
                ),
                name: Some("call".to_owned()),
                timestamp: Some(span.start_micros),
                duration: Some(span.duration_micros),
                local_endpoint: Some(zipkin::Endpoint {
                    service_name: Some(span.service.clone()),
                }),
                remote_endpoint: span.peer_service.as_ref().map(|peer| zipkin::Endpoint {
                    service_name: Some(peer.clone()),
                }),
                tags,
                shared: false,
            }
        })
        .collect();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    serde_json::to_writer(file, &spans).unwrap();
}
