#!/usr/bin/env bash
# Builds the operator's container image without a Docker daemon and without pulling a base image:
# `buildah from scratch`, then the smart-chaos binary, the shared libraries it links (read with
# ldd), CA certificates and a passwd/group naming the nonroot user 65532. No shell, no package
# manager. The result is the same image the Dockerfile describes (distroless/cc, nonroot), written
# as an OCI layout directory and an oci-archive:
#   ${CARGO_TARGET_DIR:-target}/image/smart-chaos-oci/         (OCI image layout)
#   ${CARGO_TARGET_DIR:-target}/image/smart-chaos-<tag>.tar    (oci-archive; `podman load -i`,
#                                                               `kind load image-archive`, `skopeo copy`)
# and prints the image reference (name:tag) on the last line of stdout.
#
# Environment:
#   BINARY=PATH  use this smart-chaos binary instead of `cargo build --release --locked`
#                (the image test passes the binary its own test run built)
#   OUT=DIR      write the layout and the archive here instead of target/image
#   IMAGE=NAME   image name (default smart-chaos; the chart and deploy/ use the same)
#   TAG=TAG      image tag (default: the crate version, which is also the chart's appVersion)
# Needs buildah (scripts/install-deps.sh installs it) and root or a user namespace for its store,
# which is kept under OUT so that the machine's own container storage is never touched.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$repo_root/$target_dir" ;;
esac
out="${OUT:-$target_dir/image}"
image="${IMAGE:-smart-chaos}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo_root/Cargo.toml" | head -n1)"
tag="${TAG:-$version}"

command -v buildah >/dev/null 2>&1 || { echo "build-image: buildah is required (apt-get install buildah)" >&2; exit 1; }

binary="${BINARY:-}"
if [[ -z "$binary" ]]; then
  (cd "$repo_root" && cargo build --release --locked --bin smart-chaos >&2)
  binary="$target_dir/release/smart-chaos"
fi
[[ -x "$binary" ]] || { echo "build-image: no executable at $binary" >&2; exit 1; }

mkdir -p "$out"
out="$(cd "$out" && pwd)"
# A private store: vfs needs no kernel overlay support, which CI containers often lack.
store=(--root "$out/store" --runroot "$out/run" --storage-driver vfs)
rootfs="$out/rootfs"
rm -rf "$rootfs" "$out/smart-chaos-oci" "$out/smart-chaos-$tag.tar"
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"

# The binary and every library the dynamic loader would load for it, at the same paths.
install -m 0755 "$binary" "$rootfs/smart-chaos"
while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done < <(ldd "$binary" | grep -o '/[^ ]*' | sort -u)

# The OpenAI-compatible and Bedrock clients verify servers against the system's CA bundle.
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
else
  echo "build-image: warning: no /etc/ssl/certs/ca-certificates.crt; the image has no CA bundle" >&2
fi
# distroless' nonroot user, so that tools showing the user by name agree with the manifests.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"

container="$(buildah "${store[@]}" from --name "smart-chaos-build-$$" scratch)"
trap 'buildah "${store[@]}" rm "$container" >/dev/null 2>&1 || true' EXIT
buildah "${store[@]}" copy "$container" "$rootfs/" / >/dev/null
buildah "${store[@]}" config \
  --entrypoint '["/smart-chaos"]' \
  --cmd '["operator"]' \
  --user 65532:65532 \
  --workingdir / \
  --port 8080 \
  --env PATH=/ \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --label org.opencontainers.image.title=smart-chaos \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  "$container"
# Nothing is pulled or pushed, so no signature policy applies; buildah still wants one named.
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$out/policy.json"
buildah "${store[@]}" commit --signature-policy "$out/policy.json" --quiet --format oci --rm "$container" "oci:$out/smart-chaos-oci:$image:$tag" >/dev/null
trap - EXIT
# The archive is the same image as one file, for `kind load image-archive` or `skopeo copy`.
(cd "$out/smart-chaos-oci" && tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$out/smart-chaos-$tag.tar" .)
rm -rf "$rootfs" "$out/store" "$out/run" "$out/policy.json"
echo "build-image: wrote $out/smart-chaos-oci and $out/smart-chaos-$tag.tar" >&2
echo "$image:$tag"
