"""How a job looks to people, shared by the CLI and the demo: its summary and exported
files (:mod:`.jobview`), one readable line per history event (:mod:`.progress_lines`), and
writing files for the user without following planted links (:mod:`.safefiles`)."""

__all__: list[str] = []
