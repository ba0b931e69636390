#!/usr/bin/env bash
# Renders the sample printable contract (examples/contract_sample.rs) and prints it with
# headless Chromium: a PDF, a screenshot of the page as a browser shows it, and PNGs of the
# PDF's pages (up to four), so the layout and the CJK glyphs can be checked by eye.
#
#   scripts/contract_print.sh [OUT_DIR]   (default /tmp)
#
# Needs Debian's chromium and fonts-noto-cjk, and poppler-utils for the page PNGs:
#   apt-get install -y chromium fonts-noto-cjk poppler-utils
# Set CONTRACT_DRAFT=1 for the unsigned draft (blank transferor, no certification).
set -euo pipefail

cd "$(dirname "$0")/.."
out="${1:-/tmp}"
mkdir -p "$out"
chrome="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$chrome" ]; then
  echo "contract_print: no chromium (apt-get install -y chromium fonts-noto-cjk)" >&2
  exit 1
fi
if ! fc-list :lang=zh family 2>/dev/null | grep -q .; then
  echo "contract_print: no CJK font installed (apt-get install -y fonts-noto-cjk)" >&2
  exit 1
fi

html="$out/contract.html"
cargo run --quiet --example contract_sample -- "$html" ${CONTRACT_DRAFT:+draft}

# A throwaway profile, no network use beyond the file itself.
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --user-data-dir="$profile"
  --no-first-run --disable-extensions --hide-scrollbars)

"$chrome" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$out/contract.pdf" \
  "file://$html" 2>/dev/null
"$chrome" "${flags[@]}" --screenshot="$out/contract.png" --window-size=1240,1754 \
  "file://$html" 2>/dev/null

if command -v pdftoppm >/dev/null; then
  # 150 dpi: an A4 page is 1240 × 1754 pixels.
  rm -f "$out"/contract-page-*.png
  pdftoppm -png -r 150 -f 1 -l 4 "$out/contract.pdf" "$out/contract-page"
  pages="$(pdfinfo "$out/contract.pdf" 2>/dev/null | awk '/^Pages:/ {print $2}')"
  echo "contract_print: $out/contract.pdf (${pages:-?} pages)"
else
  echo "contract_print: no pdftoppm (apt-get install -y poppler-utils); PDF only" >&2
fi
ls -1 "$out"/contract*.png "$out/contract.pdf"
