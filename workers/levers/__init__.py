"""The levers on a job, pulled by operators, CA callbacks and the periodic daemons.

Replay and cancel, resume (the CA's and the third party's), rollback and its undo steps,
renewal, and the daemons that pull levers on a schedule: the poller, the sweeper and the
scheduler. A lever operates an assembled :class:`workers.app.App`.
"""

__all__: list[str] = []
