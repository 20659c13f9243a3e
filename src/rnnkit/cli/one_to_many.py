"""``rnnkit one-to-many sine|words``: sequences generated from one conditioning input.

A recurrent model whose initial state is set by the condition (``rnnkit.conditioned``) is
trained with teacher forcing on a task the library generates, then generates one sequence
per condition from the same start input, feeding its outputs back — so everything that
tells the sequences apart comes from the condition:

    sine   class k → sin(2π t / P_k), t = 1 … T, P_k evenly spaced in [8, 24] steps;
           ``--condition value``: the condition is the period itself, c = (P − 16) / 8, trained
           on periods drawn from [8, 24], shown at periods in between
    words  class k → the k-th of ``--words`` spelt out, then "." to the end

It prints, per condition, what was generated beside the truth (sine: the root-mean-square
error and both as a line of block characters; words: the word and whether it is exact);
``--plot FILE.png`` draws the sine waves.  Progress goes to stderr.
"""

import argparse

SUMMARY = "generate a sequence from one conditioning input (class or value): sine waves, words"

PERIODS = (8.0, 24.0)
"""Shortest and longest period of the sine task, in steps."""

BLOCKS = " ▁▂▃▄▅▆▇█"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=("sine", "words"), help="what to generate")
    p.add_argument("--condition", choices=("class", "value"), default="class",
                   help="sine: a class id, or the period as a real value (default class)")
    p.add_argument("--classes", type=int, default=4, help="sine: number of classes (default 4)")
    p.add_argument("--words", default="recurrent,networks,remember,sequences",
                   help="words: comma-separated words, one class each")
    p.add_argument("--length", type=int, default=48, help="sine: steps generated (default 48)")
    p.add_argument("--input-noise", type=float, default=0.2,
                   help="sine: std of the noise added to the teacher-forced inputs (default 0.2)")
    p.add_argument("--cell", default="lstm", help="elman | jordan | lstm | gru (default lstm)")
    p.add_argument("--hidden-size", type=int, default=32, help="units (default 32)")
    p.add_argument("--steps", type=int, default=800, help="updates (default 800)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per update")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam's learning rate (default 5e-3)")
    p.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clip")
    p.add_argument("--plot", metavar="FILE.png", help="sine: draw truth and generated waves")
    p.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")


def run(args: argparse.Namespace) -> int:
    import sys

    import numpy as np

    from ..conditioned import Conditioned, fit_conditioned
    from ..errors import ConfigError

    if args.task == "words" and (args.condition != "class" or args.plot):
        raise ConfigError("words are conditioned on their class and not plotted; "
                          "leave out --condition value and --plot")
    if args.seed < 0 or args.length < 1 or args.classes < 1 or args.hidden_size < 1:
        raise ConfigError("--seed must be >= 0 and --length, --classes, --hidden-size >= 1")
    if args.steps < 1 or args.batch_size < 1 or not args.lr > 0 or not args.clip >= 0 \
            or not args.input_noise >= 0:
        raise ConfigError("--steps and --batch-size must be >= 1, --lr > 0, --clip and "
                          "--input-noise >= 0")
    rng = np.random.default_rng(args.seed)
    task = _sine(args) if args.task == "sine" else _words(args.words)
    net = Conditioned(_model_config(args, task), task["condition_size"],
                      condition="vector" if args.condition == "value" else "class", rng=rng)
    c, x, y = task["train"](rng)
    print(f"one-to-many {args.task}: {args.cell} H={args.hidden_size}, "
          f"{net.num_parameters():,} parameters, conditioned on a {args.condition}",
          file=sys.stderr)
    losses = fit_conditioned(net, c, x, y, steps=args.steps, batch_size=args.batch_size,
                             lr=args.lr, clip=args.clip, rng=rng)
    print(f"training loss {losses[0]:.4f} → {np.mean(losses[-20:]):.4f}", file=sys.stderr)
    task["report"](net, args)
    return 0


def _model_config(args: argparse.Namespace, task: dict):
    from ..config import ModelConfig
    from ..layers.recurrent import RecurrentConfig

    if task["vocab"]:
        return ModelConfig.for_tokens(len(task["vocab"]), cell=args.cell,
                                      hidden_size=args.hidden_size)
    rnn = RecurrentConfig(cell=args.cell, input_size=1, hidden_size=args.hidden_size)
    return ModelConfig(rnn=rnn, output_size=1, loss="mse")


# ----------------------------------------------------------------------------- sine waves


def sine_waves(periods, T: int):
    """``[K, T, 1]``: sin(2π t / P) for t = 1 … T, one wave per period."""
    import numpy as np

    t = np.arange(1, T + 1)[None, :]
    return np.sin(2 * np.pi * t / np.asarray(periods, dtype=np.float64)[:, None])[..., None]


def _sine(args: argparse.Namespace) -> dict:
    import numpy as np

    lo, hi = PERIODS
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    T, value = args.length, args.condition == "value"
    shown = np.linspace(lo, hi, args.classes) if not value else np.linspace(lo + 1, hi - 1, 4)

    def train(rng):
        if value:
            periods = rng.uniform(lo, hi, 1024)
            c = ((periods - mid) / half)[:, None].astype(np.float32)
        else:
            c = np.repeat(np.arange(len(shown)), -(-256 // len(shown)))  # class ids
            periods = shown[c]
        y = sine_waves(periods, T).astype(np.float32)
        x = np.concatenate([np.zeros_like(y[:, :1]), y[:, :-1]], axis=1)  # start 0, then y
        # noisy teacher forcing: the net must keep the wave in its state, not read it off its
        # input, or its own small errors, fed back in generation, would carry it off the wave
        x = x + args.input_noise * rng.standard_normal(x.shape).astype(np.float32)
        return c, x, y

    def report(net, args):
        truth = sine_waves(shown, T)
        c = ((shown - mid) / half)[:, None] if value else np.arange(len(shown))
        out = net.generate(c, np.zeros((len(shown), 1), np.float32), T)
        rows = [f"one-to-many sine ({args.condition} condition): every sequence starts from "
                f"input 0; generated outputs are fed back", ""]
        for k, P in enumerate(shown):
            rmse = float(np.sqrt(np.mean((out[k, :, 0] - truth[k, :, 0]) ** 2)))
            name = f"class {k}" if not value else f"value {(P - mid) / half:+.2f}"
            rows += [f"{name} (period {P:.1f}): rmse {rmse:.3f}",
                     f"  truth      {_blocks(truth[k, :, 0])}",
                     f"  generated  {_blocks(out[k, :, 0])}"]
        print("\n".join(rows))
        if args.plot:
            print(f"plot: {_plot(args.plot, shown, truth, out, args.condition)}")

    return {"vocab": "", "condition_size": 1 if value else len(shown), "train": train,
            "report": report}


def _blocks(values) -> str:
    """One block character per value in [−1, 1] (a text picture of a wave)."""
    import numpy as np

    levels = np.clip(np.round((np.asarray(values) + 1) / 2 * (len(BLOCKS) - 1)), 0,
                     len(BLOCKS) - 1)
    return "".join(BLOCKS[int(v)] for v in levels)


def _plot(path: str, periods, truth, out, condition: str):
    from pathlib import Path

    from ..plots import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(len(periods), 1, figsize=(9, 1.6 * len(periods)), dpi=110,
                             sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(truth[k, :, 0], color="black", lw=1.4, label="truth")
        ax.plot(out[k, :, 0], color="tab:red", lw=1.1, ls="--", label="generated")
        ax.set_ylabel(f"P = {periods[k]:.1f}", fontsize=8)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(f"one-to-many: sine waves generated from a {condition} condition")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- words


def _words(spec: str) -> dict:
    import numpy as np

    from ..errors import ConfigError

    words = [w.strip() for w in spec.split(",") if w.strip()]
    if not words or any("." in w for w in words) or len(set(words)) != len(words):
        raise ConfigError(f"--words must be distinct comma-separated words without '.', "
                          f"got {spec!r}")
    vocab = "." + "".join(sorted(set("".join(words))))
    T = max(map(len, words)) + 1
    y = np.array([[vocab.index(ch) for ch in w.ljust(T, ".")] for w in words])
    x = np.concatenate([np.zeros_like(y[:, :1]), y[:, :-1]], axis=1)  # start ".", then y
    classes = np.arange(len(words))

    def train(rng):
        reps = -(-256 // len(words))
        return np.tile(classes, reps), np.tile(x, (reps, 1)), np.tile(y, (reps, 1))

    def report(net, args):
        out = net.generate(classes, np.zeros(len(words), np.int64), T)
        rows = ["one-to-many words (class condition): every sequence starts from '.'; "
                "generated characters are fed back", ""]
        right = 0
        for k, word in enumerate(words):
            text = "".join(vocab[i] for i in out[k]).split(".")[0]
            right += text == word
            rows.append(f"class {k}: {text!r:<24} target {word!r:<20} "
                        f"{'exact' if text == word else 'wrong'}")
        rows += ["", f"exact: {right}/{len(words)}"]
        print("\n".join(rows))

    return {"vocab": vocab, "condition_size": len(words), "train": train, "report": report}
