"""``python -m layerdream.cli ...``: the same as the ``layerdream`` console script."""
import sys

from . import main

sys.exit(main())
