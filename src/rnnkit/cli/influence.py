"""``rnnkit influence``: how strongly each earlier input drives one prediction.

The connectivity of Madsen's "Visualizing memorization in RNNs" (Distill 2019):
‖∂ŷ_t[k]/∂x_s‖ for every earlier step s, from the model's own backward.

* ``rnnkit influence DIR --text TEXT``: a trained character model reads TEXT; the prediction
  after ``--position`` (default: the last character) is explained.  The unit k is the true
  next character when TEXT has one, else ``--target`` or the most probable character.  The
  text is printed with a digit 0–9 under each character (its influence relative to the
  largest); ``--html`` / ``--png`` colour the characters instead.
* ``rnnkit influence --adding``: trains a small LSTM on the adding problem and reports where
  the influence on its final prediction peaks — at the two marked positions when it has
  learned the task.
"""

import argparse

SUMMARY = "show which earlier inputs a prediction depends on (gradient connectivity)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", help="run directory or model directory of a character model")
    p.add_argument("--text", help="the text the model reads")
    p.add_argument(
        "--position",
        type=int,
        default=-1,
        help="explain the prediction made after this character (default: the last)",
    )
    p.add_argument(
        "--target",
        help="character whose logit is explained (default: the true next "
        "character, or the most probable one after the text)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--html", help="write the coloured text to this HTML file")
    out.add_argument("--png", help="write the picture to this PNG file (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    a = p.add_argument_group("adding problem (--adding)")
    a.add_argument(
        "--adding",
        action="store_true",
        help="train a small LSTM on the adding problem and report its influence peaks",
    )
    a.add_argument("--T", type=int, default=30, help="sequence length (default 30)")
    a.add_argument("--steps", type=int, default=1200, help="training updates (default 1200)")
    a.add_argument("--hidden-size", type=int, default=32, help="LSTM units (default 32)")
    a.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    a.add_argument("--test-size", type=int, default=256, help="test sequences (default 256)")
    a.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    a.add_argument(
        "--on-nonfinite",
        choices=("skip", "reduce-lr", "stop"),
        help="a NaN/Inf loss or gradient in training: skip the update (default), "
        "skip it and lower the rate, or stop with an error",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    if args.png:
        from ..plots import check_available

        check_available()  # before any work, not after, when matplotlib is missing
    if args.adding:
        if args.html:
            raise ConfigError("--adding draws a PNG (--png), not HTML")
        return _run_adding(args)
    if not args.dir or args.text is None:
        raise ConfigError("give a model directory and --text TEXT, or --adding")
    return _run_text(args)


# -- a character model ------------------------------------------------------------------------


def _run_text(args: argparse.Namespace) -> int:
    from ..diagnostics.influence import top_positions
    from ..jobs.influence import text_influence
    from .info import model_dir

    found = text_influence(model_dir(args.dir), args.text, args.position, args.target)
    text, values, target, t = found.text, found.values, found.target, found.position
    if args.html:
        from ..plots.influence import text_html

        text_html(args.html, text, values, target)
    if args.png:
        from ..plots.influence import text_png

        text_png(args.png, text, values, target)
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "text": text,
                    "position": t,
                    "target": target,
                    "influence": [float(v) for v in values],
                },
                indent=2,
            )
        )
        return 0
    print(f"influence of each character on the logit of {target!r} predicted after position {t}")
    print(_render(text, values))
    print("most influential:")
    for s in top_positions(values, min(10, len(values))):
        print(f"  {int(s):5d}  {text[s]!r:6}  {values[s]:.4g}  ({values[s] / values.max():.2f})")
    for name in ("html", "png"):
        if getattr(args, name):
            print(f"written to {getattr(args, name)}")
    return 0


def _render(text: str, values, width: int = 64) -> str:
    """The text in rows of ``width`` characters, each row followed by its digits 0–9."""
    import numpy as np

    from ..plots.influence import relative, visible

    digits = "".join(str(int(d)) for d in np.rint(9 * relative(values)))
    shown = "".join(visible(c) for c in text)
    rows = []
    for a in range(0, len(shown), width):
        rows += [shown[a : a + width], digits[a : a + width]]
    return "\n".join(rows)


# -- the adding problem -----------------------------------------------------------------------


def _run_adding(args: argparse.Namespace) -> int:
    from ..data.synthetic import ADDING_TOLERANCE
    from ..jobs.influence import AddingSetup, adding_influence

    given = {} if args.on_nonfinite is None else {"on_nonfinite": args.on_nonfinite}
    setup = AddingSetup(
        T=args.T,
        steps=args.steps,
        hidden_size=args.hidden_size,
        lr=args.lr,
        test_size=args.test_size,
        seed=args.seed,
        **given,
    )
    result, values, marks = adding_influence(setup)
    if args.png:
        from ..plots.influence import adding_png

        adding_png(args.png, values, marks)
    if args.json:
        import json

        print(json.dumps(result, indent=2))
        return 0
    example = result["example"]
    print(
        f"LSTM({args.hidden_size}) on the adding problem, T={args.T}, {args.steps} updates: "
        f"{100 * result['test_accuracy']:.1f}% of {args.test_size} test sequences within "
        f"{ADDING_TOLERANCE}"
    )
    print(
        f"the two largest influences on the prediction sit at the two marked positions in "
        f"{100 * result['top2_at_marks']:.1f}% of test sequences"
    )
    print(
        f"mean influence at a marked position / at an unmarked one: "
        f"{result['marked_to_unmarked_ratio']:.1f}"
    )
    top = ", ".join(f"{s} ({values[s]:.3g})" for s in example["top"])
    print(f"example: marks at {example['marks']}; largest influences at {top}")
    if args.png:
        print(f"written to {args.png}")
    return 0
