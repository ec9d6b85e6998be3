#!/usr/bin/env bash
# Screenshots of an eval HTML report in headless Chromium (Debian's package), at desktop (1366x900) and phone
# (390x844) sizes, to look at what a reader sees. Not part of CI; the PNGs go to OUT_DIR (default
# /tmp/orbot-report-shots) and are not committed.
#
#   eval/screenshot_report.sh runs/a/report.html                         # the top of the page
#   eval/screenshot_report.sh report.html '#problem=nl4opt%3Asirl%3A12'   # also the whole page with that problem open
#
# Headless Chromium paints nothing when a page scrolls, so an anchor is shot as one tall window (TALL pixels,
# default 9000) where everything fits unscrolled; crop the PNG to the part you want to look at.
# Needs: apt-get install -y chromium
set -euo pipefail
page=$(realpath "$1"); shift
out=${OUT_DIR:-/tmp/orbot-report-shots}
tall=${TALL:-9000}
mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 2; }
shoot() {  # name, width, height, url
  local profile
  profile=$(mktemp -d)
  "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --user-data-dir="$profile" --virtual-time-budget=5000 \
    --screenshot="$out/$1.png" --window-size="$2,$3" "$4" >/dev/null 2>&1
  rm -rf "$profile"
  echo "$out/$1.png"
}
shoot desktop 1366 900 "file://$page"
shoot phone 390 844 "file://$page"
for anchor in "$@"; do
  name=$(printf '%s' "$anchor" | tr -c 'A-Za-z0-9_-' '_')
  shoot "desktop-tall$name" 1366 "$tall" "file://$page$anchor"
  shoot "phone-tall$name" 390 "$tall" "file://$page$anchor"
done
