//! report.html as a person sees it: headless Chromium loads the file the `analyze` command wrote,
//! and the rendered DOM must hold the service-map picture with one node per map node; a
//! screenshot is taken as well. Chromium is a test requirement (`.ci/run` installs it): without
//! it this test fails rather than skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

#[path = "support/browser.rs"]
mod browser;

use std::path::{Path, PathBuf};
use std::process::Command;

use browser::{chromium, headless};

#[test]
fn report_html_renders_the_service_map_in_chromium() {
    let out = std::env::temp_dir().join(format!("smart-chaos-html-{}", std::process::id()));
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-app");
    let status = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["analyze", "-f"])
        .arg(&demo)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let map_json = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["map", "-f"])
        .arg(&demo)
        .output()
        .unwrap();
    let map: serde_json::Value = serde_json::from_slice(&map_json.stdout).unwrap();
    let node_count = map["nodes"].as_array().unwrap().len();

    let browser = chromium();
    let url = format!("file://{}", out.join("report.html").display());
    let dom = headless(&browser, &out.join("profile-dom"), (1400, 1000))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(
        dom.contains("<svg id=\"service-map\""),
        "no service-map SVG in the rendered DOM"
    );
    let rendered_nodes = dom.matches("<g class=\"node ").count();
    println!(
        "rendered DOM: {} bytes, {rendered_nodes} map nodes (map has {node_count})",
        dom.len()
    );
    assert_eq!(rendered_nodes, node_count, "every map node is drawn once");
    for id in [
        "shop/Ingress/shop",
        "shop/Deployment/storefront",
        "shop/StatefulSet/postgres",
    ] {
        assert!(
            dom.contains(&format!("data-id=\"{id}\"")),
            "{id} is not drawn"
        );
    }
    assert!(!dom.contains("<script"), "the report must not run scripts");
    // The resilience score section shows the score of analysis.json, and every remediation it
    // lists was written next to the report.
    let analysis: smart_chaos::analysis::AnalysisResult =
        serde_json::from_slice(&std::fs::read(out.join("analysis.json")).unwrap()).unwrap();
    assert!(dom.contains("<section id=\"score\">"), "no score section");
    assert!(dom.contains(&format!("Resilience score: {}/100", analysis.score.score)));
    assert!(!analysis.remediations.is_empty());
    for file in analysis.remediations.iter().flat_map(|r| &r.files) {
        assert!(out.join(file).is_file(), "{file} was not written");
        assert!(dom.contains(file.as_str()), "{file} is not in the report");
    }

    let png = out.join("report.png");
    let shot = headless(&browser, &out.join("profile-shot"), (1400, 1000))
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.status.success());
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "the screenshot is suspiciously small: {} bytes",
        bytes.len()
    );
}

#[test]
fn analyze_twice_gives_byte_identical_outputs() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-app");
    let run = |tag: &str| {
        let out =
            std::env::temp_dir().join(format!("smart-chaos-twice-{}-{tag}", std::process::id()));
        let status = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
            .args(["analyze", "-f"])
            .arg(&demo)
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        let mut files = Vec::new();
        collect(&out, &out, &mut files);
        files.sort();
        files
    };
    let first = run("a");
    let second = run("b");
    assert!(
        first.len() > 10,
        "expected reports, proposals and manifests; got {}",
        first.len()
    );
    assert_eq!(first, second, "two runs over the same input differ");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push((
                path.strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
}

/// Where the map picture lies in a 1600 × 1000 window, measured by a script in a copy of the report.
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct MapGeometry {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    width: f64,
    height: f64,
    viewport_width: f64,
    viewport_height: f64,
    scroll_width: f64,
    nodes: usize,
    nodes_outside: usize,
}

/// Written into the measuring copy only: report.html itself runs no scripts (its CSP forbids them).
const MEASURE_SCRIPT: &str = r#"<script>
(function () {
  var svg = document.getElementById('service-map');
  var r = svg.getBoundingClientRect();
  var nodes = svg.querySelectorAll('g.node');
  var outside = 0;
  for (var i = 0; i < nodes.length; i++) {
    var b = nodes[i].getBoundingClientRect();
    if (b.left < r.left - 0.5 || b.right > r.right + 0.5 || b.top < r.top - 0.5 || b.bottom > r.bottom + 0.5) outside++;
  }
  var pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify({left: r.left, right: r.right, top: r.top, bottom: r.bottom,
    width: r.width, height: r.height, viewportWidth: window.innerWidth,
    viewportHeight: window.innerHeight, scrollWidth: document.documentElement.scrollWidth,
    nodes: nodes.length, nodesOutside: outside});
  document.body.appendChild(pre);
})();
</script>"#;

#[test]
fn the_otel_demo_map_is_whole_in_a_1600_px_window() {
    let out = std::env::temp_dir().join(format!("smart-chaos-fit-{}", std::process::id()));
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/otel-demo");
    let status = Command::new(env!("CARGO_BIN_EXE_smart-chaos"))
        .args(["analyze", "-f"])
        .arg(&demo)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !report.contains("<script"),
        "the report must not run scripts"
    );
    let csp = report
        .lines()
        .find(|l| l.contains("Content-Security-Policy"))
        .expect("the report sets a CSP");
    let measuring = report
        .replace(csp, "")
        .replace("</body>", &format!("{MEASURE_SCRIPT}</body>"));
    std::fs::write(out.join("measure.html"), measuring).unwrap();

    let browser = chromium();
    let window = (1600, 1000);
    let dom = headless(&browser, &out.join("profile-measure"), window)
        .arg("--dump-dom")
        .arg(format!("file://{}", out.join("measure.html").display()))
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    let start = dom
        .find("<pre id=\"measure\">")
        .expect("the measuring script ran")
        + 18;
    let end = start + dom[start..].find("</pre>").unwrap();
    let geometry: MapGeometry = serde_json::from_str(&dom[start..end]).unwrap();
    println!(
        "the map in a {}x{} window: {geometry:?}",
        window.0, window.1
    );
    assert!(
        geometry.nodes > 40,
        "the map's nodes are drawn: {}",
        geometry.nodes
    );
    assert_eq!(
        geometry.nodes_outside, 0,
        "every node lies inside the picture"
    );
    assert!(geometry.left >= 0.0 && geometry.right <= geometry.viewport_width);
    assert!(geometry.width <= geometry.viewport_width);
    assert!(
        geometry.height <= geometry.viewport_height,
        "scrolled to, the whole picture is on screen at once"
    );
    assert!(
        geometry.scroll_width <= geometry.viewport_width,
        "no horizontal scrollbar"
    );
    assert!(geometry.bottom > geometry.top);

    // The screenshot: the report opened at its map.
    let png = out.join("otel-demo-map.png");
    let shot = headless(&browser, &out.join("profile-fit-shot"), window)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}#map", out.join("report.html").display()))
        .output()
        .unwrap();
    assert!(shot.status.success());
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    println!("screenshot: {} ({} bytes)", png.display(), bytes.len());
}
