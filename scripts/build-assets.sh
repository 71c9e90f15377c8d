#!/usr/bin/env bash
# Vendor pinned front-end packages (package-lock.json) into the package's static folder, so the
# browser never fetches anything from a CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dest=src/orchestratia/hub/web/static/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/"
