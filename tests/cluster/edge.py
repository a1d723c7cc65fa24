"""The edge host of the cluster test: the sandbox instance and the third parties.

Run in the edge host's namespace as ``python -m tests.cluster.edge OUT PARTNERS``: it
starts the sandbox instance and PARTNERS third-party mutual-TLS endpoints (each with its
own REST message on the instance, trusting the local CA of the deployment in
``TWOWAY_STATE_DIR``), writes what the test needs to OUT (JSON), and serves until killed.
The test reads the instance's tables over the sandbox's control plane (GET /sandbox/dump).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from ops.dev.sandbox import SandboxServer
from ops.dev.thirdparty import ThirdPartyServer
from workers.ca import LocalCa
from workers.config import load_config
from workers.machinery.deps import CaRegistry
from workers.sealing import Sealer


def main(out: Path, partners: int, ip: str) -> None:
    config = load_config()
    ca = CaRegistry(config, Path(os.environ["TWOWAY_STATE_DIR"]), Sealer.from_environment()).get(
        "local"
    )
    assert isinstance(ca, LocalCa)
    servers = [
        ThirdPartyServer([ca.root_pem], hostnames=(ip,), host=ip).start() for _ in range(partners)
    ]
    sandbox = SandboxServer(seed_endpoint=servers[0].url).start(host=ip, port=8080)
    listed = []
    for index, server in enumerate(servers):
        name = f"Partner {index} API"
        sys_id = sandbox.add_rest_message(name, server.url)
        listed.append(
            {
                "index": index,
                "message": name,
                "message_sys_id": sys_id,
                "port": server.port,
                "server_pem": server.server_certificate_pem.decode(),
            }
        )
    info = {
        "sandbox_url": sandbox.url,
        "username": sandbox.username,
        "password": sandbox.password,
        "partners": listed,
    }
    out.write_text(json.dumps(info))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
