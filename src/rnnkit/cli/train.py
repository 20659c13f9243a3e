"""``rnnkit train``: a character-level model on text files, or on the Python standard library.

With no files, the corpus is the standard library's own ``.py`` source (tests excluded),
read at run time from this Python's installation; its few non-ASCII characters are dropped
so the vocabulary stays the ≈ 96 characters of code.  The tail is held out for validation.
Progress goes to stderr; samples and the final summary to stdout.  ``--out DIR`` receives
``DIR/last`` (with everything needed to ``--resume``) and ``DIR/best`` (best validation).
"""

import argparse

SUMMARY = "train a character-level model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", help="UTF-8 text files (default: the Python stdlib source)")
    m = p.add_argument_group("model")
    m.add_argument("--cell", default="lstm",
                   help="elman | jordan | fully_recurrent | lstm | gru (default lstm)")
    m.add_argument("--hidden-size", type=int, default=256, help="units per layer (default 256)")
    m.add_argument("--num-layers", type=int, default=1, help="stacked layers (default 1)")
    m.add_argument("--embedding-dim", type=int, default=0,
                   help="learned character embedding width (default 0: one-hot input)")
    m.add_argument("--dropout", type=float, default=0.0, help="dropout between layers")
    m.add_argument("--recurrent-dropout", type=float, default=0.0,
                   help="variational dropout on the recurrent input (one mask per chunk)")
    m.add_argument("--nonlinearity", default="tanh", help="elman/jordan/frnn: tanh | relu")
    m.add_argument("--init", default="uniform", help="uniform | orthogonal | identity (recurrent weights)")
    m.add_argument("--peepholes", action="store_true", help="lstm: diagonal peephole connections")
    m.add_argument("--forget-bias", type=float, default=0.0, help="lstm: initial forget-gate bias")
    m.add_argument("--layer-norm", action="store_true", help="lstm/gru: layer normalisation")
    m.add_argument("--reset-before", action="store_true",
                   help="gru: apply the reset gate before the recurrent product (Cho et al. v3)")
    m.add_argument("--output-size", type=int, default=0, help="jordan/frnn: output units (default H)")
    m.add_argument("--dtype", default="float32", help="float32 | float64")
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, default=0, help="number of updates (0: use --minutes)")
    t.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget in minutes")
    t.add_argument("--seq-len", type=int, default=100, help="k1: characters per chunk and update")
    t.add_argument("--bptt-steps", type=int, default=0, help="k2 >= k1: steps back-propagated")
    t.add_argument("--batch-size", type=int, default=32, help="parallel streams per batch")
    t.add_argument("--optimizer", default="adam", help="sgd | rmsprop | adagrad | adam | adamw")
    t.add_argument("--lr", type=float, default=2e-3, help="learning rate (default 2e-3)")
    t.add_argument("--momentum", type=float, default=0.0, help="sgd / rmsprop momentum")
    t.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    t.add_argument("--clip", type=float, default=5.0, help="clip the global gradient norm (0: off)")
    t.add_argument("--clip-value", type=float, default=0.0, help="clip each gradient to ±value")
    t.add_argument("--schedule", default="constant", help="constant | step | cosine")
    t.add_argument("--warmup-steps", type=int, default=0, help="cosine: linear warm-up steps")
    t.add_argument("--min-lr", type=float, default=0.0, help="cosine: final learning rate")
    t.add_argument("--step-size", type=int, default=0,
                   help="step: decay every N steps (default: a third of --steps)")
    t.add_argument("--gamma", type=float, default=0.1, help="step: decay factor (default 0.1)")
    t.add_argument("--eval-every", type=int, default=100, help="validate every N steps")
    t.add_argument("--sample-every", type=int, default=500, help="print a sample every N steps (0: never)")
    t.add_argument("--checkpoint-every", type=int, default=500, help="save DIR/last every N steps")
    t.add_argument("--max-chars", type=int, default=0, help="use only the first N characters")
    t.add_argument("--seed", type=int, default=0, help="seed of the run's random generator")
    t.add_argument("--out", default="runs/char", help="run directory (default runs/char)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from ..charmodel import resume_run, start_run
    from ..config import TrainConfig

    out = Path(args.out)
    if args.resume:
        run = resume_run(out, args.steps, args.minutes)
    else:
        run = start_run(args.files, args.max_chars, _rnn_options(args), _train_config(args, TrainConfig),
                        out, embedding_dim=args.embedding_dim, dtype=args.dtype)
    print(f"{run.model.config.rnn.cell} model: {run.model.num_parameters():,} parameters, "
          f"vocabulary {run.vocab.size} characters, {len(run.stream._ids):,} training and "
          f"{len(run.val_ids):,} validation characters", file=sys.stderr)
    result = run.fit(sys.stderr, sys.stdout, time.monotonic)
    print(f"steps {result['steps']}  validation {result['val_bits_per_char']:.3f} bits/char"
          f"  (uniform: log2 V = {run.log2_vocab:.3f})  saved to {out}")
    print("--- generated text ---")
    print(run.final_sample(400))
    return 0


def _rnn_options(args: argparse.Namespace) -> dict:
    return dict(
        cell=args.cell, hidden_size=args.hidden_size, num_layers=args.num_layers,
        dropout=args.dropout, recurrent_dropout=args.recurrent_dropout,
        nonlinearity=args.nonlinearity, init=args.init, peepholes=args.peepholes,
        forget_bias=args.forget_bias, layer_norm=args.layer_norm,
        reset_after=not args.reset_before, output_size=args.output_size,
    )


def _train_config(args: argparse.Namespace, cls):
    return cls(
        steps=args.steps, minutes=args.minutes, batch_size=args.batch_size, seq_len=args.seq_len,
        bptt_steps=args.bptt_steps, optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, clip=args.clip, clip_value=args.clip_value,
        schedule=args.schedule, warmup_steps=args.warmup_steps, min_lr=args.min_lr,
        step_size=args.step_size, gamma=args.gamma, eval_every=args.eval_every,
        sample_every=args.sample_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
    )
