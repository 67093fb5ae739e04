"""``python -m dolphin_publisher``."""

from dolphin_publisher.cli import main

raise SystemExit(main())
