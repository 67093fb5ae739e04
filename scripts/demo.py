"""``make demo`` entry point (see local_stack.demo)."""

import sys

from local_stack.demo import main

sys.exit(main())
