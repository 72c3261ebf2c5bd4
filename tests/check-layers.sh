#!/bin/sh
# The layer rule of lib/ (lib/README.md), checked from the #include lines:
# a file in lib/L/ includes only headers of L and of the layers below it,
# always as "layer/name.h", and every such header exists. src/ and tests/
# may include any layer, but only by its layer path.
# Usage: sh tests/check-layers.sh [TOP]; prints each breach, exits 1 on any.
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
layers="base stream text nn data train cli"
rank() { i=0; for l in $layers; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
bad=0
breach() { echo "layers: $*"; bad=1; }
for d in lib/*/; do
	d=${d%/}; l=${d#lib/}
	[ "$(rank "$l")" -ge 0 ] || breach "$d: not a layer of lib/README.md ($layers)"
done
for f in lib/*.c lib/*.h; do
	[ -e "$f" ] && breach "$f: a module outside the layer folders"
done
for f in lib/*/*.c lib/*/*.h src/*.c tests/*.c tests/fuzz/*.c tests/fuzz/*.h; do
	[ -e "$f" ] || continue
	case $f in lib/*) own=${f#lib/}; own=${own%%/*}; r=$(rank "$own") ;; *) own= r= ;; esac
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
	sed 's/^\([0-9]*\):.*include[[:space:]]*"\([^"]*\)".*/\1 \2/' |
	while read -r n inc; do
		# tests and harnesses may include their own files beside them
		[ -z "$own" ] && [ -e "$(dirname "$f")/$inc" ] && continue
		case $inc in
		*/*) hl=${inc%%/*} ;;
		*) echo "layers: $f:$n: \"$inc\" names no layer"; continue ;;
		esac
		hr=$(rank "$hl")
		if [ "$hr" -lt 0 ]; then echo "layers: $f:$n: \"$inc\": no layer '$hl'"; continue; fi
		[ -e "lib/$inc" ] || { echo "layers: $f:$n: \"$inc\": no such header"; continue; }
		if [ -n "$own" ] && [ "$hr" -gt "$r" ]; then
			echo "layers: $f:$n: \"$inc\": $own/ may not include $hl/ (a layer above it)"
		fi
	done
done > tests/tmp/layers.$$ 2>&1
[ -s tests/tmp/layers.$$ ] && { cat tests/tmp/layers.$$; bad=1; }
rm -f tests/tmp/layers.$$
[ $bad -eq 0 ] && echo "layers: lib/ keeps its layer rule ($layers)"
exit $bad
