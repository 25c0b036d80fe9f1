"""``python -m getpatter`` runs the ``getpatter`` command line."""

import sys

from getpatter.cli import main

sys.exit(main())
