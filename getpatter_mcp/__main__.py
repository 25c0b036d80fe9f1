"""``python -m getpatter_mcp``: the same as the ``getpatter-mcp`` command."""

from getpatter_mcp.cli import main

raise SystemExit(main())
