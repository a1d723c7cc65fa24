"""A challenge hook for the acme adapter's tests: publishes through pebble-challtestsrv.

Usage (the lego exec convention, after the management URL):
    acme_hook.py MANAGEMENT_URL present|cleanup NAME VALUE
NAME is ``_acme-challenge.<domain>.`` for dns-01 and the challenge URL for http-01.
``TWOWAY_TEST_HOOK_FAIL`` set makes it fail as a broken hook would.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def _post(base: str, path: str, body: dict[str, str]) -> None:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def main(argv: list[str]) -> int:
    base, action, name, value = argv
    if os.environ.get("TWOWAY_TEST_HOOK_FAIL"):
        print(f"cannot reach the DNS API for {name}: {os.environ['TWOWAY_TEST_HOOK_FAIL']}",
              file=sys.stderr)  # fmt: skip
        return 3
    if name.startswith("http://"):
        token = name.rsplit("/", 1)[-1]
        if action == "present":
            _post(base, "/add-http01", {"token": token, "content": value})
        else:
            _post(base, "/del-http01", {"token": token})
    elif action == "present":
        _post(base, "/set-txt", {"host": name, "value": value})
    else:
        _post(base, "/clear-txt", {"host": name})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
