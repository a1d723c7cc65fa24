"""``python -m ops`` is ``twoway``."""

from ops.cli.main import main

raise SystemExit(main())
