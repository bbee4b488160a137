//! Declared edges: the calls of parsed diagrams added to the map as `declared` evidence, through
//! the one matcher of the map ([`crate::servicemap::attach`] with loose matching). A diagram
//! element may be named by its id or its label; the first that matches a node is used. Names
//! that match nothing are listed in the map's `unmatched`, never made into nodes.

use std::collections::BTreeSet;

use super::{DeclaredService, Diagram, ServiceRole};
use crate::servicemap::{
    AttachReport, CallEnd, DeclaredEvidence, Evidence, EvidenceKind, Matching, NameHints,
    NameIndex, NamedCall, ServiceMap, UnmatchedName, attach,
};

/// What [`declare`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclareReport {
    /// The calls' attachment.
    pub attach: AttachReport,
    /// Diagram services drawn without a call that match no node.
    pub unmatched_services: usize,
    /// Calls from or to a person (traffic from outside), not map edges.
    pub person_calls: usize,
}

/// Adds the calls of `diagrams` to `map` as declared evidence.
pub fn declare(map: &mut ServiceMap, diagrams: &[Diagram]) -> DeclareReport {
    let mut report = DeclareReport::default();
    let mut calls = Vec::new();
    let mut lone_unmatched = Vec::new();
    {
        let index = NameIndex::new(map);
        for diagram in diagrams {
            let mut called: BTreeSet<&str> = BTreeSet::new();
            for call in &diagram.calls {
                let (Some(from), Some(to)) = (diagram.find(&call.from), diagram.find(&call.to))
                else {
                    continue;
                };
                if from.role == ServiceRole::Person || to.role == ServiceRole::Person {
                    report.person_calls += 1;
                    continue;
                }
                called.insert(&from.id);
                called.insert(&to.id);
                calls.push(NamedCall {
                    caller: hints(&index, from, CallEnd::Caller),
                    callee: hints(&index, to, CallEnd::Callee),
                    evidence: Evidence::Declared(DeclaredEvidence {
                        origin: diagram.origin.clone(),
                        line: Some(call.line),
                    }),
                });
            }
            for service in &diagram.services {
                if service.role == ServiceRole::Person || called.contains(service.id.as_str()) {
                    continue;
                }
                let hints = hints(&index, service, CallEnd::Callee);
                let matched = index.workload(&hints, Matching::Loose).is_ok()
                    || index.callee(&hints, Matching::Loose).is_ok();
                if !matched {
                    lone_unmatched.push(UnmatchedName {
                        name: hints.display_name(),
                        origin: format!("{}:{}", diagram.origin, service.line),
                        kind: EvidenceKind::Declared,
                        end: CallEnd::Callee,
                        reason: "no workload or Service of the map has this name".to_owned(),
                        calls: 0,
                        peers: Vec::new(),
                    });
                }
            }
        }
    }
    report.attach = attach(map, calls, Matching::Loose);
    report.unmatched_services = lone_unmatched.len();
    map.unmatched.extend(lone_unmatched);
    map.unmatched.sort();
    map.unmatched.dedup();
    report
}

/// The hints for a diagram element: the first of its names (id, label) that matches a node at
/// that end, or its most readable name when none does.
fn hints(index: &NameIndex<'_>, service: &DeclaredService, end: CallEnd) -> NameHints {
    let hint = |name: &str| NameHints {
        namespace: service.namespace.clone(),
        service_name: Some(name.to_owned()),
        // A dotted name may be a host outside the cluster (`api.stripe.com`).
        host: (name.contains('.') && !name.contains(char::is_whitespace)).then(|| name.to_owned()),
        ..NameHints::default()
    };
    let matches = |hints: &NameHints| match end {
        CallEnd::Caller => index.workload(hints, Matching::Loose).is_ok(),
        CallEnd::Callee => index.callee(hints, Matching::Loose).is_ok(),
    };
    service
        .candidate_names()
        .iter()
        .map(|name| hint(name))
        .find(matches)
        .unwrap_or_else(|| hint(&service.display_name()))
}
