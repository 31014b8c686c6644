#!/usr/bin/env bash
# expect.sh CODE REGEX CMD...: runs CMD, passes when its exit code is CODE and its output matches REGEX.
code=$1; regex=$2; shift 2
out=$("$@" 2>&1); rc=$?
echo "$out"
if [ "$rc" != "$code" ]; then echo "expect.sh: exit code $rc, expected $code" >&2; exit 1; fi
if ! grep -Eq -- "$regex" <<<"$out"; then echo "expect.sh: output does not match /$regex/" >&2; exit 1; fi
