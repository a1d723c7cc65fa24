"""``python -m ops`` is ``twoway``."""

from ops.cli import main

raise SystemExit(main())
