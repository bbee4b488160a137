//! A deterministic layered layout of the service map for the SVG picture: columns by distance from
//! the entry points (and from nodes nobody calls), rows ordered by the average row of each node's
//! callers, so edges mostly run left to right without crossing much.

use std::collections::VecDeque;

use crate::analysis::MapIndex;
use crate::servicemap::ServiceMap;

/// Most nodes drawn; larger maps are cut to the first columns (the full map is in map.json).
pub const MAX_DRAWN_NODES: usize = 400;
/// Width of a node box.
pub const NODE_WIDTH: u32 = 190;
/// Height of a node box.
pub const NODE_HEIGHT: u32 = 38;
const COLUMN_GAP: u32 = 70;
const ROW_GAP: u32 = 16;
const MARGIN: u32 = 20;

/// A node with its place in the picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedNode {
    /// Position in `map.nodes`.
    pub node: usize,
    /// Column: hops from the nearest entry point or caller-less node.
    pub layer: u32,
    /// Top-left corner.
    pub x: u32,
    pub y: u32,
}

/// The whole picture's geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Drawn nodes, in drawing order (by layer, then row).
    pub nodes: Vec<PlacedNode>,
    /// Edges between drawn nodes, as positions in `nodes`.
    pub edges: Vec<(usize, usize)>,
    pub width: u32,
    pub height: u32,
    /// Nodes left out because the map is too large.
    pub omitted: usize,
}

/// Depth of every node: BFS from the entry points and from nodes without callers; nodes only
/// reachable through cycles get a BFS of their own from the first of them.
fn layers(index: &MapIndex<'_>) -> Vec<u32> {
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
            let d = depth[i].unwrap_or(0);
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
    depth.into_iter().map(|d| d.unwrap_or(0)).collect()
}

/// Lays `map` out.
pub fn layout(map: &ServiceMap) -> Layout {
    let index = MapIndex::new(map);
    let n = index.len();
    let depth = layers(&index);
    // Which nodes to draw: the lowest layers first, then by id.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (depth[i], i));
    let omitted = n.saturating_sub(MAX_DRAWN_NODES);
    order.truncate(MAX_DRAWN_NODES);
    let max_layer = order.iter().map(|&i| depth[i]).max().unwrap_or(0) as usize;
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); max_layer + 1];
    for &i in &order {
        columns[depth[i] as usize].push(i);
    }
    // Row of each placed node, filled column by column.
    let mut row: Vec<Option<usize>> = vec![None; n];
    for column in &mut columns {
        // Barycentre of the callers already placed (scaled to stay in integers), then id.
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
    let mut nodes = Vec::with_capacity(order.len());
    let mut position: Vec<Option<usize>> = vec![None; n];
    for (layer, column) in columns.iter().enumerate() {
        for (r, &i) in column.iter().enumerate() {
            position[i] = Some(nodes.len());
            nodes.push(PlacedNode {
                node: i,
                layer: layer as u32,
                x: MARGIN + layer as u32 * (NODE_WIDTH + COLUMN_GAP),
                y: MARGIN + r as u32 * (NODE_HEIGHT + ROW_GAP),
            });
        }
    }
    let mut edges = Vec::new();
    for placed in &nodes {
        for &s in index.successors(placed.node) {
            if let (Some(from), Some(to)) = (position[placed.node], position[s]) {
                edges.push((from, to));
            }
        }
    }
    edges.sort_unstable();
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0) as u32;
    Layout {
        nodes,
        edges,
        width: 2 * MARGIN + (max_layer as u32 + 1) * (NODE_WIDTH + COLUMN_GAP),
        height: 2 * MARGIN + tallest.max(1) * (NODE_HEIGHT + ROW_GAP),
        omitted,
    }
}
