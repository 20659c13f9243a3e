"""``rnnkit seq2seq reverse|addition``: train an encoder–decoder on a generated task.

Fresh string pairs every update (teacher forcing, Adam, global-norm clipping); a fixed test
set whose sources never appear in training; exact-match accuracy of greedy and beam decoding
on it, and a few examples, to stdout (``--json`` for JSON).  Progress goes to stderr.
"""

import argparse

SUMMARY = "train an encoder-decoder on reversing strings or adding numbers; exact-match accuracy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", choices=["reverse", "addition"], help="the generated task")
    p.add_argument("--cell", default="lstm", choices=["elman", "lstm", "gru"],
                   help="cell of the encoder and the decoder (default lstm)")
    p.add_argument("--hidden-size", type=int, default=128, help="units per layer (default 128)")
    p.add_argument("--embedding-dim", type=int, default=32, help="embedding width (default 32)")
    p.add_argument("--num-layers", type=int, default=1, help="stacked layers (default 1)")
    p.add_argument("--max-len", type=int, default=8, help="reverse: longest string (default 8)")
    p.add_argument("--digits", type=int, default=3, help="addition: most digits per number (3)")
    p.add_argument("--steps", type=int, default=3000, help="most updates (default 3000)")
    p.add_argument("--minutes", type=float, default=0.0,
                   help="most minutes of training (0: no limit)")
    p.add_argument("--batch-size", type=int, default=64, help="pairs per update (default 64)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate (default 3e-3)")
    p.add_argument("--clip", type=float, default=1.0, help="clip the global gradient norm (1)")
    p.add_argument("--beam", type=int, default=4, help="beam width (default 4)")
    p.add_argument("--test-size", type=int, default=1000, help="test pairs (default 1000)")
    p.add_argument("--eval-every", type=int, default=500, help="report every this many updates")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from ..data.synthetic import SEQ2SEQ_TASKS, Seq2SeqVocab
    from ..errors import ConfigError
    from ..seq2seq import Seq2Seq, Seq2SeqConfig

    for name in ("hidden_size", "embedding_dim", "num_layers", "max_len", "digits", "steps",
                 "batch_size", "beam", "test_size", "eval_every"):
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    chars, make_pairs = SEQ2SEQ_TASKS[args.task]
    options = {"max_len": args.max_len} if args.task == "reverse" else {"digits": args.digits}
    vocab = Seq2SeqVocab(chars)
    test_pairs = make_pairs(np.random.default_rng([args.seed, 1]), args.test_size, **options)
    rng = np.random.default_rng([args.seed, 0])
    model = Seq2Seq(Seq2SeqConfig(vocab_size=len(vocab), embedding_dim=args.embedding_dim,
                                  cell=args.cell, hidden_size=args.hidden_size,
                                  num_layers=args.num_layers), rng=rng)

    def pairs(n: int) -> list[tuple[str, str]]:
        return make_pairs(rng, n, **options)

    steps, seconds = _train(model, vocab, pairs, test_pairs, args)
    result = _evaluate(model, vocab, test_pairs, args)
    result = {"task": args.task, "cell": args.cell, "parameters": model.num_parameters(),
              "steps": steps, "seconds": round(seconds, 1), **result}
    print(json.dumps(result, indent=2) if args.json else _format(result))
    return 0


def _out_len(args: argparse.Namespace) -> int:
    """Longest target: the string's length, or one digit more than the longest number."""
    return args.max_len if args.task == "reverse" else args.digits + 1


def _train(model, vocab, pairs, test_pairs, args) -> tuple[int, float]:
    """Adam on fresh pairs (never a test source) until --steps or --minutes; (steps, seconds)."""
    import sys
    import time

    from ..optim import clip_grad_norm, make_optimizer
    from ..seq2seq import exact_match

    held_out = {s for s, _ in test_pairs}
    probe = vocab.batch(test_pairs[:200])
    optimizer = make_optimizer("adam", args.lr)
    start, step = time.monotonic(), 0
    def time_left() -> bool:
        return not args.minutes or time.monotonic() - start < 60 * args.minutes

    while step < args.steps and time_left():
        batch = vocab.batch([p for p in pairs(args.batch_size) if p[0] not in held_out])
        loss, dlogits, cache = model.loss(batch)
        grads = model.backward(cache, dlogits)
        if args.clip:
            clip_grad_norm(grads, args.clip)
        optimizer.step(model.params, grads)
        step += 1
        if step % args.eval_every == 0:
            acc = exact_match(model.greedy(probe.src, probe.src_lengths, _out_len(args)), probe)
            print(f"seq2seq {args.task} step {step} ({time.monotonic() - start:.0f} s): "
                  f"loss {loss:.4f}, greedy exact match on {len(test_pairs[:200])} test pairs "
                  f"{acc.mean():.3f}", file=sys.stderr, flush=True)
    return step, time.monotonic() - start


def _evaluate(model, vocab, test_pairs, args) -> dict:
    """Exact-match accuracy of greedy and beam decoding on the test pairs, and examples."""
    from ..seq2seq import exact_match

    test = vocab.batch(test_pairs)
    greedy = model.greedy(test.src, test.src_lengths, _out_len(args))
    beam = model.beam(test.src, test.src_lengths, _out_len(args), args.beam)
    return {
        "test_pairs": len(test_pairs),
        "greedy_exact_match": float(exact_match(greedy, test).mean()),
        "beam_width": args.beam, "beam_exact_match": float(exact_match(beam, test).mean()),
        "examples": [{"source": s, "target": t, "greedy": vocab.decode(g), "beam": vocab.decode(b)}
                     for (s, t), g, b in zip(test_pairs[:5], greedy, beam)],
    }


def _format(r: dict) -> str:
    lines = [f"seq2seq {r['task']}: {r['cell']}, {r['parameters']} parameters, {r['steps']} steps "
             f"in {r['seconds']:.0f} s, {r['test_pairs']} test pairs",
             f"  exact match, greedy:      {r['greedy_exact_match']:.4f}",
             f"  exact match, beam of {r['beam_width']}:  {r['beam_exact_match']:.4f}"]
    for ex in r["examples"]:
        lines.append(f"  {ex['source']!r:>12} -> {ex['greedy']!r} (beam {ex['beam']!r}, "
                     f"want {ex['target']!r})")
    return "\n".join(lines)
