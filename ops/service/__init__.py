"""The HTTP service as production runs it: the gateway's routers and the console in one
ASGI application, served by uvicorn (:mod:`.server`, :mod:`.serving`), built per process
from the environment (:mod:`.asgi`, :mod:`.environment`)."""

__all__: list[str] = []
