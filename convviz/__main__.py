"""``python -m convviz`` is the ``convviz`` command."""

import sys

from .cli import main

sys.exit(main())
