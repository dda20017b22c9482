#!/usr/bin/env bash
# --help, --version and bad usage of both executables.
set -u
cli=$1 daemon=$2
failures=0 checks=0
expect() {  # expect CODE PATTERN -- command...
  local code=$1 pattern=$2; shift 3
  checks=$((checks + 1))
  local out; out=$("$@" 2>&1); local got=$?
  if [[ $got -ne $code ]] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $got (want $code), output: $out"; failures=$((failures + 1))
  fi
}
expect 0 '^usage: bsky-backfill <command>' -- "$cli" --help
expect 0 '^bsky-backfill [0-9]+\.[0-9]+\.[0-9]+$' -- "$cli" --version
expect 0 '^usage: bsky-backfill run' -- "$cli" run --help
expect 0 '^usage: bsky-backfill inspect' -- "$cli" inspect --help
expect 0 '^usage: bsky-backfill status' -- "$cli" status --help
expect 0 '^usage: bsky-backfill failures' -- "$cli" failures --help
# --help names every command, and run --help gives each option a line with its default.
for c in run inspect status failures; do expect 0 "^  $c " -- "$cli" --help; done
for o in --dids --dids-file --batch-size --start-timestamp --end-timestamp --types --config --plc-url --output --output-dir \
         --metrics-listen --metrics-file --retry-failed; do expect 0 "^  $o " -- "$cli" run --help; done
expect 0 '2024-09-27-00:00:00' -- "$cli" run --help
expect 2 "status: unknown argument '--bogus'" -- "$cli" status --bogus
expect 2 'missing command' -- "$cli"
expect 2 "unknown command 'frobnicate'" -- "$cli" frobnicate
expect 2 "run: unknown argument '--colour'" -- "$cli" run --colour
expect 2 '--dids needs a value' -- "$cli" run --dids
expect 2 'inspect needs a CAR file' -- "$cli" inspect
expect 2 "--format must be raw or pipeline" -- "$cli" inspect x.car --format xml
expect 2 "takes --key or --did-doc, not both" -- "$cli" inspect x.car --key a --did-doc b
expect 0 '^usage: bsky-backfilld' -- "$daemon" --help
# Each of its options has a line with its default in parentheses and an example after it;
# a new option whose line lacks either fails here.
for o in --config --check-config; do expect 0 "^  $o .*\\([^)]+\\) +$o" -- "$daemon" --help; done
expect 0 '/etc/bsky-backfill/config.yaml\)' -- "$daemon" --help
checks=$((checks + 1))
bare=$("$daemon" --help | grep -E '^  --' | grep -vE '^  --(help|version) ' | grep -vE '\([^)]+\) +--')
if [[ -n $bare ]]; then echo "FAIL: bsky-backfilld --help: options without a default and an example: $bare"; failures=$((failures + 1)); fi
expect 0 '^bsky-backfilld [0-9]+\.' -- "$daemon" --version
expect 2 "unknown argument '--bogus'" -- "$daemon" --bogus
expect 1 'cannot open the config file' -- "$daemon" --config /nonexistent.yaml
# Numbers on the command line: digits only, in range. '-1' once wrapped to a
# huge batch via strtoul, so the whole list was loaded as one batch.
for bad in -1 0 1e3 '' ' 5' 5x 1000001 18446744073709551616 99999999999999999999999; do
  expect 2 "^bsky-backfill: --batch-size takes a whole number from 1 to 1000000, not '$bad'|^bsky-backfill: --batch-size must be from 1 to 1000000, not '$bad'" \
    -- "$cli" run --dids did:plc:ewvi7nxzyoun6zhxrhs64oiz --batch-size "$bad"
done
expect 2 "^bsky-backfill: --batch-size takes a whole number from 1 to 1000000, not '-1'" -- "$cli" run --dids x --batch-size=-1
expect 2 "--spill-threshold must be from 65536 to 1099511627776, not '1KiB'" -- "$cli" inspect x.car --spill-threshold 1KiB
expect 2 "--spill-threshold must be from 65536 to 1099511627776, not '2TiB'" -- "$cli" inspect x.car --spill-threshold 2TiB
expect 2 "--spill-threshold takes a size such as 64MiB, not '-5'" -- "$cli" inspect x.car --spill-threshold -5
# In range, the number is accepted: the run gets past argument parsing (and fails later, on the bad DID).
expect 1 '"failed":\{"--dids:1":"'"'"'x'"'"': not a DID' -- "$cli" run --dids x --batch-size 1000000 --output-dir "${TMPDIR:-/tmp}/usage-test-$$"
rm -rf "${TMPDIR:-/tmp}/usage-test-$$"
# A record type that names a path is refused before anything is written.
expect 2 "command line: record_types: '/tmp/evil' is neither a record type name" -- "$cli" run --dids x --types post,/tmp/evil
echo "$((checks - failures)) of $checks passed, $failures failed"
[[ $failures -eq 0 ]]
