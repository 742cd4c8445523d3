#!/usr/bin/env bash
# Builds the krew archive of kubectl-netpol for this platform (binary + LICENSE) and writes its
# sha256 into krew-manifest.yaml.
#
#   scripts/release-plugin.sh                      # cargo build --release, archive into dist/
#   scripts/release-plugin.sh --binary PATH        # archive an existing binary (tests use this)
#   scripts/release-plugin.sh --out DIR --manifest FILE
#
# Other platforms: build on (or cross-compile for) each one with
#   cargo build --release -p kubectl-netpol --target <triple>
# then run this script there with --binary target/<triple>/release/kubectl-netpol[.exe]
# --os/--arch set (os: linux|darwin|windows, arch: amd64|arm64), and add the platform entry it
# prints to krew-manifest.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out="dist"
manifest="krew-manifest.yaml"
os="$(uname -s | tr '[:upper:]' '[:lower:]')"
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "unsupported architecture $(uname -m)" >&2; exit 2 ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --manifest) manifest="$2"; shift 2 ;;
    --os) os="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

version="v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
if [ -z "$binary" ]; then
  cargo build --release --locked -p kubectl-netpol
  binary="target/release/kubectl-netpol"
fi
exe=""
[ "$os" = windows ] && exe=".exe"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$binary" "$stage/kubectl-netpol$exe"
cp LICENSE "$stage/LICENSE"
mkdir -p "$out"
archive="$out/kubectl-netpol-$version-$os-$arch.tar.gz"
# Fixed owner, order and times so that the same binary gives the same archive.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf - "kubectl-netpol$exe" LICENSE \
  | gzip -n > "$archive"
sha="$(sha256sum "$archive" | cut -d' ' -f1)"

# Fill the sha256 of this platform's entry (the line after its uri).
python3 - "$manifest" "$os" "$arch" "$version" "$sha" <<'PY'
import re, sys
path, os_, arch, version, sha = sys.argv[1:]
text = open(path).read()
name = f"kubectl-netpol-{version}-{os_}-{arch}.tar.gz"
pattern = re.compile(r"(uri: \S*/" + re.escape(name) + r"\n\s*sha256: )\"?[0-9a-f]*\"?")
text, count = pattern.subn(lambda m: m.group(1) + f'"{sha}"', text)
if count != 1:
    sys.exit(f"{path}: no platform entry with uri .../{name}; add one (see the script's header)")
open(path, "w").write(text)
PY
echo "$archive $sha"
