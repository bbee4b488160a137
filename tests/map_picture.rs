//! The map picture on real applications: edge crossings of the layered layout against the
//! layout it replaced (columns by BFS depth, one barycenter pass, back edges looping under the
//! boxes), on the corpus apps and on `examples/otel-demo` (an application shaped like the
//! OpenTelemetry demo: 26 Services, reached through `frontend-proxy`, no Ingress). Both layouts
//! draw the same map and are measured by the same count: drawn segments that properly cross.
//! Also the OTel demo's discovery: `frontend-proxy` is its entry point, found as the root of the
//! call graph, and `load-generator` is marked as a load generator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use smart_chaos::analysis::{AnalysisConfig, MapIndex, TierName, analyze_builtin};
use smart_chaos::report::layout::{EdgeLine, count_crossings, layout};
use smart_chaos::servicemap::{self, EntryVia, NodeId, ServiceMap};
use smart_chaos::snapshot::{self, ReadOptions};

fn read_map(path: &Path) -> ServiceMap {
    let outcome = snapshot::read_paths(&[path.to_path_buf()], &ReadOptions::default())
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    servicemap::build(&outcome.snapshot)
}

fn otel_demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/otel-demo")
}

/// The layout smart-chaos drew before the layered one, reproduced for comparison: columns by BFS
/// depth from entry points and caller-less nodes, rows by one barycenter pass over the callers,
/// edges straight from column to column, back and same-column edges looping under both boxes.
fn previous_layout_lines(map: &ServiceMap) -> Vec<EdgeLine> {
    const WIDTH: u32 = 190;
    const HEIGHT: u32 = 38;
    const COLUMN_GAP: u32 = 70;
    const ROW_GAP: u32 = 16;
    const MARGIN: u32 = 20;
    let index = MapIndex::new(map);
    let n = index.len();
    let mut depth: Vec<Option<u32>> = vec![None; n];
    let mut queue = VecDeque::new();
    for (i, slot) in depth.iter_mut().enumerate() {
        if index.node(i).entry_point || index.predecessors(i).is_empty() {
            *slot = Some(0);
            queue.push_back(i);
        }
    }
    let mut next_seed = 0;
    loop {
        while let Some(i) = queue.pop_front() {
            let d = depth[i].unwrap();
            for &s in index.successors(i) {
                if depth[s].is_none() {
                    depth[s] = Some(d + 1);
                    queue.push_back(s);
                }
            }
        }
        while next_seed < n && depth[next_seed].is_some() {
            next_seed += 1;
        }
        if next_seed == n {
            break;
        }
        depth[next_seed] = Some(0);
        queue.push_back(next_seed);
    }
    let depth: Vec<u32> = depth.into_iter().map(Option::unwrap).collect();
    let max_layer = *depth.iter().max().unwrap() as usize;
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); max_layer + 1];
    for i in 0..n {
        columns[depth[i] as usize].push(i);
    }
    let mut row: Vec<Option<usize>> = vec![None; n];
    for column in &mut columns {
        let mut keyed: Vec<(usize, usize)> = column
            .iter()
            .map(|&i| {
                let rows: Vec<usize> = index
                    .predecessors(i)
                    .iter()
                    .filter_map(|&p| row[p])
                    .collect();
                let key = if rows.is_empty() {
                    usize::MAX
                } else {
                    rows.iter().sum::<usize>() * 1000 / rows.len()
                };
                (key, i)
            })
            .collect();
        keyed.sort_unstable();
        *column = keyed.into_iter().map(|(_, i)| i).collect();
        for (r, &i) in column.iter().enumerate() {
            row[i] = Some(r);
        }
    }
    let x = |i: usize| MARGIN + depth[i] * (WIDTH + COLUMN_GAP);
    let y = |i: usize| MARGIN + row[i].unwrap() as u32 * (HEIGHT + ROW_GAP) + HEIGHT / 2;
    let mut lines = Vec::new();
    for from in 0..n {
        for &to in index.successors(from) {
            let (x1, y1) = (x(from) + WIDTH, y(from));
            let (x2, y2) = (x(to), y(to));
            let points = if depth[to] > depth[from] {
                vec![(x1, y1), (x2, y2)]
            } else {
                let low = y1.max(y2) + HEIGHT;
                vec![
                    (x1, y1),
                    (x1 + 60, low),
                    (x2.saturating_sub(60), low),
                    (x2, y2),
                ]
            };
            lines.push(EdgeLine { from, to, points });
        }
    }
    lines
}

#[test]
fn the_layered_layout_crosses_fewer_edges_than_the_one_it_replaced() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let apps: Vec<(String, PathBuf)> = ["online-boutique", "sock-shop", "bookinfo"]
        .iter()
        .map(|app| (app.to_string(), corpus.join(app)))
        .chain([("otel-demo (examples/)".to_string(), otel_demo())])
        .collect();
    println!("| app | nodes | edges drawn | crossings before | crossings after |");
    println!("| --- | --- | --- | --- | --- |");
    for (app, path) in &apps {
        let map = read_map(path);
        let before_lines = previous_layout_lines(&map);
        let before = count_crossings(&before_lines);
        let geometry = layout(&map);
        let after = geometry.crossings();
        println!(
            "| {app} | {} | {} | {before} | {after} |",
            geometry.nodes.len(),
            geometry.edges.len()
        );
        assert_eq!(geometry.omitted, 0);
        assert_eq!(
            geometry.edges.len(),
            before_lines.len(),
            "{app}: both layouts draw every edge"
        );
        assert!(after <= before, "{app}: {after} crossings, before {before}");
        if app.starts_with("otel-demo") {
            assert!(after < before, "{app}: {after} crossings, before {before}");
            assert_eq!(
                map.edges.len(),
                68,
                "the OTel-shaped demo has 68 call edges"
            );
        }
        // Every point of the picture lies inside it: nothing is cut off by the viewBox.
        for edge in &geometry.edges {
            for &(x, y) in &edge.points {
                assert!(
                    x <= geometry.width && y <= geometry.height,
                    "{app}: {x},{y}"
                );
            }
        }
    }
}

#[test]
fn the_otel_demo_is_entered_through_frontend_proxy_and_load_generator_is_marked() {
    let map = read_map(&otel_demo());
    let services = map
        .nodes
        .iter()
        .filter(|n| n.kind == servicemap::NodeKind::Service)
        .count();
    assert_eq!(services, 26);
    let result = analyze_builtin(&map, &AnalysisConfig::default()).unwrap();
    let discovery = &result.discovery;
    println!("{}", discovery.summary);
    for entry in &discovery.entry_points {
        println!(
            "entry point {} found by: {}",
            entry.id,
            entry.found_by.as_ref().unwrap()
        );
    }
    assert_eq!(discovery.entry_points.len(), 1);
    let entry = &discovery.entry_points[0];
    assert_eq!(entry.id, NodeId("default/Service/frontend-proxy".into()));
    assert_eq!(
        entry.found_by,
        Some(EntryVia::CallGraphRoot {
            workload: NodeId("default/Deployment/frontend-proxy".into())
        })
    );
    assert_eq!(
        entry.serves,
        vec![NodeId("default/Deployment/frontend-proxy".into())]
    );
    assert_eq!(
        discovery.load_generators,
        vec![NodeId("default/Deployment/load-generator".into())]
    );
    // Everything is reached from frontend-proxy but the Kafka consumers, which no Service
    // exposes: workers, not entry points.
    let unreached: Vec<&str> = discovery
        .tiers
        .iter()
        .filter(|t| t.name == TierName::Unreached)
        .flat_map(|t| t.members.iter().map(NodeId::as_str))
        .collect();
    assert_eq!(
        unreached,
        [
            "default/Deployment/accounting",
            "default/Deployment/fraud-detection"
        ]
    );
}
