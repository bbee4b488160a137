//! Report tests: file set, determinism, self-containment, escaping, layout.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::layout::{MAX_DRAWN_NODES, layout};
use super::*;
use crate::analysis::fixtures;
use crate::analysis::{AnalysisConfig, analyze_builtin, build_chaos_manifests, build_proposals};
use crate::servicemap::{Edge, Evidence, EvidenceKind, NodeId, NodeKind};

fn render(map: &ServiceMap) -> Vec<(PathBuf, String)> {
    let result = analyze_builtin(map, &AnalysisConfig::default()).unwrap();
    let proposals = build_proposals(&result, "shop-analysis");
    let manifests = build_chaos_manifests(&result, "shop-analysis");
    render_all(map, &result, &proposals, &manifests).unwrap()
}

fn file<'a>(files: &'a [(PathBuf, String)], path: &str) -> &'a str {
    files
        .iter()
        .find(|(p, _)| p == &PathBuf::from(path))
        .map(|(_, c)| c.as_str())
        .unwrap_or_else(|| panic!("no {path}"))
}

#[test]
fn renders_every_file_sorted_and_identically_twice() {
    let map = fixtures::boutique();
    let files = render(&map);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let paths: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert!(paths.contains(&"analysis.json".to_string()));
    assert!(paths.contains(&"report.md".to_string()));
    assert!(paths.contains(&"report.html".to_string()));
    assert!(paths.contains(&"map.json".to_string()));
    for planned in &result.planned {
        assert!(paths.contains(&format!("proposals/{}.yaml", planned.name)));
        assert!(paths.contains(&format!("chaos/{}.yaml", planned.name)));
    }
    assert_eq!(paths.len(), 4 + 2 * result.planned.len());
    assert_eq!(files, render(&map), "byte-identical for identical input");
    let back: crate::analysis::AnalysisResult =
        serde_json::from_str(file(&files, "analysis.json")).unwrap();
    assert_eq!(back, result);
    let proposal = file(
        &files,
        &format!("proposals/{}.yaml", result.planned[0].name),
    );
    assert!(proposal.contains("kind: ExperimentProposal"), "{proposal}");
    assert!(proposal.contains("state: Pending"), "{proposal}");
    let chaos = file(&files, &format!("chaos/{}.yaml", result.planned[0].name));
    assert!(
        chaos.contains("apiVersion: chaos-mesh.org/v1alpha1"),
        "{chaos}"
    );
}

#[test]
fn the_html_report_is_self_contained_and_draws_the_map() {
    let map = fixtures::boutique();
    let files = render(&map);
    let html = file(&files, "report.html");
    for forbidden in [
        "<script", "<link", " src=", "@import", "url(http", "<iframe", "<img",
    ] {
        assert!(!html.contains(forbidden), "found {forbidden}");
    }
    assert!(html.contains("Content-Security-Policy"));
    assert_eq!(html.matches("id=\"service-map\"").count(), 1);
    let drawn: BTreeSet<String> = html
        .split("<g class=\"node ")
        .skip(1)
        .filter_map(|g| g.split("data-id=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect();
    let all: BTreeSet<String> = map
        .nodes
        .iter()
        .map(|n| n.id.as_str().to_string())
        .collect();
    assert_eq!(drawn, all);
    assert!(
        html.contains(
            "class=\"node kind-deployment spof\" data-id=\"shop/Deployment/checkoutservice\""
        ) || html.contains(
            "class=\"node kind-deployment spof target\" data-id=\"shop/Deployment/checkoutservice\""
        )
    );
    for section in [
        "id=\"hypotheses\"",
        "id=\"experiments\"",
        "id=\"rumsfeld\"",
        "id=\"guardrails\"",
    ] {
        assert!(html.contains(section), "{section}");
    }
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    for planned in &result.planned {
        assert!(html.contains(&format!("id=\"{}\"", planned.name)));
    }
    let markdown = file(&files, "report.md");
    assert!(markdown.contains("## Rumsfeld matrix"));
    assert!(markdown.contains(&format!("(`{}`)", result.planned[0].name)));
}

#[test]
fn cluster_text_cannot_inject_markup() {
    let mut map = fixtures::boutique();
    let evil = "evil\"><script>alert(1)</script><img src=x onerror=alert(2)>";
    let external = fixtures::other("shop", NodeKind::External, evil);
    map.edges.push(Edge {
        from: NodeId("shop/Deployment/paymentservice".into()),
        to: external.id.clone(),
        evidence: vec![Evidence::Env {
            container: "server".into(),
            name: "FRAUD_API".into(),
            value: format!("https://{evil}/| # * [x](javascript:alert(3))"),
        }],
        kinds: vec![EvidenceKind::Config],
        confidence: 0.9,
        port: Some(443),
        protocol: None,
    });
    map.nodes.push(external);
    map.nodes.sort_by(|a, b| a.id.cmp(&b.id));
    map.edges
        .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    let files = render(&map);
    let html = file(&files, "report.html");
    assert!(!html.contains("<script"), "script tag leaked");
    assert!(!html.contains("<img"), "img tag leaked");
    assert!(html.contains("evil&quot;&gt;&lt;script&gt;"));
    let markdown = file(&files, "report.md");
    assert!(!markdown.contains("<script"));
    assert!(!markdown.contains("[x](javascript"));
    // The hostile host never reaches a Chaos Mesh spec.
    for (path, contents) in &files {
        if path.starts_with("chaos") || path.starts_with("proposals") {
            assert!(!contents.contains("script"), "{}", path.display());
        }
    }
    let json = file(&files, "analysis.json");
    assert!(
        json.contains("no DNS pattern left that is a host name"),
        "the DNS experiment for the hostile host is dropped with a reason"
    );
}

#[test]
fn the_layout_puts_callers_left_of_callees_and_fits_its_view_box() {
    let map = fixtures::boutique();
    let geometry = layout(&map);
    let layer_of = |id: &str| {
        geometry
            .nodes
            .iter()
            .find(|p| map.nodes[p.node].id.as_str() == id)
            .map(|p| p.layer)
            .unwrap()
    };
    assert_eq!(layer_of("shop/Ingress/shop"), 0);
    assert_eq!(layer_of("shop/Service/frontend-external"), 0);
    assert!(layer_of("shop/Service/frontend") < layer_of("shop/Deployment/frontend"));
    assert!(layer_of("shop/Deployment/frontend") < layer_of("shop/Service/cartservice"));
    assert_eq!(
        layer_of("shop/Deployment/loadgenerator"),
        0,
        "nobody calls it: a source"
    );
    // Every edge but those closing a cycle runs left to right, and its line stays in the picture.
    for edge in &geometry.edges {
        let (a, b) = (&geometry.nodes[edge.from], &geometry.nodes[edge.to]);
        if edge.back {
            assert!(a.layer > b.layer);
        } else {
            assert!(a.layer < b.layer, "{:?} -> {:?}", a, b);
        }
        for &(x, y) in &edge.points {
            assert!(x <= geometry.width && y <= geometry.height);
        }
    }
    // No two nodes overlap; every node lies inside its namespace band and the picture.
    let mut seen = BTreeSet::new();
    for placed in &geometry.nodes {
        assert!(
            seen.insert((placed.x, placed.y)),
            "overlap at {},{}",
            placed.x,
            placed.y
        );
        assert!(placed.x + layout::NODE_WIDTH <= geometry.width);
        assert!(placed.y + layout::NODE_HEIGHT <= geometry.height);
        let band = geometry
            .bands
            .iter()
            .find(|b| b.namespace == map.nodes[placed.node].namespace)
            .unwrap();
        assert!(placed.y >= band.y && placed.y + layout::NODE_HEIGHT <= band.y + band.height);
    }
    assert_eq!(geometry.bands.len(), 2, "shop and kube-system");
    assert_eq!(geometry.omitted, 0);
    assert_eq!(geometry, layout(&map));
}

#[test]
fn crossings_count_segments_of_edges_without_a_common_node() {
    let lines = [
        layout::EdgeLine {
            from: 0,
            to: 1,
            points: vec![(0, 0), (10, 10)],
        },
        layout::EdgeLine {
            from: 2,
            to: 3,
            points: vec![(0, 10), (10, 0)],
        },
        layout::EdgeLine {
            from: 1,
            to: 4,
            points: vec![(0, 5), (10, 5)],
        },
    ];
    // The first two cross; the third shares node 1 with the first, so only its cut of the
    // second counts.
    assert_eq!(layout::count_crossings(&lines), 2);
}

#[test]
fn large_maps_are_drawn_in_part() {
    let map = fixtures::synthetic(1_000);
    let geometry = layout(&map);
    assert_eq!(geometry.nodes.len(), MAX_DRAWN_NODES);
    assert_eq!(geometry.omitted, map.nodes.len() - MAX_DRAWN_NODES);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let html = html::render(&map, &result);
    assert!(html.contains(&format!("{} more nodes are not drawn", geometry.omitted)));
}
