#!/usr/bin/env bash
# Vendor pinned front-end packages (package-lock.json) into the package's static folder, so the
# browser never fetches anything from a CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dest=src/orchestratia/hub/web/static/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/"
# xterm.js and its addons: the UMD builds define window.Terminal, window.FitAddon, ... for plain
# <script> tags (no bundler on the dashboard).
cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css "$dest/"
cp node_modules/@xterm/addon-fit/lib/addon-fit.js "$dest/"
cp node_modules/@xterm/addon-search/lib/addon-search.js "$dest/"
cp node_modules/@xterm/addon-web-links/lib/addon-web-links.js "$dest/"
