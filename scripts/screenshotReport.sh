#!/usr/bin/env bash
# Renders an HTML report (cover-torch evaluate --report) with headless Chromium into a PNG,
# to look at what a reader's browser shows. Needs chromium (Debian: apt-get install chromium).
#   scripts/screenshotReport.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
set -euo pipefail
report=$(readlink -f "$1")
out=${2:-${report%.html}.png}
size=${3:-1200x3200}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "screenshotReport: no chromium found; apt-get install chromium" >&2; exit 1; }
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="${size/x/,}" --screenshot="$out" "file://$report" 2>/dev/null
echo "screenshotReport: wrote $out"
