#!/bin/bash
# The layering rules of DESIGN.md, checked by scripts/layers on the build's
# object files: includes only downwards (common < core < iscsi < mpio <
# nbd/ctl; router and sim on common and core), no two modules calling each
# other both ways, and function and file sizes in src/common, src/router,
# src/ctl. Known violations being removed are allowed by name in the
# script. Prints "PASS layers" or "FAIL layers: ..." with each violation.
set -u
cd "$(dirname "$0")/../.." || exit 1
out=$(scripts/layers build 2>&1)
rc=$?
echo "$out"
if [ "$rc" = 0 ]; then
	echo "PASS layers ($(tail -1 <<<"$out"))"
else
	echo "FAIL layers: $(grep -c '^VIOLATION' <<<"$out") violation(s): $(grep '^VIOLATION' <<<"$out" | head -3 | tr '\n' ' ')"
	exit 1
fi
