#!/usr/bin/env bash
# --help, --version and bad usage of both executables.
set -u
cli=$1 daemon=$2
failures=0
expect() {  # expect CODE PATTERN -- command...
  local code=$1 pattern=$2; shift 3
  local out; out=$("$@" 2>&1); local got=$?
  if [[ $got -ne $code ]] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $got (want $code), output: $out"; failures=$((failures + 1))
  fi
}
expect 0 '^usage: bsky-backfill <command>' -- "$cli" --help
expect 0 '^bsky-backfill [0-9]+\.[0-9]+\.[0-9]+$' -- "$cli" --version
expect 0 '^usage: bsky-backfill run' -- "$cli" run --help
expect 0 '^usage: bsky-backfill inspect' -- "$cli" inspect --help
expect 2 'missing command' -- "$cli"
expect 2 "unknown command 'frobnicate'" -- "$cli" frobnicate
expect 2 "run: unknown argument '--colour'" -- "$cli" run --colour
expect 2 '--dids needs a value' -- "$cli" run --dids
expect 2 'inspect needs a CAR file' -- "$cli" inspect
expect 2 "--format must be raw or pipeline" -- "$cli" inspect x.car --format xml
expect 2 "takes --key or --did-doc, not both" -- "$cli" inspect x.car --key a --did-doc b
expect 0 '^usage: bsky-backfilld' -- "$daemon" --help
expect 0 '^bsky-backfilld [0-9]+\.' -- "$daemon" --version
expect 2 "unknown argument '--bogus'" -- "$daemon" --bogus
expect 1 'cannot open the config file' -- "$daemon" --config /nonexistent.yaml
echo "$((15 - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
