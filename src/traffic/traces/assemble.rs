//! Turning spans into calls: a client span and the server span it caused, in another service,
//! are one call; a client span nobody answered in the file is a call to the name its
//! `peer.service` / `server.address` / `net.peer.name` gives.
//!
//! Spans wait per trace until the trace can be resolved: at its end where the format has one
//! (Jaeger), else when too many spans are pending (the oldest traces first) or at the end of the
//! file. Memory is bounded by [`MAX_PENDING_SPANS`] plus one counter set per distinct
//! (caller, callee) name pair, whatever the size of the file.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use crate::servicemap::NameHints;
use crate::traffic::{CallStats, ObservedCall};

/// Spans kept waiting for their trace's other spans before the oldest traces are resolved.
pub const MAX_PENDING_SPANS: usize = 200_000;

/// The role of a span in a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpanKind {
    Client,
    Server,
    Producer,
    Consumer,
    #[default]
    Internal,
}

impl SpanKind {
    /// From the `span.kind` tag (Jaeger) or a Zipkin `kind`, any case.
    pub fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "client" => SpanKind::Client,
            "server" => SpanKind::Server,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => SpanKind::Internal,
        }
    }

    fn calls_out(self) -> bool {
        matches!(self, SpanKind::Client | SpanKind::Producer)
    }

    fn is_called(self) -> bool {
        matches!(self, SpanKind::Server | SpanKind::Consumer)
    }
}

/// One span as the pairing needs it: ids, role, the names of both ends, timing.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    pub span_id: u64,
    pub parent_id: Option<u64>,
    pub kind: SpanKind,
    /// The service that recorded the span (interned [`NameHints`]).
    pub local: u32,
    /// The called name the span's attributes give (interned), for client spans.
    pub peer: Option<u32>,
    pub start_micros: u64,
    pub duration_micros: Option<u64>,
    pub failed: bool,
    /// Zipkin's shared span: the server half carries the client's span id.
    pub shared: bool,
}

/// Collects spans and counts the calls they show.
#[derive(Default)]
pub struct Assembler {
    names: Vec<NameHints>,
    name_ids: HashMap<NameHints, u32>,
    pending: HashMap<u128, Vec<SpanRecord>>,
    /// Traces in the order their first span arrived, for eviction.
    arrival: VecDeque<u128>,
    pending_spans: usize,
    calls: HashMap<(u32, u32), CallStats>,
    first_start_micros: Option<u64>,
    last_end_micros: Option<u64>,
    /// Spans read.
    pub spans: u64,
}

impl Assembler {
    /// The id of `hints`, interned so each distinct name set is stored once.
    pub fn intern(&mut self, hints: NameHints) -> u32 {
        if let Some(&id) = self.name_ids.get(&hints) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(hints.clone());
        self.name_ids.insert(hints, id);
        id
    }

    /// The namespace of interned names `id`, to default a peer's namespace to its caller's.
    pub fn namespace_of(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize)?.namespace.as_deref()
    }

    /// Adds a span of trace `trace_id`.
    pub fn add(&mut self, trace_id: u128, span: SpanRecord) {
        self.spans += 1;
        let end = span.start_micros + span.duration_micros.unwrap_or(0);
        if span.start_micros > 0 {
            self.first_start_micros = Some(
                self.first_start_micros
                    .map_or(span.start_micros, |s| s.min(span.start_micros)),
            );
            self.last_end_micros = Some(self.last_end_micros.map_or(end, |e| e.max(end)));
        }
        match self.pending.entry(trace_id) {
            Entry::Occupied(mut spans) => spans.get_mut().push(span),
            Entry::Vacant(slot) => {
                slot.insert(vec![span]);
                self.arrival.push_back(trace_id);
            }
        }
        self.pending_spans += 1;
        while self.pending_spans > MAX_PENDING_SPANS {
            let Some(oldest) = self.arrival.pop_front() else {
                break;
            };
            self.finish_trace(oldest);
        }
    }

    /// Resolves trace `trace_id` now: all its spans have been read.
    pub fn finish_trace(&mut self, trace_id: u128) {
        if let Some(spans) = self.pending.remove(&trace_id) {
            self.pending_spans -= spans.len();
            self.resolve(&spans);
        }
    }

    /// Pairs the spans of one trace and counts their calls.
    fn resolve(&mut self, spans: &[SpanRecord]) {
        let mut by_id: HashMap<u64, Vec<usize>> = HashMap::with_capacity(spans.len());
        for (i, span) in spans.iter().enumerate() {
            by_id.entry(span.span_id).or_default().push(i);
        }
        let mut answered = vec![false; spans.len()];
        for called in spans.iter().filter(|s| s.kind.is_called()) {
            let parent_id = if called.shared {
                Some(called.span_id)
            } else {
                called.parent_id
            };
            let Some(parent_index) = parent_id
                .and_then(|id| by_id.get(&id))
                .and_then(|found| found.iter().copied().find(|&i| !spans[i].kind.is_called()))
            else {
                continue;
            };
            let parent = &spans[parent_index];
            if parent.kind.calls_out() {
                answered[parent_index] = true;
            }
            if self.same_service(parent.local, called.local) {
                continue;
            }
            // The client's duration is the latency its caller saw; without a client span, the
            // server's.
            let duration = if parent.kind.calls_out() {
                parent.duration_micros
            } else {
                called.duration_micros
            };
            self.calls
                .entry((parent.local, called.local))
                .or_default()
                .record(duration, parent.failed || called.failed);
        }
        for (span, answered) in spans.iter().zip(answered) {
            if answered || !span.kind.calls_out() {
                continue;
            }
            if let Some(peer) = span.peer {
                self.calls
                    .entry((span.local, peer))
                    .or_default()
                    .record(span.duration_micros, span.failed);
            }
        }
    }

    /// Two name sets of one service (pods of one workload differ only by pod name).
    fn same_service(&self, a: u32, b: u32) -> bool {
        if a == b {
            return true;
        }
        match (self.names.get(a as usize), self.names.get(b as usize)) {
            (Some(a), Some(b)) => {
                a.service_name == b.service_name
                    && a.workload == b.workload
                    && a.namespace == b.namespace
            }
            _ => false,
        }
    }

    /// Resolves what is still pending and returns the calls, with `origin` and the window the
    /// spans covered.
    pub fn finish(mut self, origin: &str) -> Vec<ObservedCall> {
        while let Some(trace_id) = self.arrival.pop_front() {
            self.finish_trace(trace_id);
        }
        let window_seconds = match (self.first_start_micros, self.last_end_micros) {
            (Some(first), Some(last)) => {
                Some(last.saturating_sub(first).div_ceil(1_000_000).max(1))
            }
            _ => None,
        };
        let mut calls: Vec<ObservedCall> = self
            .calls
            .into_iter()
            .filter_map(|((caller, callee), stats)| {
                Some(ObservedCall {
                    caller: self.names.get(caller as usize)?.clone(),
                    callee: self.names.get(callee as usize)?.clone(),
                    origin: origin.to_owned(),
                    window_seconds,
                    requests: stats.requests,
                    errors: stats.errors,
                    p50_micros: stats.quantile_micros(0.5),
                    p99_micros: stats.quantile_micros(0.99),
                })
            })
            .collect();
        calls.sort_by(|a, b| (&a.caller, &a.callee).cmp(&(&b.caller, &b.callee)));
        calls
    }
}

/// A trace or span id as the formats write it (hex) → a number; other spellings are hashed so
/// that equal ids stay equal.
pub fn parse_id(id: &str) -> u128 {
    let id = id.trim();
    if !id.is_empty()
        && id.len() <= 32
        && let Ok(value) = u128::from_str_radix(id, 16)
    {
        return value;
    }
    // FNV-1a: stable across runs, enough to keep distinct ids apart within one file.
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in id.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
    }
    hash
}

/// A span id: the low 64 bits of [`parse_id`]; an empty id is none.
pub fn parse_span_id(id: &str) -> Option<u64> {
    let id = id.trim();
    (!id.is_empty() && id.bytes().any(|b| b != b'0')).then(|| parse_id(id) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> NameHints {
        NameHints {
            service_name: Some(name.into()),
            ..NameHints::default()
        }
    }

    fn span(id: u64, parent: Option<u64>, kind: SpanKind, local: u32) -> SpanRecord {
        SpanRecord {
            span_id: id,
            parent_id: parent,
            kind,
            local,
            peer: None,
            start_micros: 1_000_000,
            duration_micros: Some(2_000),
            failed: false,
            shared: false,
        }
    }

    #[test]
    fn client_server_pairs_count_once_and_peers_only_when_unanswered() {
        let mut assembler = Assembler::default();
        let front = assembler.intern(named("front"));
        let cart = assembler.intern(named("cart"));
        let peer = assembler.intern(NameHints {
            service: Some("cart".into()),
            ..NameHints::default()
        });
        let db = assembler.intern(NameHints {
            host: Some("cart-db".into()),
            ..NameHints::default()
        });
        let mut client = span(1, None, SpanKind::Client, front);
        client.peer = Some(peer);
        client.failed = true;
        assembler.add(7, client);
        assembler.add(7, span(2, Some(1), SpanKind::Server, cart));
        let mut db_call = span(3, Some(2), SpanKind::Client, cart);
        db_call.peer = Some(db);
        assembler.add(7, db_call);
        let calls = assembler.finish("t.json");
        let pairs: Vec<(String, String, u64, u64)> = calls
            .iter()
            .map(|c| {
                (
                    c.caller.display_name(),
                    c.callee.display_name(),
                    c.requests,
                    c.errors,
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("cart".into(), "cart-db".into(), 1, 0),
                ("front".into(), "cart".into(), 1, 1),
            ]
        );
        assert_eq!(calls[0].window_seconds, Some(1));
    }

    #[test]
    fn eviction_keeps_pending_spans_bounded() {
        let mut assembler = Assembler::default();
        let a = assembler.intern(named("a"));
        let b = assembler.intern(named("b"));
        for trace in 0..(MAX_PENDING_SPANS as u128 + 10) {
            assembler.add(trace, span(1, None, SpanKind::Client, a));
            assert!(assembler.pending_spans <= MAX_PENDING_SPANS);
        }
        assembler.add(0, span(2, Some(1), SpanKind::Server, b));
        assert!(assembler.pending_spans <= MAX_PENDING_SPANS);
    }

    #[test]
    fn ids_parse_from_hex_and_hash_otherwise() {
        assert_eq!(parse_id("00ff"), 255);
        assert_eq!(parse_id("not-hex"), parse_id("not-hex"));
        assert_ne!(parse_id("not-hex"), parse_id("not-hey"));
        assert_eq!(parse_span_id(""), None);
        assert_eq!(parse_span_id("0000000000000000"), None);
    }
}
