#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter: PATH first, then pyenv's installed versions.
set -u
ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
for p in python3.12 python3.13 python3.14 python3; do
  if command -v "$p" >/dev/null 2>&1 && ok "$p"; then command -v "$p"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])' | sort -V); do
    p="$(pyenv root)/versions/$v/bin/python3"
    if ok "$p"; then echo "$p"; exit 0; fi
  done
fi
echo "error: no Python >= 3.12 found (install python3.12, or set PYTHON=/path/to/python3.12)" >&2
exit 1
