#!/bin/sh
# Re-vendor the browser assets of `mlplab live` (charts: uPlot; typeset formulas: KaTeX) into the
# package, so the page never fetches anything from outside the local server; and axe-core, the
# accessibility checker the browser tests inject into the page (tests/vendor: never shipped or served).
# Usage: scripts/vendor_live_assets.sh    (needs npm; run from the repository root)
set -eu
UPLOT=uplot@1.6.32
KATEX=katex@0.19.1
AXE=axe-core@4.14.1
DEST=src/mlplab/live/static/vendor
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "$UPLOT" "$KATEX" >/dev/null)
mkdir -p "$TMP/uplot" "$TMP/katex"
tar -xzf "$TMP"/uplot-*.tgz -C "$TMP/uplot"
tar -xzf "$TMP"/katex-*.tgz -C "$TMP/katex"

rm -rf "$DEST"
mkdir -p "$DEST/uplot" "$DEST/katex/fonts"
cp "$TMP/uplot/package/dist/uPlot.iife.min.js" "$TMP/uplot/package/dist/uPlot.min.css" "$DEST/uplot/"
cp "$TMP/uplot/package/LICENSE" "$DEST/uplot/LICENSE"
cp "$TMP/katex/package/dist/katex.min.js" "$TMP/katex/package/dist/katex.min.css" "$DEST/katex/"
cp "$TMP/katex/package/LICENSE" "$DEST/katex/LICENSE"
cp "$TMP"/katex/package/dist/fonts/*.woff2 "$DEST/katex/fonts/"
# only woff2 fonts are shipped: drop the woff/ttf fallbacks from the stylesheet's src lists
sed -i -E 's/,url\(fonts\/[^)]*\.(woff|ttf)\) format\("(woff|truetype)"\)//g' "$DEST/katex/katex.min.css"
printf '%s\n%s\n' "$UPLOT" "$KATEX" > "$DEST/VERSIONS"
echo "vendored $UPLOT and $KATEX into $DEST"

TESTS=tests/vendor
(cd "$TMP" && npm pack --silent "$AXE" >/dev/null)
mkdir -p "$TMP/axe"
tar -xzf "$TMP"/axe-core-*.tgz -C "$TMP/axe"
rm -rf "$TESTS/axe-core"
mkdir -p "$TESTS/axe-core"
cp "$TMP/axe/package/axe.min.js" "$TMP/axe/package/LICENSE" "$TMP/axe/package/LICENSE-3RD-PARTY.txt" "$TESTS/axe-core/"
printf '%s\n' "$AXE" > "$TESTS/VERSIONS"
echo "vendored $AXE into $TESTS (for the browser tests only)"
