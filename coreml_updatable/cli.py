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
from ground.errors import CoreMLUpdatableError, from_os_error, out_of_memory
from ground.safe_text import SafeStream

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
        p.add_argument("--max-bytes", metavar="SIZE", default=None,
                       help="largest array, archive member or input batch a file may declare before it is read "
                            "(default 4G, or $COREML_UPDATABLE_MAX_BYTES); e.g. 16G")
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
    """Run one command; every user's mistake and every refusal of the system ends in one message and
    exit status 1 or 2 (130 after Ctrl-C, 143 after SIGTERM), never a traceback."""
    parser = build_parser()
    args = parse(parser, argv)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)   # names from files: escaped
    previous_term = _catch_sigterm()
    try:
        return _run(parser, args)
    finally:
        sys.stdout.flush()
        sys.stdout, sys.stderr = streams
        if previous_term is not None:
            import signal

            signal.signal(signal.SIGTERM, previous_term)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.command:
        parser.print_help()
        return 2
    try:
        from ground import limits
        from ground import quiet as _quiet

        if args.max_bytes is not None:
            limits.set_max_bytes(args.max_bytes)
        _quiet.import_backends()    # once, for every command: TensorFlow's start-up chatter stays off the terminal
        return int(_command(args.command).run(args) or 0)
    except CoreMLUpdatableError as exc:
        return _fail(exc)
    except KeyboardInterrupt as exc:
        terminated = str(exc) == "terminated"
        _own_line("terminated" if terminated else "interrupted")
        return 143 if terminated else 130
    except BrokenPipeError:         # e.g. piped into `head`: stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:          # the system refused (permission, disk full, ...): where and why
        return _fail(from_os_error(exc))
    except MemoryError:
        return _fail(out_of_memory())
    finally:
        from ground import limits

        limits.set_max_bytes(None)


def _fail(exc: CoreMLUpdatableError) -> int:
    _own_line(f"error: {exc}")
    return exc.exit_code


def _own_line(text: str) -> None:
    """Print ``text`` to stderr on a line of its own (after a progress bar's unfinished line)."""
    sys.stdout.flush()
    if not getattr(sys.stderr, "at_line_start", True):
        sys.stderr.write("\n")
    print(text, file=sys.stderr)


def _catch_sigterm():
    """SIGTERM raises KeyboardInterrupt('terminated') so that clean-ups (temporaries) run."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt("terminated")

    return signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
