"""The experiments' claims at full size (minutes each; ``make test-slow``).

Each trains the cells the claim is about with the experiment's default settings and seed 0,
and checks the criterion on the test set: the cell expected to pass passes, the cell
expected to fail fails.  ``rnnkit experiment NAME`` prints the whole table.
"""

import pytest

from rnnkit.experiments import get_task
from rnnkit.experiments.runner import run_experiment


@pytest.mark.slow
@pytest.mark.parametrize("name", ["adding", "irnn", "copy", "temporal-order"])
def test_the_experiment_claim_holds(name):
    task = get_task(name)
    table = run_experiment(task, list(task.expect), seed=0)
    assert table.claims_hold(), [(r.cell, r.test_metric, r.passed) for r in table.rows]
