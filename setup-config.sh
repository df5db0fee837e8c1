#!/usr/bin/env bash
# Creates config/*.json from config/*.json.example (existing files are kept).
# -t also writes test.<name>.json copies used by `--env test`.
set -euo pipefail
cd "$(dirname "$0")"

with_test=0
while getopts "t" opt; do
  case "$opt" in
    t) with_test=1 ;;
    *) echo "usage: $0 [-t]" >&2; exit 2 ;;
  esac
done

for example in config/*.json.example config/facs/*.json.example; do
  [ -e "$example" ] || continue
  target="${example%.example}"
  if [ ! -e "$target" ]; then
    cp "$example" "$target"
    echo "created $target"
  fi
  if [ "$with_test" = 1 ]; then
    test_target="$(dirname "$target")/test.$(basename "$target")"
    if [ ! -e "$test_target" ]; then
      cp "$example" "$test_target"
      echo "created $test_target"
    fi
  fi
done
