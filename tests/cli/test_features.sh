#!/usr/bin/env bash
# `mqblk features --json` lists every registered driver with its registration (attributes
# with units and defaults, what the driver promises) whether or not the ublk frontend was
# built; the ublk section says which. The text form names the same drivers.
set -euo pipefail
M=${MQBLK:?path to mqblk}
fail() { echo "FAIL: $*" >&2; exit 1; }

json=$("$M" features --json)
null=$(jq -c '.drivers[] | select(.name == "null")' <<<"$json")
[[ -n $null ]] || fail "null is not listed: $json"
jq -e '.idempotent_writes == true and .can_be_zoned == true and .fills_read_buffers == false' \
  <<<"$null" >/dev/null || fail "null's registration: $null"
jq -e '.attributes[] | select(.name == "size") | .unit == "MB" and .default != ""' \
  <<<"$null" >/dev/null || fail "null's size attribute has no unit or default"
jq -e '[.attributes[] | select(.name == "irqmode")] | length == 1' <<<"$null" >/dev/null ||
  fail "null's irqmode attribute is missing"
[[ $(jq -r '.ublk.built' <<<"$json") == "${UBLK_BUILT:?}" ]] ||
  fail "ublk.built is $(jq -r '.ublk.built' <<<"$json"), this build: $UBLK_BUILT"
if [[ $UBLK_BUILT == false ]]; then
  [[ $(jq -r '.ublk.error' <<<"$json") == *"built without the ublk frontend"* ]] ||
    fail "a build without ublk does not say so"
fi

text=$("$M" features)
grep -q "^driver null: " <<<"$text" || fail "text form lacks the null driver"
grep -q "^ublk: " <<<"$text" || fail "text form lacks the ublk line"
echo "ok: features lists null (ublk built: $UBLK_BUILT)"
