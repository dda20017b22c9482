#!/usr/bin/env bash
# `bsky-backfill inspect` as a user runs it, on the real fixture CARs.
set -u
cli=$1 fx=$2
failures=0 passed=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check() {  # check NAME CONDITION-RESULT MESSAGE
  if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi
}

# Records on stdout, one JSON object a line, in key order; the summary on stderr.
"$cli" inspect "$fx/cars/repo-stream__little.car" >"$tmp/out" 2>"$tmp/err"; code=$?
check little-exit $code "exit $code: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/out") -eq 278 ]]; check little-count $? "$(wc -l <"$tmp/out") lines"
grep -q '"records":278' "$tmp/err"; check little-summary $? "$(cat "$tmp/err")"
grep -q '"signature":"unverified"' "$tmp/err"; check little-unverified $? "$(cat "$tmp/err")"
head -1 "$tmp/out" | grep -q '^{"uri":"at://did:plc:lulmyldiq4sb2ikags5sfb25/[a-z.A-Z]*/[^"]*","cid":"bafyrei[a-z2-7]*","author":"did:plc:lulmyldiq4sb2ikags5sfb25","collection":'
check little-shape $? "$(head -c 300 "$tmp/out")"
sed 's/^{"uri":"\([^"]*\)".*/\1/' "$tmp/out" >"$tmp/uris"
LC_ALL=C sort -c "$tmp/uris"; check little-key-order $? "URIs are not in key order"

# Verified and failed signatures.
"$cli" inspect "$fx/cars/indigo__paul_staging.repo.car" --did-doc "$fx/did/docs/indigo__paul_staging.didDoc.json" >/dev/null 2>"$tmp/err"
code=$?; check paul-exit $code "exit $code $(cat "$tmp/err")"
grep -q '"signature":"verified"' "$tmp/err"; check paul-verified $? "$(cat "$tmp/err")"
"$cli" inspect "$fx/cars/arroba__snarfed2.car" --key did:key:zQ3shuteTZT6t9ek6UcKu7UfVES2AJgpadj2bT5zD8NHFqLce >/dev/null 2>"$tmp/err"
code=$?; check snarfed-exit $code "exit $code"
grep -q '"signature":"verified"' "$tmp/err"; check snarfed-verified $? "$(cat "$tmp/err")"
"$cli" inspect "$fx/cars/indigo__bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car" \
  --did-doc "$fx/did/docs/indigo__did_plc_z5vnbioquyhivxirw3bbljmu.didDoc.json" >"$tmp/out" 2>"$tmp/err"
[[ $? -eq 1 ]]; check bad-signature-exit $? "a failed signature must exit 1"
grep -q '"signature":"failed"' "$tmp/err"; check bad-signature-summary $? "$(cat "$tmp/err")"
[[ ! -s "$tmp/out" ]]; check bad-signature-no-records $? "records were printed"

# Wrong DID.
"$cli" inspect "$fx/cars/repo-stream__tiny.car" --did did:plc:aaaaaaaaaaaaaaaaaaaaaaaa >"$tmp/out" 2>"$tmp/err"
[[ $? -eq 1 ]]; check wrong-did-exit $? "exit should be 1"
grep -q 'the commit is for did:plc:7hptvnhdyeu53xp6rz7e42iy' "$tmp/err"; check wrong-did-message $? "$(cat "$tmp/err")"

# Corrupt files name the offset and the reason.
"$cli" inspect "$fx/cars/malformed/go-car__badheaderlength.car" >/dev/null 2>"$tmp/err"
[[ $? -eq 1 ]]; check corrupt-exit $? "exit should be 1"
grep -q 'go-car__badheaderlength.car: offset 0: header claims 216830324832 bytes' "$tmp/err"; check corrupt-message $? "$(cat "$tmp/err")"
head -c 20000 "$fx/cars/repo-stream__little.car" >"$tmp/cut.car"
"$cli" inspect "$tmp/cut.car" >/dev/null 2>"$tmp/err"
[[ $? -eq 1 ]]; check truncated-exit $? "exit should be 1"
grep -q 'cut.car: offset [0-9]*: the stream ends inside a section' "$tmp/err"; check truncated-message $? "$(cat "$tmp/err")"
"$cli" inspect "$tmp/does-not-exist.car" >/dev/null 2>"$tmp/err"
[[ $? -eq 1 ]]; check missing-file $? "exit should be 1"

# A partial slice: strict by default, readable with --allow-partial.
"$cli" inspect "$fx/cars/indigo__repo_slice.car" >/dev/null 2>"$tmp/err"
[[ $? -eq 1 ]]; check slice-strict $? "exit should be 1"
"$cli" inspect "$fx/cars/indigo__repo_slice.car" --allow-partial >"$tmp/out" 2>"$tmp/err"
code=$?; check slice-partial $code "exit $code $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/out") -eq 1 ]]; check slice-one-record $? "$(wc -l <"$tmp/out") records"

# The pipeline format: post fields flattened to strings, our fields added.
"$cli" inspect "$fx/cars/dnproto__msttest-06-reply.car" --format pipeline >"$tmp/out" 2>"$tmp/err"
code=$?; check pipeline-exit $code "exit $code $(cat "$tmp/err")"
grep -q '"reply":"{\\"root\\":' "$tmp/out"; check pipeline-reply-string $? "$(cat "$tmp/out")"
grep -q '"langs":"en","tags":null,"record_type":"reply"' "$tmp/out"; check pipeline-langs $? "$(cat "$tmp/out")"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
