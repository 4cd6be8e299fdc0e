"""`coreml-updatable validate`: placeholder until its issue lands (replaced by the real command)."""
from __future__ import annotations

from coreml_updatable.errors import UnsupportedConfigError


def add_arguments(parser) -> None:
    parser.add_argument("args", nargs="*")


def run(args) -> int:
    raise UnsupportedConfigError("'validate' is not implemented yet")
