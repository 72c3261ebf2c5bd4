#!/bin/sh
# lib/'s layer rule holds (tests/check-layers.sh), and the check catches a
# breach: a copy of the tree where a lower layer includes an upper one, and
# one with an include that names no layer.
name=t-layers; . "$(dirname "$0")/common.sh"
sh "$RM_TOP/tests/check-layers.sh" "$RM_TOP" || fail "the tree breaks the layer rule"
mkdir -p tree/tests/tmp
cp -R "$RM_TOP/lib" "$RM_TOP/src" tree/
mkdir -p tree/tests/fuzz
printf '#include "train/train.h"\n' >> tree/lib/base/rng.c
out=$(sh "$RM_TOP/tests/check-layers.sh" "$PWD/tree") && fail "upward include not caught"
echo "$out" | grep -q 'lib/base/rng.c:.*base/ may not include train/' || fail "message: $out"
cp "$RM_TOP/lib/base/rng.c" tree/lib/base/rng.c
printf '#include "model.h"\n' >> tree/lib/nn/loss.c
out=$(sh "$RM_TOP/tests/check-layers.sh" "$PWD/tree") && fail "layerless include not caught"
echo "$out" | grep -q 'lib/nn/loss.c:.*"model.h" names no layer' || fail "message: $out"
exit 0
