"""The ``coreml-updatable`` command: a thin face over the Python API.

Each subcommand lives in ``coreml_updatable/commands/<name>.py`` with ``add_arguments(parser)`` and
``run(args) -> int``. Nothing heavy (TensorFlow, coremltools) is imported until a command runs, so
``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from ground.errors import CoreMLUpdatableError

COMMANDS: dict[str, str] = {
    "convert": "convert a Keras (.keras/.h5) or ONNX model into an updatable Core ML model",
    "inspect": "list a model's layers, parameters, update settings and training inputs",
    "validate": "check an .mlmodel against every rule Core ML enforces for updatable models",
    "train": "train an updatable .mlmodel on data, as Core ML's MLUpdateTask would on device",
    "evaluate": "print a classifier .mlmodel's accuracy on a data set",
    "predict": "run an .mlmodel on a batch of inputs (.npy) and write its first output (.npy)",
    "import-weights": "copy the trained weights of a device's .mlmodelc back into the .mlmodel it trained",
    "verify": "convert, then train the source and the Core ML model side by side and compare them",
    "federate": "train one updatable .mlmodel over a simulated fleet of devices (Flower: FedAvg, FedAdam, FedYogi)",
}

log = logging.getLogger("coreml_updatable")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coreml-updatable",
        description="Turn Keras and ONNX models into updatable Core ML models, and prove they train.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_chatter_options(parser, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.subcommands = {}       # name -> its parser, for errors shown with the subcommand's usage
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_chatter_options(p, argparse.SUPPRESS)
        _command(name).add_arguments(p)
        parser.subcommands[name] = p
    parser.set_defaults(verbose=False, quiet=False)
    return parser


def _add_chatter_options(parser: argparse.ArgumentParser, default) -> None:
    """-v / -q, accepted before and after the subcommand (``coreml-updatable -q train ...`` or
    ``coreml-updatable train ... -q``); SUPPRESS keeps a subcommand from resetting the top level's."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="log details to stderr (and, for train, the run's training conventions)")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="nothing on stderr but errors: no progress bars, per-epoch lines or warnings")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; an unknown argument is reported with the subcommand's usage, not the top-level one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        message = f"unrecognized arguments: {' '.join(extra)}"
        if any(a.startswith("[") or a.startswith("<") for a in extra):
            message += " (in the README, [...] and <...> mark optional parts and placeholders: leave them out)"
        getattr(parser, "subcommands", {}).get(args.command, parser).error(message)
    return args


def _command(name: str):
    return importlib.import_module(f"coreml_updatable.commands.{name.replace('-', '_')}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 2
    try:
        from ground import quiet as _quiet

        _quiet.import_backends()    # once, for every command: TensorFlow's start-up chatter stays off the terminal
        return int(_command(args.command).run(args) or 0)
    except CoreMLUpdatableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:         # e.g. piped into `head`: stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
