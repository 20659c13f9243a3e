"""``rnnkit train``: a character- or word-level model on text files, or on the Python library.

With no files, the corpus is the standard library's own ``.py`` source (tests excluded),
read at run time from this Python's installation; its few non-ASCII characters are dropped
so the vocabulary stays the ≈ 96 characters of code.  The tail is held out for validation.
Progress goes to stderr; samples and the final summary to stdout.  ``--out DIR`` receives
``DIR/last`` (with everything needed to ``--resume``) and ``DIR/best`` (best validation);
without it, a new ``runs/train-<date>-<time>`` named on stderr (``rnnkit.jobs.runs``).

Options come from three places, the first that gives one winning: a flag, the JSON object
of ``--config FILE`` (keys are the option names with underscores: ``{"hidden_size": 128,
"lr": 0.001}``; an unknown key is an error), the default.  SIGINT (Ctrl-C) or SIGTERM
saves ``DIR/last`` and exits with status 128 + the signal's number; a second Ctrl-C stops
at once, leaving the previous checkpoint.

``--cell ffnn`` trains the feed-forward baseline instead: an MLP over the last ``--window``
characters (``--hidden-size`` units in each of ``--num-layers`` hidden layers,
``--nonlinearity`` tanh | relu), which has no memory beyond its window.  ``--baseline``
trains it after the recurrent model, for the same budget on the same text, in
``DIR/baseline``, and prints both validation figures side by side, so one command shows
what memory buys.

``--tokens words`` models the next word instead of the next character: the text is split into
words and punctuation marks (``rnnkit.data.words``), the ``--vocab-size`` most frequent of the
training part seen ``--min-count`` times or more are the vocabulary and the rest read as
``<unk>``; ``--lowercase`` lowercases the text first.  The model reads learned embeddings
(``--embedding-dim``, 64 by default for words) and validation is reported as perplexity,
exp(mean nats per word), where a character model reports bits per character.

Under ``mpiexec -n K`` (the venv's own; ``pip install 'rnnkit[mpi]'``) the K processes train
one model data-parallel: each takes its rows of every global batch
(``rnnkit.training.distributed``, docs/distributed.md).  Process 0 alone prints and writes the
run.  An error that every process meets is reported once; an error in some of them ends all
(MPI_Abort), so none is left waiting (``jobs.runs.on_every_rank``).
"""

import argparse
from dataclasses import fields, replace
from typing import Any

SUMMARY = "train a character-level (or --tokens words: word-level) model"

MODEL_OPTIONS = [
    "cell",
    "hidden_size",
    "num_layers",
    "embedding_dim",
    "dropout",
    "recurrent_dropout",
    "nonlinearity",
    "init",
    "peepholes",
    "forget_bias",
    "chrono_init",
    "layer_norm",
    "reset_after",
    "output_size",
    "jordan_feedback",
    "linear_outputs",
    "dtype",
    "window",
]
"""The model's flags, in the order ``--help`` shows them (``config.CharModelOptions``)."""

TRAIN_OPTIONS = [
    "steps",
    "minutes",
    "seq_len",
    "bptt_steps",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "clip",
    "clip_value",
    "schedule",
    "warmup_steps",
    "min_lr",
    "step_size",
    "gamma",
    "eval_every",
    "eval_chars",
    "val_fraction",
    "sample_length",
    "sample_every",
    "checkpoint_every",
    "nonfinite_lr_factor",
    "max_nonfinite",
    "seed",
]
"""The training flags, in the order ``--help`` shows them (``config.TrainConfig``; the run
flags, ``--on-nonfinite`` among them, are ``options.add_run_options``')."""

DATA_OPTIONS = ["max_chars"]

TEXT_OPTIONS = ["tokens", "vocab_size", "min_count", "lowercase"]
"""What the model reads: characters or words, and how the word vocabulary is made."""

WORD_OPTIONS = ("vocab_size", "min_count", "lowercase")
"""Options of the word model only (an error with --tokens chars)."""

NOT_LAYER_OPTIONS = ("embedding_dim", "dtype", "max_chars", "window", *TEXT_OPTIONS)
"""Model options that are not the recurrent layer's."""


def model_defaults() -> dict[str, Any]:
    """The model and data options with their defaults (``config.CharModelOptions``)."""
    from ..config import CharModelOptions
    from .options import defaults_of

    return defaults_of(CharModelOptions, MODEL_OPTIONS + DATA_OPTIONS + TEXT_OPTIONS)


def recurrent_only() -> tuple[str, ...]:
    """Options the feed-forward baseline has no use for (an error with ``--cell ffnn``)."""
    from ..config import CellOptions

    cell = [f.name for f in fields(CellOptions) if f.name != "nonlinearity"]
    return ("dropout", "recurrent_dropout", *cell)


def add_arguments(p: argparse.ArgumentParser) -> None:
    # every default is None, so that a flag the user gave can be told from one they did not;
    # the real defaults are config.CharModelOptions' and TrainConfig's (shown in the help)
    from ..config import CharModelOptions, TrainConfig
    from .options import add_options, add_run_options

    p.add_argument("files", nargs="*", help="UTF-8 text files (default: the Python stdlib source)")
    p.add_argument(
        "--config",
        metavar="FILE.json",
        help="JSON object of option names (hidden_size, lr, ...); flags override it",
    )
    add_options(p.add_argument_group("tokens"), CharModelOptions, TEXT_OPTIONS)
    m = p.add_argument_group("model")
    add_options(m, CharModelOptions, MODEL_OPTIONS, metavars={"chrono_init": "T_MAX"})
    m.add_argument(
        "--embedding-size",
        dest="embedding_dim",
        type=int,
        default=argparse.SUPPRESS,
        metavar="EMBEDDING_DIM",
        help="the same as --embedding-dim",
    )
    m.add_argument(
        "--baseline",
        action="store_true",
        help="also train the ffnn baseline for the same budget (in DIR/baseline) "
        "and print both validation figures; --minutes M bounds both: M/2 each",
    )
    t = p.add_argument_group("training")
    add_options(t, TrainConfig, TRAIN_OPTIONS)
    add_options(t, CharModelOptions, DATA_OPTIONS)
    add_run_options(
        p.add_argument_group("run"),
        "train",
        resume_may_change="it may change the budget, --lr, --clip and the "
        "reporting and non-finite options",
    )


def run(args: argparse.Namespace) -> int:
    from ..jobs.runs import launch

    return launch(lambda comm: _run(args, comm))


def _run(args: argparse.Namespace, comm) -> int:
    from ..jobs import runs

    out = runs.run_directory(
        "train", args.out, resume=args.resume, overwrite=args.overwrite, comm=comm
    )
    run, baseline = runs.prepare(
        out,
        resume=args.resume,
        overwrite=args.overwrite,
        new=lambda: _prepare(args, out, comm),
        again=lambda: _prepare_resume(args, out, comm),
        comm=comm,
    )
    if baseline is not None and comm.rank == 0:  # two networks: the recurrent one predicts
        from ..jobs.predicting import write_manifest

        write_manifest(out, "train", predicts=None)
        minutes = run.config.minutes
        if minutes and not args.resume:
            import sys

            print(
                f"--minutes {2 * minutes:g} bounds the whole command: {minutes:g} for the "
                f"recurrent model, then {minutes:g} for the ffnn baseline",
                file=sys.stderr,
            )
    c = run.config
    if args.resume and c.steps and run.engine.step >= c.steps:  # re-running a finished resume
        if comm.rank == 0:
            print(
                f"{out}: the run is already at step {run.engine.step:,} of its {c.steps:,}; "
                f"nothing to train (give --steps greater than {c.steps:,} to continue it)"
            )
        return 0
    code, result = _fit(run, out, args.quiet)
    if code:
        return code
    if comm.rank == 0:
        runs.write_result(out, {**result, "samples": [_report(run, result, out)]})
    if baseline is None:
        return 0
    code, base_result = _fit(baseline, out / "baseline", args.quiet)
    if code:
        return code
    if comm.rank == 0:
        sample = _report(baseline, base_result, out / "baseline")
        runs.write_result(out / "baseline", {**base_result, "samples": [sample]})
        print(_comparison([(run, result), (baseline, base_result)]))
    return 0


def _fit(run, out, quiet: bool) -> tuple[int, dict[str, Any]]:
    """(exit status, 0 unless a signal stopped it; the fit's figures)."""
    import sys
    import time

    from ..jobs import describe, runs
    from ..training import TrainingDiverged

    comm = run.engine.comm
    if comm.rank == 0:
        K = f", {comm.size} processes" if comm.size > 1 else ""
        unit = run.vocab.unit
        print(
            f"{describe(run.model)}: vocabulary {run.vocab.size} {unit}s, "
            f"{len(run.stream._ids):,} training and {len(run.val_ids):,} validation "
            f"{unit}s{K}; run directory {out}",
            file=sys.stderr,
        )
    try:
        result = run.fit(None if quiet else sys.stderr, sys.stdout, time.monotonic)
    except TrainingDiverged as e:
        raise runs.diverged(e, "train", out, " --lr SMALLER") from None
    if result["stopped_by"]:
        return runs.stopped(
            result["stopped_by"],
            "train",
            out,
            f"stopped at step {result['steps']}, saved {out / 'last'}",
            comm,
        ), result
    return 0, result


def _report(run, result: dict[str, Any], out) -> str:
    """Print the run's summary line and a sample; the sample."""
    import math

    best = ""
    if result["best_val_loss"] != result["val_loss"] and math.isfinite(result["best_val_loss"]):
        shown = run.figures(result["best_val_loss"])
        value = shown["val_perplexity"] if run.words else shown["val_bits_per_char"]
        best = f"; best {value:.{2 if run.words else 3}f} at step {result['best_step']}"
    if run.words:
        figure = (
            f"validation perplexity {result['val_perplexity']:.2f}"
            f" ({result['val_loss']:.3f} nats/word{best}; uniform: V = {run.vocab.size})"
        )
    else:
        figure = (
            f"validation {result['val_bits_per_char']:.3f} bits/char"
            f"  ({best[2:] + '; ' if best else ''}uniform: log2 V = {run.log2_vocab:.3f})"
        )
    print(f"steps {result['steps']}  {figure}  skipped {result['skipped']}  saved to {out}")
    sample = run.final_sample(100 if run.words else 400)
    print("--- generated text ---")
    print(sample)
    return sample


def _comparison(rows: list) -> str:
    """The models side by side: parameters, steps, validation bits/char (or perplexity)."""
    from ..jobs import describe

    names = [describe(run.model) for run, _ in rows]
    words = rows[0][0].words
    key, title = ("val_perplexity", "perplexity") if words else ("val_bits_per_char", "bits/char")
    width = max(map(len, names))
    lines = [
        "--- what memory buys (same text, same budget) ---",
        f"{'model':<{width}} {'steps':>7} {'validation ' + title:>21}",
    ]
    for name, (_, result) in zip(names, rows):
        lines.append(f"{name:<{width}} {result['steps']:>7} {result[key]:>21.3f}")
    return "\n".join(lines)


def _given(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the model's and data's option kinds, the options given by flags and --config)."""
    from ..config import CharModelOptions, TrainConfig, option_types, read_config_file

    defaults = model_defaults()
    model_kinds = {k: v for k, v in option_types(CharModelOptions).items() if k in defaults}
    kinds = {**model_kinds, **option_types(TrainConfig)}
    given = read_config_file(args.config, kinds) if args.config else {}
    given.update({k: v for k, v in vars(args).items() if k in kinds and v is not None})
    return model_kinds, given


def _prepare_resume(args: argparse.Namespace, out, comm):
    """(the run saved in ``out``, None) with the options given again."""
    from ..errors import ConfigError
    from ..jobs.charmodel import resume_run

    if args.files:
        raise ConfigError("--resume reads the run's own text; leave out the text files")
    if args.baseline:
        raise ConfigError(
            "--baseline trains a new baseline; use it without --resume (or "
            f"resume the baseline itself: --resume --out {out / 'baseline'})"
        )
    return resume_run(out, comm=comm, **_given(args)[1]), None


def _prepare(args: argparse.Namespace, out, comm):
    """(new run, the baseline's new run or None) from flags, --config and the defaults."""
    from ..config import TrainConfig

    model_kinds, given = _given(args)
    options = {**model_defaults(), **{k: v for k, v in given.items() if k in model_kinds}}
    _check_cell_options(options, given, args.baseline)
    train = TrainConfig(**{f.name: given[f.name] for f in fields(TrainConfig) if f.name in given})
    if args.baseline and train.minutes:  # --minutes bounds the command: half for each model
        train = replace(train, minutes=train.minutes / 2)
    run = _start(args.files, options, train, out, comm)
    baseline = None
    if args.baseline:
        ffnn = {**options, "cell": "ffnn", "num_layers": 1}
        baseline = _start(args.files, ffnn, train, out / "baseline", comm)
    return run, baseline


def _check_cell_options(options: dict[str, Any], given: dict[str, Any], baseline: bool) -> None:
    """ConfigError for an option the chosen cell has no use for."""
    from ..errors import ConfigError

    if options["max_chars"] < 0:
        raise ConfigError(f"max_chars must be >= 0, got {options['max_chars']}")
    if options["tokens"] not in ("chars", "words"):
        raise ConfigError(f"--tokens must be chars or words, got {options['tokens']!r}")
    if options["tokens"] == "chars":
        wrong = [k for k in WORD_OPTIONS if k in given]
        if wrong:
            flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
            raise ConfigError(f"{flags}: the word model's options; use them with --tokens words")
    for name in ("vocab_size", "min_count"):
        if options[name] < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {options[name]}")
    if options["cell"] == "ffnn":
        wrong = [k for k in recurrent_only() if k in given]
        if wrong:
            flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
            raise ConfigError(f"{flags}: recurrent options, not for --cell ffnn")
        if baseline:
            raise ConfigError(
                "--baseline compares a recurrent cell with ffnn; choose a recurrent --cell"
            )
    elif "window" in given and not baseline:
        raise ConfigError("--window is the ffnn baseline's; use it with --cell ffnn or --baseline")


def _start(files: list[str], options: dict[str, Any], train, out, comm):
    from ..jobs.charmodel import start_run

    rnn = {k: options[k] for k in model_defaults() if k not in NOT_LAYER_OPTIONS}
    if rnn["cell"] == "ffnn":
        rnn = {k: rnn[k] for k in ("cell", "hidden_size", "num_layers", "nonlinearity")}
    return start_run(
        files,
        options["max_chars"],
        rnn,
        train,
        out,
        embedding_dim=options["embedding_dim"],
        dtype=options["dtype"],
        window=options["window"],
        comm=comm,
        tokens=options["tokens"],
        vocab_size=options["vocab_size"],
        min_count=options["min_count"],
        lowercase=options["lowercase"],
    )
