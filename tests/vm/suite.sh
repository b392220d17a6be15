#!/bin/bash
# The suites make vmtest runs inside the guest, against the host's build:
# every unit suite, then the integration tests (PYTEST_ARGS narrows them).
cd "$(dirname "$0")/../.."
fail=0
for t in build/tests/test_*; do "$t" || fail=1; done
# shellcheck disable=SC2086
/usr/bin/python3 -m pytest -q -p no:cacheprovider -o faulthandler_timeout=600 \
	tests/integration ${PYTEST_ARGS:-} || fail=1
exit $fail
