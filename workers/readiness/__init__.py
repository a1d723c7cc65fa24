"""Read-only answers before a first job: what a job would change (``plan``) and whether
an instance and its integration user are ready (``doctor``). Nothing here writes to an
instance or asks a CA."""
