#!/bin/sh
# Refuse a SAM CLI older than the template needs, naming the version found and why.
# 1.129.0 is the first whose build, local invoke and `validate --lint` know python3.13.
minimum="${SAM_CLI_MINIMUM:-1.129.0}"
sam="${SAM:-sam}"
if ! found="$("$sam" --version 2>/dev/null)"; then
  echo "error: the SAM CLI ('$sam') is not installed or does not run; install aws-sam-cli $minimum or later" >&2
  exit 1
fi
version="$(printf '%s\n' "$found" | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p')"
if [ -z "$version" ]; then
  echo "error: cannot tell the SAM CLI's version from '$found'; $minimum or later is needed" >&2
  exit 1
fi
lowest="$(printf '%s\n%s\n' "$minimum" "$version" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)"
if [ "$lowest" != "$minimum" ]; then
  echo "error: SAM CLI $version is older than $minimum, the first that builds, runs and lints python3.13 functions; upgrade aws-sam-cli" >&2
  exit 1
fi
