//! A deterministic layered (Sugiyama-style) layout of the service map for the SVG picture:
//!
//! 1. **Cycles** are broken by a depth-first search from the entry points: an edge back to a node
//!    still on the search stack is drawn reversed, so callers stay left of callees everywhere else.
//! 2. **Layers** by longest path: every caller sits in a column left of all its callees.
//! 3. **Long edges** are split by a dummy vertex in every column they pass, so that they take a
//!    slot of their own instead of running through boxes, and back edges return through their
//!    own slots instead of looping under the whole picture.
//! 4. **Order** within a column by alternating median and barycenter sweeps, keeping the order
//!    with the fewest crossings; a namespace is one horizontal band, kept together in every column.
//! 5. **Coordinates**: columns at fixed steps, each band as tall as its fullest column, a
//!    column's vertices centred in their band.

use std::collections::{BTreeMap, HashMap};

use crate::analysis::MapIndex;
use crate::servicemap::ServiceMap;

/// Most nodes drawn; larger maps are cut to the first columns (the full map is in map.json).
pub const MAX_DRAWN_NODES: usize = 400;
/// Width of a node box.
pub const NODE_WIDTH: u32 = 180;
/// Height of a node box.
pub const NODE_HEIGHT: u32 = 38;
const COLUMN_GAP: u32 = 60;
const ROW_GAP: u32 = 14;
/// Height of the slot a long edge takes in a column it passes.
const DUMMY_HEIGHT: u32 = 12;
const MARGIN: u32 = 20;
/// Room above a namespace band for its name.
const BAND_LABEL: u32 = 18;
const BAND_GAP: u32 = 12;
/// Sweeps of crossing minimisation (each one down and one up).
const SWEEPS: usize = 12;

/// A node with its place in the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedNode {
    /// Position in `map.nodes`.
    pub node: usize,
    /// Column: callers are always in a lower column than their callees (but for back edges).
    pub layer: u32,
    /// Top-left corner.
    pub x: u32,
    pub y: u32,
}

/// An edge with the points its line passes, from the caller's box to the callee's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedEdge {
    /// Positions in [`Layout::nodes`].
    pub from: usize,
    pub to: usize,
    /// The line: the caller's side, one point at each side of every column passed, the callee's side.
    pub points: Vec<(u32, u32)>,
    /// The edge closes a cycle and runs right to left.
    pub back: bool,
}

/// A namespace's horizontal band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceBand {
    pub namespace: String,
    pub y: u32,
    pub height: u32,
}

/// The whole picture's geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Drawn nodes, in drawing order (by layer, then row).
    pub nodes: Vec<PlacedNode>,
    pub edges: Vec<PlacedEdge>,
    pub bands: Vec<NamespaceBand>,
    pub width: u32,
    pub height: u32,
    /// Nodes left out because the map is too large.
    pub omitted: usize,
}

impl Layout {
    /// Edge crossings in the picture, counted on the drawn lines (see [`count_crossings`]).
    pub fn crossings(&self) -> usize {
        let lines: Vec<EdgeLine> = self
            .edges
            .iter()
            .map(|e| EdgeLine {
                from: e.from,
                to: e.to,
                points: e.points.clone(),
            })
            .collect();
        count_crossings(&lines)
    }
}

/// A drawn edge as a polyline between two node boxes, for counting crossings.
#[derive(Debug, Clone)]
pub struct EdgeLine {
    /// Identities of the end nodes: lines that share one meet at its box, which is no crossing.
    pub from: usize,
    pub to: usize,
    pub points: Vec<(u32, u32)>,
}

/// Pairs of segments of different edges that properly cross, where the edges share no end node.
/// The same measure for any layout, so that two pictures of one map can be compared.
pub fn count_crossings(lines: &[EdgeLine]) -> usize {
    type Segment = ((i64, i64), (i64, i64));
    let segments: Vec<Vec<Segment>> = lines
        .iter()
        .map(|l| {
            l.points
                .windows(2)
                .map(|w| {
                    (
                        (i64::from(w[0].0), i64::from(w[0].1)),
                        (i64::from(w[1].0), i64::from(w[1].1)),
                    )
                })
                .collect()
        })
        .collect();
    let orient = |a: (i64, i64), b: (i64, i64), c: (i64, i64)| {
        ((b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)).signum()
    };
    let mut crossings = 0;
    for (i, (a, a_segments)) in lines.iter().zip(&segments).enumerate() {
        for (b, b_segments) in lines[i + 1..].iter().zip(&segments[i + 1..]) {
            if a.from == b.from || a.from == b.to || a.to == b.from || a.to == b.to {
                continue;
            }
            for &(p1, p2) in a_segments {
                for &(q1, q2) in b_segments {
                    let (d1, d2) = (orient(q1, q2, p1), orient(q1, q2, p2));
                    let (d3, d4) = (orient(p1, p2, q1), orient(p1, p2, q2));
                    if d1 * d2 < 0 && d3 * d4 < 0 {
                        crossings += 1;
                    }
                }
            }
        }
    }
    crossings
}

/// The drawn nodes: all of them, or the `MAX_DRAWN_NODES` nearest the entry points.
fn drawn_nodes(index: &MapIndex<'_>) -> Vec<usize> {
    let n = index.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (index.entry_depth(i).unwrap_or(u32::MAX), i));
    order.truncate(MAX_DRAWN_NODES);
    order.sort_unstable();
    order
}

/// Step 1: a depth-first search from the entry points, then from caller-less nodes, then from
/// whatever is left; edges to a node on the stack are back edges.
fn break_cycles(successors: &[Vec<usize>], starts: &[usize]) -> Vec<(usize, usize, bool)> {
    let n = successors.len();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; n];
    let mut edges = Vec::new();
    let mut roots: Vec<usize> = starts.to_vec();
    roots.extend(0..n);
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        // (node, index of the next successor to visit)
        let mut stack = vec![(root, 0usize)];
        while let Some(top) = stack.last_mut() {
            let v = top.0;
            if let Some(&w) = successors[v].get(top.1) {
                top.1 += 1;
                match state[w] {
                    0 => {
                        edges.push((v, w, false));
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => edges.push((v, w, true)),
                    _ => edges.push((v, w, false)),
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    edges
}

/// Step 2: longest-path layers over the acyclic edges (a back edge counts reversed).
fn longest_path_layers(n: usize, edges: &[(usize, usize, bool)]) -> Vec<usize> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for &(a, b, back) in edges {
        let (u, v) = if back { (b, a) } else { (a, b) };
        if u != v {
            out[u].push(v);
            indegree[v] += 1;
        }
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(u) = ready.pop() {
        for &v in &out[u] {
            layer[v] = layer[v].max(layer[u] + 1);
            indegree[v] -= 1;
            if indegree[v] == 0 {
                ready.push(v);
            }
        }
    }
    layer
}

/// A vertex of the layered graph: a node, or a point a long edge passes.
#[derive(Debug, Clone)]
struct Vertex {
    /// Position among the drawn nodes, for real vertices.
    node: Option<usize>,
    layer: usize,
    band: usize,
}

/// Crossings between consecutive columns, counted as inversions (the sweeps' measure).
fn layered_crossings(columns: &[Vec<usize>], position: &[usize], down: &[Vec<usize>]) -> usize {
    let mut total = 0;
    for column in columns {
        let mut pairs: Vec<(usize, usize)> = column
            .iter()
            .flat_map(|&u| down[u].iter().map(move |&v| (position[u], position[v])))
            .collect();
        pairs.sort_unstable();
        // Inversions of the lower ends, counted with a Fenwick tree: O(E log V) per column pair.
        let size = pairs.iter().map(|p| p.1 + 1).max().unwrap_or(0);
        let mut tree = vec![0usize; size + 1];
        for (seen, &(_, v)) in pairs.iter().enumerate() {
            let mut at_most_v = 0;
            let mut i = v + 1;
            while i > 0 {
                at_most_v += tree[i];
                i -= i & i.wrapping_neg();
            }
            total += seen - at_most_v;
            let mut i = v + 1;
            while i <= size {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// One sweep over the columns in `order`, sorting each by (band, the median or mean position of
/// its neighbours in the column before it).
fn sweep(
    columns: &mut [Vec<usize>],
    order: &[usize],
    neighbours: &[Vec<usize>],
    vertices: &[Vertex],
    position: &mut [usize],
    median: bool,
) {
    for &c in order {
        let mut keyed: Vec<(usize, f64, usize, usize)> = columns[c]
            .iter()
            .enumerate()
            .map(|(current, &v)| {
                let mut near: Vec<usize> = neighbours[v].iter().map(|&u| position[u]).collect();
                near.sort_unstable();
                let key = if near.is_empty() {
                    current as f64
                } else if median {
                    let mid = near.len() / 2;
                    if near.len() % 2 == 1 {
                        near[mid] as f64
                    } else {
                        (near[mid - 1] + near[mid]) as f64 / 2.0
                    }
                } else {
                    near.iter().sum::<usize>() as f64 / near.len() as f64
                };
                (vertices[v].band, key, current, v)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        columns[c] = keyed.into_iter().map(|(_, _, _, v)| v).collect();
        for (p, &v) in columns[c].iter().enumerate() {
            position[v] = p;
        }
    }
}

/// Lays `map` out.
pub fn layout(map: &ServiceMap) -> Layout {
    let index = MapIndex::new(map);
    let drawn = drawn_nodes(&index);
    let omitted = index.len() - drawn.len();
    let local: HashMap<usize, usize> = drawn.iter().enumerate().map(|(l, &i)| (i, l)).collect();
    let n = drawn.len();
    let successors: Vec<Vec<usize>> = drawn
        .iter()
        .map(|&i| {
            index
                .successors(i)
                .iter()
                .filter_map(|s| local.get(s).copied())
                .filter(|&s| s != local[&i])
                .collect()
        })
        .collect();
    let has_caller = {
        let mut called = vec![false; n];
        for list in &successors {
            for &s in list {
                called[s] = true;
            }
        }
        called
    };
    // Entry points first, then nodes nobody calls: both start the search and sit at the left.
    let mut starts: Vec<usize> = (0..n)
        .filter(|&l| map.nodes[drawn[l]].entry_point)
        .collect();
    starts.extend((0..n).filter(|&l| !has_caller[l] && !map.nodes[drawn[l]].entry_point));
    let edges = break_cycles(&successors, &starts);
    let layer_of = longest_path_layers(n, &edges);

    // Namespace bands, in the order their first node appears from the left.
    let mut band_order: Vec<(usize, &str)> = (0..n)
        .map(|l| (layer_of[l], map.nodes[drawn[l]].namespace.as_str()))
        .collect();
    band_order.sort_unstable();
    let mut band_of_namespace: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, namespace) in band_order {
        let next = band_of_namespace.len();
        band_of_namespace.entry(namespace).or_insert(next);
    }

    // Vertices: the drawn nodes, then one dummy per column a long edge passes.
    let mut vertices: Vec<Vertex> = (0..n)
        .map(|l| Vertex {
            node: Some(l),
            layer: layer_of[l],
            band: band_of_namespace[map.nodes[drawn[l]].namespace.as_str()],
        })
        .collect();
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); n];
    // Each edge as its chain of vertices from the left column to the right one.
    let mut chains: Vec<(usize, usize, bool, Vec<usize>)> = Vec::with_capacity(edges.len());
    for &(a, b, back) in &edges {
        let (left, right) = if back { (b, a) } else { (a, b) };
        let band = vertices[a].band;
        let mut chain = vec![left];
        for layer in layer_of[left] + 1..layer_of[right] {
            vertices.push(Vertex {
                node: None,
                layer,
                band,
            });
            down.push(Vec::new());
            up.push(Vec::new());
            chain.push(vertices.len() - 1);
        }
        chain.push(right);
        for pair in chain.windows(2) {
            down[pair[0]].push(pair[1]);
            up[pair[1]].push(pair[0]);
        }
        chains.push((a, b, back, chain));
    }
    let layer_count = layer_of.iter().max().map_or(1, |m| m + 1);
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); layer_count];
    for (v, vertex) in vertices.iter().enumerate() {
        columns[vertex.layer].push(v);
    }
    let mut position = vec![0usize; vertices.len()];
    for column in &mut columns {
        column.sort_by_key(|&v| (vertices[v].band, vertices[v].node.is_none(), v));
        for (p, &v) in column.iter().enumerate() {
            position[v] = p;
        }
    }

    // Step 4: sweeps, keeping the best order seen.
    let forward: Vec<usize> = (1..layer_count).collect();
    let backward: Vec<usize> = (0..layer_count.saturating_sub(1)).rev().collect();
    let mut best = (
        layered_crossings(&columns, &position, &down),
        columns.clone(),
    );
    for round in 0..SWEEPS {
        let median = round % 2 == 0;
        sweep(
            &mut columns,
            &forward,
            &up,
            &vertices,
            &mut position,
            median,
        );
        sweep(
            &mut columns,
            &backward,
            &down,
            &vertices,
            &mut position,
            median,
        );
        let crossings = layered_crossings(&columns, &position, &down);
        if crossings < best.0 {
            best = (crossings, columns.clone());
        }
        if best.0 == 0 {
            break;
        }
    }
    let columns = best.1;

    // Step 5: coordinates. Each band is as tall as its fullest column.
    let slot = |v: usize| {
        if vertices[v].node.is_some() {
            NODE_HEIGHT + ROW_GAP
        } else {
            DUMMY_HEIGHT
        }
    };
    let band_count = band_of_namespace.len();
    let mut band_height = vec![0u32; band_count];
    for column in &columns {
        let mut used = vec![0u32; band_count];
        for &v in column {
            used[vertices[v].band] += slot(v);
        }
        for (b, h) in used.into_iter().enumerate() {
            band_height[b] = band_height[b].max(h);
        }
    }
    let mut band_top = Vec::with_capacity(band_count);
    let mut y = MARGIN;
    for height in &band_height {
        band_top.push(y + BAND_LABEL);
        y += BAND_LABEL + height + BAND_GAP;
    }
    let height = y - BAND_GAP + MARGIN;
    let column_x = |layer: usize| MARGIN + layer as u32 * (NODE_WIDTH + COLUMN_GAP);
    // Centre of each vertex's slot, and top-left of each node.
    let mut centre_y = vec![0u32; vertices.len()];
    for column in &columns {
        let mut used = vec![0u32; band_count];
        for &v in column {
            used[vertices[v].band] += slot(v);
        }
        let mut cursor: Vec<u32> = (0..band_count)
            .map(|b| band_top[b] + (band_height[b] - used[b]) / 2)
            .collect();
        for &v in column {
            let b = vertices[v].band;
            centre_y[v] = cursor[b] + slot(v).min(NODE_HEIGHT) / 2;
            cursor[b] += slot(v);
        }
    }

    let mut nodes = Vec::with_capacity(n);
    let mut placed_at = vec![0usize; n];
    for column in &columns {
        for &v in column {
            if let Some(l) = vertices[v].node {
                placed_at[l] = nodes.len();
                nodes.push(PlacedNode {
                    node: drawn[l],
                    layer: vertices[v].layer as u32,
                    x: column_x(vertices[v].layer),
                    y: centre_y[v] - NODE_HEIGHT / 2,
                });
            }
        }
    }
    let mut placed_edges: Vec<PlacedEdge> = chains
        .into_iter()
        .map(|(a, b, back, chain)| {
            // Left to right through the chain: out of a box's right side, across each dummy's
            // column, into the next box's left side.
            let mut points = Vec::with_capacity(chain.len() * 2);
            for (k, &v) in chain.iter().enumerate() {
                let x = column_x(vertices[v].layer);
                let y = centre_y[v];
                if k > 0 {
                    points.push((x, y));
                }
                if k + 1 < chain.len() {
                    points.push((x + NODE_WIDTH, y));
                }
            }
            if back {
                points.reverse();
            }
            PlacedEdge {
                from: placed_at[a],
                to: placed_at[b],
                points,
                back,
            }
        })
        .collect();
    placed_edges.sort_by_key(|e| (e.from, e.to));
    let mut bands: Vec<NamespaceBand> = band_of_namespace
        .into_iter()
        .map(|(namespace, b)| NamespaceBand {
            namespace: namespace.to_owned(),
            y: band_top[b] - BAND_LABEL,
            height: BAND_LABEL + band_height[b],
        })
        .collect();
    bands.sort_by_key(|band| band.y);
    Layout {
        nodes,
        edges: placed_edges,
        bands,
        width: 2 * MARGIN + layer_count as u32 * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP,
        height,
        omitted,
    }
}
