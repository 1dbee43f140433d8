"""``python -m watermark``: the same as the ``watermark`` command."""

import sys

from .cli import main

sys.exit(main())
