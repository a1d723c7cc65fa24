"""The ``twoway`` command: the parser (:mod:`.main`), one module per command group
(:mod:`.commands`), and the client side they share: the gateway client and its contexts
(:mod:`.client`), printing (:mod:`.output`), progress lines (:mod:`.progress_lines`), how a
job looks to people (:mod:`.jobview`) and files written for the user (:mod:`.safefiles`).

Starting must be fast: nothing here imports the pipeline, FastAPI or pika at the top.
"""

from ops.cli.main import main

__all__ = ["main"]
