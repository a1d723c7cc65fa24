"""``python -m ops`` is ``twoway``."""

from .cli import main

raise SystemExit(main())
