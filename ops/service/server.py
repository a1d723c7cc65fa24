"""Serving the gateway with uvicorn: in the foreground, or in a thread (``twoway up``)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from ops.gateway.state import GatewayState
from ops.service.assembly import create_service
from ops.service.serving import uvicorn_options
from workers.app import App

__all__ = ["GatewayServer"]


class GatewayServer:
    def __init__(
        self, app: App, *, host: str = "127.0.0.1", port: int = 0, state: GatewayState | None = None
    ) -> None:
        self.api = create_service(app, state=state)
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.api, log_config=None, access_log=False, lifespan="off", **uvicorn_options()
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread serving in the background (after ``start``)."""
        return self._thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve(self) -> None:
        """In the foreground, until SIGINT/SIGTERM."""
        self._server.run(sockets=[self._socket])

    def start(self) -> GatewayServer:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name="twoway-gateway",
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()
