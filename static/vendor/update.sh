#!/usr/bin/env bash
# Re-vendor marked and DOMPurify for the command-bar panel.
#
# The panel imports the ES-module builds itself (see the top of
# static/command-bar.js), so only those builds and each package's licence
# files are kept. Files are copied byte for byte from the npm tarballs;
# VENDOR.json records the versions, the registry's tarball integrity and a
# sha256 of every file, and tests/test_vendor.py checks them.
#
# Usage: static/vendor/update.sh [MARKED_VERSION] [DOMPURIFY_VERSION]
# Needs npm, tar, sha256sum and python3. Review `git diff` afterwards and run
# the browser tests: a major version of either library may change its API.
set -euo pipefail

MARKED_VERSION="${1:-18.2.1}"
DOMPURIFY_VERSION="${2:-3.4.18}"

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
# --json gives us the integrity string the registry published for each tarball.
npm pack --silent --json "marked@${MARKED_VERSION}" "dompurify@${DOMPURIFY_VERSION}" > pack.json
mkdir marked dompurify
tar -xzf "marked-${MARKED_VERSION}.tgz" -C marked
tar -xzf "dompurify-${DOMPURIFY_VERSION}.tgz" -C dompurify

# library directory, then pairs of "path in tarball" -> "file name kept"
copy() {
    local lib="$1"; shift
    rm -rf "${here:?}/${lib}"
    mkdir -p "${here}/${lib}"
    while [ "$#" -gt 0 ]; do
        cp "${work}/${lib}/package/$1" "${here}/${lib}/$2"
        shift 2
    done
}
copy marked lib/marked.esm.js marked.esm.js LICENSE LICENSE
# .mjs saved as .js: some servers (older nginx mime.types) send .mjs with a
# type browsers refuse for module scripts. The bytes are unchanged.
copy dompurify dist/purify.es.mjs purify.es.js LICENSE LICENSE LICENSE-MPL LICENSE-MPL

python3 - "$here" pack.json <<'PY'
import hashlib, json, pathlib, sys

here, pack = pathlib.Path(sys.argv[1]), json.loads(pathlib.Path(sys.argv[2]).read_text())
packed = {p["name"]: p for p in pack}
meta = {
    "marked": ("MIT", "https://github.com/markedjs/marked", ["marked.esm.js"], ["LICENSE"]),
    "dompurify": (
        "(MPL-2.0 OR Apache-2.0)", "https://github.com/cure53/DOMPurify",
        ["purify.es.js"], ["LICENSE", "LICENSE-MPL"],
    ),
}
# where each kept file is in the npm tarball
origin = {
    "marked/marked.esm.js": "package/lib/marked.esm.js",
    "dompurify/purify.es.js": "package/dist/purify.es.mjs",
}
libraries = []
for name, (licence, source, code, licences) in meta.items():
    files = [
        {
            "path": f"{name}/{f}",
            "from_tarball": origin.get(f"{name}/{f}", f"package/{f}"),
            "sha256": hashlib.sha256((here / name / f).read_bytes()).hexdigest(),
        }
        for f in code + licences
    ]
    libraries.append({
        "name": name,
        "version": packed[name]["version"],
        "license": licence,
        "source": source,
        "npm_tarball": f"https://registry.npmjs.org/{name}/-/{packed[name]['filename']}",
        "integrity": packed[name]["integrity"],
        "entry": f"{name}/{code[0]}",
        "license_files": [f"{name}/{f}" for f in licences],
        "files": files,
    })
doc = {
    "comment": "Written by static/vendor/update.sh; checked by tests/test_vendor.py.",
    "libraries": libraries,
}
(here / "VENDOR.json").write_text(json.dumps(doc, indent=2) + "\n")
PY
echo "vendored marked ${MARKED_VERSION} and dompurify ${DOMPURIFY_VERSION} into ${here}"
