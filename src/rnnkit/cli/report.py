"""``rnnkit report DIR [DIR ...]``: one self-contained HTML page of one or several runs.

The page (``rnnkit.reports``) draws the learning curves of every network on shared axes,
tabulates the options that differ between them and their final figures, and shows each
run's results (``RUN/result.json``: confusion matrices, forecasts with intervals, samples)
and pictures.  It needs no network and no script: open it in any browser.

``--html FILE`` (default ``report.html`` in the current directory) is written atomically;
an existing file there that is not an rnnkit report is refused.  ``--png FILE`` also saves
the learning curves as a PNG (matplotlib: the plots extra); ``--tensorboard DIR`` writes
them as TensorBoard event files (``reports.tensorboard``; TensorBoard itself is not needed).
A DIR that holds no run is an error.
"""

import argparse
from pathlib import Path

SUMMARY = "write one HTML page of runs: learning curves, differing options, results"

DEFAULT_HTML = "report.html"
"""Where the page goes without ``--html``: the current directory."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories to report on")
    p.add_argument(
        "--html",
        metavar="FILE",
        default=DEFAULT_HTML,
        help=f"the page to write (default: {DEFAULT_HTML} in the current directory)",
    )
    p.add_argument("--png", metavar="FILE", help="also save the learning curves as a PNG")
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write the curves as TensorBoard event files, one folder per network",
    )


def run(args: argparse.Namespace) -> int:
    from ..reports import read_runs, write
    from ..reports.html import check_replaceable

    if args.png:
        from ..plots import check_available

        check_available()  # before any writing, when matplotlib is missing
    html = Path(args.html)
    check_replaceable(html)  # before reading the runs: a wrong --html fails at once
    runs = read_runs(args.dirs)
    write(runs, html)
    print(f"report written to {html}")
    if args.png:
        from ..reports.png import curves_png
        from . import write_or_warn

        networks = [n for r in runs for n in r.networks]
        if write_or_warn(lambda: curves_png(args.png, networks), f"the curves {args.png}"):
            print(f"curves written to {args.png}")
    if args.tensorboard:
        from ..reports.tensorboard import write_events

        written = write_events(args.tensorboard, [n for r in runs for n in r.networks])
        files = "file" if len(written) == 1 else "files"
        print(f"{len(written)} TensorBoard event {files} written to {args.tensorboard}")
    return 0
