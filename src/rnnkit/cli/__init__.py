"""The ``rnnkit`` command: a registry of subcommands, each imported only when it runs.

``main(argv) -> int`` so tests can call it.  Results go to stdout, progress and logs to
stderr.  A known error (``RnnkitError``) prints one line and exits with status 2; the
traceback appears only with ``--debug``.
"""

import argparse
import difflib
import sys
from collections.abc import Callable
from importlib import import_module

COMMANDS = {
    "train": (
        "rnnkit.cli.train",
        "train a character-level model on text files (default: the Python stdlib)",
    ),
    "sample": ("rnnkit.cli.sample", "generate text from a trained character model"),
    "info": ("rnnkit.cli.info", "describe a run (job, options, checkpoints, metrics) or a model"),
    "predict": (
        "rnnkit.cli.predict",
        "predict with a trained run on new data (labels, forecasts past the end, next words)",
    ),
    "forecast": (
        "rnnkit.cli.forecast",
        "forecast a time series; compare with seasonal naive and ARIMA/ETS",
    ),
    "classify": (
        "rnnkit.cli.classify",
        "classify sequences (accuracy, confusion matrix) beside a feed-forward baseline",
    ),
    "experiment": (
        "rnnkit.cli.experiment",
        "run a long-time-lag experiment (adding, irnn, copy, temporal-order) and tabulate",
    ),
    "seq2seq": (
        "rnnkit.cli.seq2seq",
        "train an encoder-decoder on reversing strings or adding numbers; exact-match accuracy",
    ),
    "one-to-many": (
        "rnnkit.cli.one_to_many",
        "generate sequences from one conditioning input (a class or a value): sine waves, words",
    ),
    "export": (
        "rnnkit.cli.export",
        "export a saved model to ONNX (one file) or PyTorch (state dict + module definition)",
    ),
    "bench": (
        "rnnkit.cli.bench",
        "benchmark training, streaming and inference against PyTorch, JAX and onnxruntime",
    ),
    "gradflow": (
        "rnnkit.cli.gradflow",
        "show how the gradient flows back through time, per cell and during training",
    ),
    "influence": (
        "rnnkit.cli.influence",
        "show which earlier inputs a prediction depends on (gradient connectivity)",
    ),
    "report": ("rnnkit.cli.report", "write one HTML page of runs: curves, options, results"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks with hand-written backpropagation through time.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub.add_parser(name, help=summary, add_help=False)
    return parser


def _version() -> str:
    from .. import __version__

    return f"rnnkit {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Run one command; a reader that stops reading (``rnnkit info R | head -1``) ends it quietly.

    Python ignores SIGPIPE, so writing to a closed pipe raises ``BrokenPipeError`` — in a
    ``print`` or in the final flush.  Either way the command stops with status 0 and no message
    (the reader asked for no more), and stdout is pointed at devnull so that the interpreter's
    own flush at exit does not complain again.
    """
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a test's captured stream)
        pass


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None or command not in COMMANDS:
        parser = build_parser()
        if command is not None:
            close = difflib.get_close_matches(command, COMMANDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            parser.error(f"unknown command {command!r}{hint}")
        parser.parse_args(argv)  # handles --help / --version
        parser.print_help(sys.stderr)
        return 2
    index = argv.index(command)
    module = import_module(COMMANDS[command][0])
    sub = argparse.ArgumentParser(prog=f"rnnkit {command}", description=COMMANDS[command][1])
    module.add_arguments(sub)
    args = sub.parse_args(argv[:index] + argv[index + 1 :])
    return _run(module, args, debug)


def _describe(error: BaseException) -> str:
    """One line for a known error: rnnkit's own message, or what the system refused."""
    if isinstance(error, MemoryError):
        return "not enough memory for this model or request; try smaller sizes"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    return str(error)


def write_or_warn(write: Callable[[], object], what: str) -> bool:
    """Call ``write`` (a picture saved after the results were printed); True if it worked.

    A known failure (a read-only or missing directory, a full disk, no matplotlib) is one
    warning line on stderr, not an error: the results it illustrates are already out.
    """
    from ..errors import RnnkitError

    try:
        write()
    except (RnnkitError, MemoryError, OSError) as e:
        print(f"rnnkit: warning: {what} was not saved: {_describe(e)}", file=sys.stderr)
        return False
    return True


def _run(module, args: argparse.Namespace, debug: bool) -> int:
    from ..errors import RnnkitError

    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:
        raise  # the reader closed stdout: main ends quietly
    except (RnnkitError, MemoryError, OSError) as e:
        if debug:
            raise
        print(f"rnnkit: error: {_describe(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
