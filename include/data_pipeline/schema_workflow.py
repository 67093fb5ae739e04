"""``python -m data_pipeline.schema_workflow``: the original entry point, same options as ``run``."""

from __future__ import annotations

import argparse
import sys

from data_pipeline.cli import add_run_arguments, main


def _main() -> int:
    parser = argparse.ArgumentParser(prog="python -m data_pipeline.schema_workflow")
    add_run_arguments(parser)
    parser.parse_known_args()  # validates options and serves --help
    return main(["run", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(_main())
