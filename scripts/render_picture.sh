#!/usr/bin/env bash
# Makes the README picture of a workbook: LibreOffice (headless, recalculating every formula on
# load) prints the workbook to PDF, and page 1 of that PDF becomes a PNG.
#
# usage: scripts/render_picture.sh [WORKBOOK.xlsx] [OUT.png]
#        (defaults: workbooks/seed.xlsx, docs/seed.png)
#        scripts/render_picture.sh --libreoffice-functions [OUT.png]
#        (default docs/libreoffice.png): the sheet of `backprop-xl libreoffice-setup --demo`,
#        computed by LibreOffice with backprop_xl's extension installed in the throwaway profile
#        by `backprop-xl libreoffice-setup` (the backprop-xl on PATH, or $BACKPROP_XL)
#        PAGE=N scripts/render_picture.sh ...: page N of the PDF instead of page 1
set -euo pipefail

functions=
if [[ ${1:-} == --libreoffice-functions ]]; then
    functions=yes
    shift
    out=${1:-docs/libreoffice.png}
else
    workbook=${1:-workbooks/seed.xlsx}
    out=${2:-docs/seed.png}
fi
backprop_xl=${BACKPROP_XL:-backprop-xl}
resolution=100
page=${PAGE:-1}

fail() {
    echo "render_picture.sh: $*" >&2
    exit 2
}

command -v soffice >/dev/null 2>&1 || fail "soffice (LibreOffice) not found on PATH"
command -v pdftoppm >/dev/null 2>&1 || fail "pdftoppm (poppler-utils) not found on PATH"
[[ -n $functions || -f $workbook ]] || fail "no such workbook: $workbook"

work=$(mktemp -d)
partial=
trap 'rm -rf -- "$work"; [[ -z $partial ]] || rm -f -- "$partial"' EXIT

# A throwaway LibreOffice profile that recalculates OOXML formulas on load (0 = always), so the
# picture shows LibreOffice's own results rather than the values cached in the file.
profile=$work/profile
mkdir -p "$profile/user"
cat >"$profile/user/registrymodifications.xcu" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
EOF

if [[ -n $functions ]]; then
    workbook="the demo workbook"
    "$backprop_xl" libreoffice-setup --demo "$work/book.xlsx" 2>"$work/setup.log" \
        && "$backprop_xl" libreoffice-setup --profile "$profile" 2>>"$work/setup.log" \
        || { cat "$work/setup.log" >&2; fail "backprop-xl could not set up LibreOffice"; }
else
    # Copy under a fixed name so the PDF's name is known whatever the workbook is called.
    cp -- "$workbook" "$work/book.xlsx"
fi
SC_NO_THREADED_CALCULATION=1 soffice \
    "-env:UserInstallation=file://$profile" \
    --headless --norestore --nolockcheck \
    --convert-to pdf --outdir "$work" "$work/book.xlsx" >"$work/soffice.log" 2>&1 \
    || { cat "$work/soffice.log" >&2; fail "LibreOffice could not convert $workbook"; }
[[ -s $work/book.pdf ]] || { cat "$work/soffice.log" >&2; fail "LibreOffice wrote no PDF for $workbook"; }

pdftoppm -png -r "$resolution" -f "$page" -l "$page" -singlefile "$work/book.pdf" "$work/page" \
    || fail "pdftoppm could not render page $page of the PDF"

# Temp file beside the target, then rename, so OUT is never left half written.
mkdir -p -- "$(dirname -- "$out")"
partial=$(mktemp "$(dirname -- "$out")/.render_picture.XXXXXX")
cp -- "$work/page.png" "$partial"
chmod 644 -- "$partial"
mv -f -- "$partial" "$out"
echo "wrote $out"
