"""Command-line flags made from configuration dataclasses, so a default is written once.

``add_options(group, cls, names)`` adds ``--field-name`` for each named field of ``cls``:
its type from the annotation (a bool field becomes ``--flag`` / ``--no-flag``), its help the
comment written after the field (``config.field_help``) and the field's default.  Every flag's
parsed default is None, so a job can tell a flag the user gave from one left alone and fill
the rest from the dataclass (or a ``--config`` file) itself.
"""

import argparse
from dataclasses import MISSING, fields
from typing import Any


def add_options(
    group: Any,
    cls: type,
    names: list[str],
    metavars: dict[str, str] | None = None,
    *,
    show_defaults: bool = True,
) -> None:
    """``--name`` flags for ``names`` (fields of the config dataclass ``cls``), in that order
    (``show_defaults=False``: the help leaves out the field's default, for a job whose
    presets choose it)."""
    from ..config import field_help, option_types

    helps, kinds = field_help(cls), option_types(cls)
    defaults = {f.name: f.default for f in fields(cls)}
    for name in names:
        flag = "--" + name.replace("_", "-")
        default = defaults[name]
        shown = show_defaults and default is not MISSING
        text = helps[name] + (f" (default: {_shown(default)})" if shown else "")
        if kinds[name] is bool:
            group.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=text
            )
        else:
            group.add_argument(
                flag, type=kinds[name], default=None, help=text, metavar=(metavars or {}).get(name)
            )


def add_run_options(group: Any, job: str, *, resume_may_change: str) -> None:
    """The run flags every training job shares: ``--out``, ``--resume``, ``--overwrite``,
    ``--on-nonfinite`` (``config.Optimization``'s) and ``--quiet`` (see ``jobs.runs``)."""
    from ..config import Optimization

    add_options(group, Optimization, ["on_nonfinite"])
    group.add_argument(
        "--out",
        metavar="DIR",
        help=f"run directory (default: a new runs/{job}-<date>-<time>, named on stderr)",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help=f"continue the run saved in --out ({resume_may_change})",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in --out even though it holds one (which is lost)",
    )
    group.add_argument("--quiet", action="store_true", help="no progress on stderr")


RUN_FLAGS = ("out", "resume", "overwrite", "quiet")
"""The run flags that are not the job's options (``add_run_options``)."""


def given_options(
    args: argparse.Namespace, names: set[str] | None = None, leave_out: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The job's options the user gave: the flags not left at None, among ``names`` (None:
    all but the run flags and ``leave_out``)."""
    return {
        k: v
        for k, v in vars(args).items()
        if v is not None and (k in names if names is not None else k not in RUN_FLAGS + leave_out)
    }


def defaults_of(cls: type, names: list[str] | None = None) -> dict[str, Any]:
    """{field: default} of a config dataclass (the fields in ``names``, or all with one)."""
    out = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    return out if names is None else {n: out[n] for n in names}


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)
