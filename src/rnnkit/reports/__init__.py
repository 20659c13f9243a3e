"""Reports of training runs: ``rnnkit report DIR [DIR ...]`` writes one self-contained HTML
page (inline CSS and SVG, pictures as data URIs, no script, nothing fetched) that a browser
opens offline.

What it shows of each run directory (``rnnkit.jobs.runs``) and each network in it (the run
itself, or the directories below it of a job that trains several):

* learning curves from ``metrics.jsonl`` (``training.metrics``): train loss per step, each
  validation metric (``val_loss``, ``val_exact_match``, …), the learning rate and the
  gradient norm; one SVG per quantity, one line per network, on a shared step axis;
* the options: each network's ``last`` holds its job's options (``state["job"]``) and its
  model's configuration (shown as ``model.*``); the table lists those that differ between
  the networks, or all of them for one network;
* the final figures: last step, seconds, last train loss, best ``val_loss`` and its step,
  the last value of every other validation metric;
* the run's results: ``RUN/result.json`` (below) and every ``*.png`` / ``*.svg`` file in
  the run directory or its networks' directories, embedded.

A network whose ``last`` is missing, dangling or unreadable is still reported from its
metrics log, with a note; a directory with no ``last``, ``best`` or ``metrics.jsonl`` in it
or just below it is no run (a ConfigError).

``RUN/result.json``: the job's report as one JSON object — the object its ``--json`` flag
prints.  The page reads these keys, each optional:

    results    a list of objects, one per model: their scalar fields become a table
               (model, accuracy, mae, …); an object with ``confusion`` (a square list of
               lists of counts, rows: true class, columns: predicted) becomes a confusion
               matrix table, its rows and columns named by the top-level ``classes``
               (``rnnkit classify --json``'s report is such an object)
    forecast   an object, or a list of them, drawn as a chart:
               {"history": [y...], "forecast": [ŷ...] (h values after the history),
                "lower": [...], "upper": [...] (optional, h values each: the interval),
                "level": 0.9 (optional: the interval's coverage),
                "truth": [...] (optional, h values), "model": "gru" (optional),
                "dates": [...] (optional: len(history) + h labels of the time axis)}
    samples    a string or a list of strings: generated samples, shown as text

    read_runs      (``runs``) the run directories → ``Run`` objects
    render         (``html``) the page of some runs, as a string
    write          (``html``) the page written atomically to a file
    curves_png     (``png``) the learning curves as one PNG (matplotlib: the plots extra)
    write_events   (``tensorboard``) the curves as TensorBoard event files
"""

from .html import render, write
from .runs import RESULT, Network, Run, read_run, read_runs

__all__ = ["RESULT", "Network", "Run", "read_run", "read_runs", "render", "write"]
