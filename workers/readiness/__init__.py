"""Read-only answers before a job changes anything: the checks admission makes of every
request (``admission``, shared with ``plan``), what a job would change (``plan``) and
whether an instance and its integration user are ready (``doctor``). Nothing here writes
to an instance or asks a CA."""

__all__: list[str] = []
