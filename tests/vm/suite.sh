#!/bin/bash
# The suites make vmtest runs inside the guest, against the host's build:
# every unit suite, then the integration tests once per backend
# (EPTRACE_TEST_BACKEND; BACKENDS narrows them; PYTEST_K is a -k expression,
# PYTEST_ARGS more arguments, split at spaces).
cd "$(dirname "$0")/../.."
fail=0
for t in build/tests/test_*; do "$t" || fail=1; done
for b in ${BACKENDS:-trampoline tracepoint}; do
	echo "suite: integration tests on the $b backend"
	# shellcheck disable=SC2086
	EPTRACE_TEST_BACKEND=$b /usr/bin/python3 -m pytest -q -p no:cacheprovider \
		-o faulthandler_timeout=600 ${PYTEST_K:+-k "$PYTEST_K"} tests/integration \
		${PYTEST_ARGS:-} || fail=1
done
exit $fail
