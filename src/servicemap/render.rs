//! Renderings of a [`ServiceMap`]: JSON (the stable contract), Graphviz dot and Mermaid. All are
//! deterministic: the map's nodes and edges are already sorted, and nothing here iterates a hash
//! map.

use std::fmt::Write;

use super::model::{Edge, Evidence, EvidenceKind, Node, NodeKind, ServiceMap};

/// Edges below this confidence are drawn dashed.
const WEAK_EDGE: f64 = 0.8;

/// Errors rendering a map.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("serializing the service map to JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl ServiceMap {
    /// The map as pretty JSON, ending with a newline.
    pub fn to_json(&self) -> Result<String, RenderError> {
        let mut json = Vec::new();
        self.write_json(&mut json)?;
        String::from_utf8(json).map_err(|e| RenderError::Json(serde::ser::Error::custom(e)))
    }

    /// [`Self::to_json`] written as it is serialised, so that a large map's text is never held
    /// whole.
    pub fn write_json(&self, mut out: impl std::io::Write) -> Result<(), RenderError> {
        serde_json::to_writer_pretty(&mut out, self)?;
        out.write_all(b"\n").map_err(serde_json::Error::io)?;
        Ok(())
    }

    /// SHA-256 (hex) of the map's compact JSON: equal maps have equal hashes, and any change
    /// to a node, an edge or its evidence changes it.
    pub fn content_hash(&self) -> Result<String, RenderError> {
        Ok(crate::hashing::json_sha256_hex(self)?)
    }

    /// The map as a Graphviz digraph.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph servicemap {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
        );
        for node in &self.nodes {
            let (shape, style) = dot_shape(node);
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\", shape={shape}{style}];",
                dot_escape(node.id.as_str()),
                dot_escape(&node_label(node, "\\n")),
            );
        }
        for edge in &self.edges {
            let mut style = if edge.confidence < WEAK_EDGE {
                ", style=dashed".to_owned()
            } else {
                String::new()
            };
            if let Some(observed) = ObservedTraffic::of(edge) {
                let _ = write!(style, ", penwidth={:.1}", observed.line_weight());
                if !edge.has_kind(EvidenceKind::Config) && !edge.has_kind(EvidenceKind::Declared) {
                    style.push_str(", color=darkorange");
                }
            }
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
                dot_escape(edge.from.as_str()),
                dot_escape(edge.to.as_str()),
                dot_escape(&edge_label(edge)),
            );
        }
        out.push_str("}\n");
        out
    }

    /// The map as a Mermaid flowchart. Node ids are positions (`n0`, `n1`...) because Mermaid ids
    /// cannot hold `/`; labels carry the names.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let positions: std::collections::HashMap<&super::model::NodeId, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.id, i))
            .collect();
        let position = |id: &super::model::NodeId| positions.get(id).copied();
        for (i, node) in self.nodes.iter().enumerate() {
            let label = mermaid_escape(&node_label(node, "<br/>"));
            let (open, close) = mermaid_shape(node);
            let _ = writeln!(out, "  n{i}{open}\"{label}\"{close}");
        }
        for edge in &self.edges {
            let (Some(from), Some(to)) = (position(&edge.from), position(&edge.to)) else {
                continue;
            };
            let arrow = if ObservedTraffic::of(edge).is_some() {
                "==>"
            } else if edge.confidence < WEAK_EDGE {
                "-.->"
            } else {
                "-->"
            };
            let label = edge_label(edge);
            if label.is_empty() {
                let _ = writeln!(out, "  n{from} {arrow} n{to}");
            } else {
                let _ = writeln!(
                    out,
                    "  n{from} {arrow}|\"{}\"| n{to}",
                    mermaid_escape(&label)
                );
            }
        }
        out
    }
}

fn node_label(node: &Node, line_break: &str) -> String {
    let mut label = format!("{}{line_break}{}", node.name, node.kind.as_str());
    if node.kind != NodeKind::External {
        let _ = write!(label, " ({})", node.namespace);
    }
    if let Some(store) = node.workload.as_ref().and_then(|w| w.data_store) {
        let _ = write!(label, "{line_break}{store}");
    }
    label
}

fn edge_label(edge: &Edge) -> String {
    let mut label = match (edge.port, &edge.protocol) {
        (Some(port), Some(protocol)) => format!("{port} {protocol}"),
        (Some(port), None) => port.to_string(),
        (None, Some(protocol)) => protocol.clone(),
        (None, None) => String::new(),
    };
    if let Some(observed) = ObservedTraffic::of(edge) {
        if !label.is_empty() {
            label.push_str(", ");
        }
        label.push_str(&observed.summary());
    }
    label
}

/// The traffic seen on an edge, over all its traffic evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObservedTraffic {
    pub requests: u64,
    pub errors: u64,
    /// Requests per second, when the sources have a window.
    pub rate: Option<f64>,
}

impl ObservedTraffic {
    /// None when no traffic evidence supports the edge.
    pub fn of(edge: &Edge) -> Option<Self> {
        let mut observed: Option<ObservedTraffic> = None;
        for traffic in edge.evidence.iter().filter_map(|e| match e {
            Evidence::Traffic(t) => Some(t),
            _ => None,
        }) {
            let sum = observed.get_or_insert(ObservedTraffic {
                requests: 0,
                errors: 0,
                rate: None,
            });
            sum.requests += traffic.requests;
            sum.errors += traffic.errors;
            if let Some(rate) = traffic.rate_per_second() {
                sum.rate = Some(sum.rate.unwrap_or(0.0) + rate);
            }
        }
        observed
    }

    /// `12.5 req/s, 2% errors` (or `40 calls` without a window).
    pub fn summary(&self) -> String {
        let mut text = match self.rate {
            Some(rate) if rate >= 10.0 => format!("{rate:.0} req/s"),
            Some(rate) => format!("{rate:.2} req/s"),
            None => format!("{} calls", self.requests),
        };
        if self.errors > 0 && self.requests > 0 {
            let _ = write!(
                text,
                ", {:.1}% errors",
                100.0 * self.errors as f64 / self.requests as f64
            );
        }
        text
    }

    /// A line width from 1.5 to 6 growing with the logarithm of the rate (or count).
    pub fn line_weight(&self) -> f64 {
        let volume = self.rate.unwrap_or(self.requests as f64);
        (1.5 + (1.0 + volume).log10()).min(6.0)
    }
}

fn is_data_store(node: &Node) -> bool {
    node.workload
        .as_ref()
        .is_some_and(|w| w.data_store.is_some())
}

fn dot_shape(node: &Node) -> (&'static str, &'static str) {
    match node.kind {
        NodeKind::Service if node.entry_point => ("ellipse", ", style=bold"),
        NodeKind::Service => ("ellipse", ""),
        NodeKind::Ingress | NodeKind::HTTPRoute | NodeKind::VirtualService => {
            ("invhouse", ", style=bold")
        }
        NodeKind::External => ("box", ", style=\"rounded,dashed\""),
        NodeKind::Unresolved => ("octagon", ", style=dashed, color=red"),
        _ if is_data_store(node) => ("cylinder", ""),
        _ => ("box", ""),
    }
}

fn mermaid_shape(node: &Node) -> (&'static str, &'static str) {
    match node.kind {
        NodeKind::Service => ("([", "])"),
        NodeKind::Ingress | NodeKind::HTTPRoute | NodeKind::VirtualService => ("[/", "/]"),
        NodeKind::External => (">", "]"),
        NodeKind::Unresolved => ("{{", "}}"),
        _ if is_data_store(node) => ("[(", ")]"),
        _ => ("[", "]"),
    }
}

fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            // `\n` in labels is a dot line break and is kept; other backslashes are escaped.
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::*;

    fn small_map() -> ServiceMap {
        let web = NodeId::new("shop", NodeKind::Deployment, "web");
        let db = NodeId::new("shop", NodeKind::Service, "db\"x");
        let node = |id: &NodeId, kind, name: &str| Node {
            id: id.clone(),
            kind,
            namespace: "shop".to_owned(),
            name: name.to_owned(),
            entry_point: false,
            entry_via: None,
            load_generator: false,
            workload: None,
            service: None,
            host: None,
        };
        ServiceMap {
            nodes: vec![
                node(&db, NodeKind::Service, "db\"x"),
                node(&web, NodeKind::Deployment, "web"),
            ],
            edges: vec![Edge {
                from: web.clone(),
                to: db.clone(),
                evidence: vec![Evidence::Env {
                    container: "web".to_owned(),
                    name: "DB_ADDR".to_owned(),
                    value: "db:5432".to_owned(),
                }],
                kinds: vec![EvidenceKind::Config],
                confidence: 0.6,
                port: Some(5432),
                protocol: Some("postgres".to_owned()),
            }],
            unmatched: Vec::new(),
        }
    }

    #[test]
    fn json_round_trips_and_hash_tracks_content() {
        let map = small_map();
        let json = map.to_json().expect("json");
        let back: ServiceMap = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, map);
        let hash = map.content_hash().expect("hash");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, back.content_hash().expect("hash"));
        let mut changed = map.clone();
        changed.edges[0].confidence = 0.7;
        assert_ne!(hash, changed.content_hash().expect("hash"));
    }

    #[test]
    fn dot_and_mermaid_escape_and_draw_weak_edges_dashed() {
        let map = small_map();
        let dot = map.to_dot();
        assert!(dot.contains("\"shop/Service/db\\\"x\""), "{dot}");
        assert!(
            dot.contains("[label=\"5432 postgres\", style=dashed]"),
            "{dot}"
        );
        let mermaid = map.to_mermaid();
        assert!(mermaid.starts_with("flowchart LR\n"));
        assert!(
            mermaid.contains("n0([\"db#quot;x<br/>Service (shop)\"])"),
            "{mermaid}"
        );
        assert!(
            mermaid.contains("n1 -.->|\"5432 postgres\"| n0"),
            "{mermaid}"
        );
    }
}
