"""``python -m bench``: runs the benchmark suite (see :mod:`bench.run_all`)."""

import sys

from bench.run_all import main

sys.exit(main())
