#!/usr/bin/env bash
# Hostile sizes through the real `bsky-backfill inspect`: a section that claims
# 2 GiB and a record nested 100,000 levels deep (its CID correct, so it gets
# past the hash check to the decoder). Each must be refused with exit 1 and a
# message naming the byte offset and the block, with a small peak RSS (a
# memory bound, measured by /usr/bin/time; nothing here is timed).
set -u
cli=$1 generator=$2
max_rss_kb=65536
# A sanitizer runtime maps its shadow memory up front (ASan: ~90 MB before any
# input); the bound still separates "refused early" from "tried to allocate 2 GiB".
if ldd "$cli" 2>/dev/null | grep -qE 'lib(a|t)san'; then max_rss_kb=262144; fi
failures=0 passed=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
check() {  # check NAME CONDITION-RESULT MESSAGE
  if [[ $2 -eq 0 ]]; then passed=$((passed + 1)); else echo "FAIL: $1: $3"; failures=$((failures + 1)); fi
}
# refused NAME FILE PATTERN: exit 1, the message on stderr, peak RSS under the bound.
refused() {
  /usr/bin/time -f %M -o "$tmp/$1.rss" "$cli" inspect "$2" >"$tmp/$1.out" 2>"$tmp/$1.err"; local code=$?
  [[ $code -eq 1 ]]; check "$1-exit" $? "exit $code, expected 1: $(cat "$tmp/$1.err")"
  grep -Eq "$3" "$tmp/$1.err"; check "$1-message" $? "no line matching '$3' in: $(cat "$tmp/$1.err")"
  [[ ! -s "$tmp/$1.out" ]]; check "$1-no-records" $? "records were printed"
  local rss; rss=$(tail -1 "$tmp/$1.rss")
  [[ $rss =~ ^[0-9]+$ && $rss -lt $max_rss_kb ]]; check "$1-rss" $? "peak RSS ${rss} kB, bound ${max_rss_kb} kB"
  echo "$1: peak RSS ${rss} kB"
}

read -r offset _ < <(python3 "$generator" huge-block "$tmp/huge.car")
refused huge-block "$tmp/huge.car" "huge.car: offset ${offset#offset=}: section claims 2147483648 bytes, over the limit of [0-9]+$"

read -r offset cid < <(python3 "$generator" deep-record "$tmp/deep.car" 100000)
refused deep-record "$tmp/deep.car" \
  "deep.car: offset ${offset#offset=}: record app.bsky.feed.post/3jzfcijpj2z2a \(${cid#cid=}\), byte [0-9]+ of the block: nesting deeper than the configured limit"

# The same generator at a harmless depth makes a repo inspect accepts: the
# refusal above is the depth, not a malformed file.
python3 "$generator" deep-record "$tmp/shallow.car" 8 >/dev/null
"$cli" inspect "$tmp/shallow.car" >"$tmp/shallow.out" 2>"$tmp/shallow.err"; code=$?
check shallow-exit $code "exit $code: $(cat "$tmp/shallow.err")"
grep -q '"record":{"text":\[\[\[\[\[\[\[\[null\]\]\]\]\]\]\]\],"$type":"app.bsky.feed.post"}' "$tmp/shallow.out"
check shallow-record $? "$(cat "$tmp/shallow.out")"

echo "$passed passed, $failures failed"
[[ $failures -eq 0 ]]
