//! The operator's container image, built by `scripts/build-image.sh` (buildah from scratch, no
//! daemon, no registry) from the debug binary this test run builds anyway, so the test costs no
//! second, release build. It reads the OCI layout the script wrote: the reference names the image
//! the chart and deploy/ install, the config runs `/smart-chaos` as the nonroot user 65532 with
//! no shell, the layer holds no shell at all, and the binary starts from the layer's own files
//! (its libraries, through the layer's dynamic loader).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The image every install path names: `smart-chaos:<crate version>`.
const IMAGE: &str = concat!("smart-chaos:", env!("CARGO_PKG_VERSION"));

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageConfig {
    architecture: String,
    os: String,
    config: RunConfig,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    env: Vec<String>,
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap();
    layout.join("blobs").join(algorithm).join(hex)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_image_script_builds_a_nonroot_image_without_a_shell() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("smart-chaos-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let build = Command::new("bash")
        .arg(root.join("scripts/build-image.sh"))
        .env("BINARY", env!("CARGO_BIN_EXE_smart-chaos"))
        .env("OUT", &out)
        .output()
        .expect("running scripts/build-image.sh");
    let stdout = String::from_utf8_lossy(&build.stdout);
    assert!(
        build.status.success(),
        "build-image.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    assert_eq!(stdout.lines().last(), Some(IMAGE));
    assert!(
        out.join(format!("smart-chaos-{}.tar", env!("CARGO_PKG_VERSION")))
            .is_file()
    );

    let layout = out.join("smart-chaos-oci");
    let index: Index = read_json(&layout.join("index.json"));
    assert_eq!(index.manifests.len(), 1);
    let entry = &index.manifests[0];
    assert_eq!(
        entry.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        entry
            .annotations
            .get("org.opencontainers.image.ref.name")
            .map(String::as_str),
        Some(IMAGE)
    );
    let manifest: Manifest = read_json(&blob(&layout, &entry.digest));
    let config: ImageConfig = read_json(&blob(&layout, &manifest.config.digest));
    println!(
        "image {IMAGE}: {}/{}, entrypoint {:?}, cmd {:?}, user {}, {} layer(s)",
        config.os,
        config.architecture,
        config.config.entrypoint,
        config.config.cmd,
        config.config.user,
        manifest.layers.len()
    );
    assert_eq!(config.os, "linux");
    // Exec form: the binary is PID 1, no `/bin/sh -c` wraps it.
    assert_eq!(config.config.entrypoint, ["/smart-chaos"]);
    assert_eq!(config.config.cmd, ["operator"]);
    // The manifests' runAsUser/runAsGroup; runAsNonRoot needs a numeric user to admit the pod.
    assert_eq!(config.config.user, "65532:65532");
    assert!(
        config
            .config
            .env
            .iter()
            .any(|e| e == "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
    );

    // Unpack the layers as a container runtime would and look at every file.
    let rootfs = out.join("unpacked");
    std::fs::create_dir_all(&rootfs).unwrap();
    for layer in &manifest.layers {
        let status = Command::new("tar")
            .arg("-xf")
            .arg(blob(&layout, &layer.digest))
            .arg("-C")
            .arg(&rootfs)
            .status()
            .unwrap();
        assert!(status.success(), "unpacking layer {}", layer.digest);
    }
    let mut files = Vec::new();
    let mut stack = vec![rootfs.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(&rootfs).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    println!("image files: {files:?}");
    let shells = ["sh", "bash", "dash", "ash", "busybox", "zsh"];
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            !shells.contains(&name.as_ref()),
            "the image holds a shell: {}",
            file.display()
        );
    }
    assert!(files.contains(&PathBuf::from("smart-chaos")));
    assert!(files.contains(&PathBuf::from("etc/passwd")));
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:"))
    );

    // The binary runs from the layer's files alone: the layer's loader, the layer's libraries.
    let loader = files
        .iter()
        .find(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ld-linux")
        })
        .expect("the image holds the dynamic loader the binary names");
    let mut library_dirs: Vec<String> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains(".so"))
        .map(|f| rootfs.join(f.parent().unwrap()).display().to_string())
        .collect();
    library_dirs.sort();
    library_dirs.dedup();
    let run = Command::new(rootfs.join(loader))
        .arg("--library-path")
        .arg(library_dirs.join(":"))
        .arg(rootfs.join("smart-chaos"))
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the image's binary did not start from the image's libraries: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    std::fs::remove_dir_all(&out).unwrap();
}
