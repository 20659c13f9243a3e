"""A run directory's ``last`` and ``best``: every write is all or nothing, whatever fails."""

import errno
import os

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.errors import CheckpointError
from rnnkit.io import atomic, checkpoint
from rnnkit.io.model_files import (
    CHECKPOINTS,
    check_output_dir,
    clear_run,
    load_with_state,
    save,
    save_in_run,
)
from rnnkit.models.model import Model


def _model(seed: int) -> Model:
    config = ModelConfig.for_tokens(5, cell="gru", hidden_size=4)
    return Model(config, rng=np.random.default_rng(seed))


def _params(directory):
    return load_with_state(directory)[0].params


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[n], b[n]) for n in a)


def test_last_points_at_the_newest_checkpoint_and_old_ones_are_removed(tmp_path):
    for step, seed in enumerate([1, 2, 3]):
        save_in_run(_model(seed), tmp_path, "last", step, extra={"step": step})
    assert (tmp_path / "last").is_symlink()
    assert _same(_params(tmp_path / "last"), _model(3).params)
    assert len(list((tmp_path / CHECKPOINTS).iterdir())) == 1


def test_last_and_best_are_kept_side_by_side(tmp_path):
    save_in_run(_model(1), tmp_path, "best", 1)
    save_in_run(_model(2), tmp_path, "last", 2)
    save_in_run(_model(3), tmp_path, "last", 3)
    assert _same(_params(tmp_path / "best"), _model(1).params)
    assert _same(_params(tmp_path / "last"), _model(3).params)
    assert len(list((tmp_path / CHECKPOINTS).iterdir())) == 2


def test_a_directory_written_by_save_is_adopted(tmp_path):
    save(_model(1), tmp_path / "last")
    save_in_run(_model(2), tmp_path, "last", 5)
    assert (tmp_path / "last").is_symlink()
    assert _same(_params(tmp_path / "last"), _model(2).params)


def _fail_at(monkeypatch, call: int, error: OSError) -> list[int]:
    """Make the ``call``-th file-system operation of a save raise ``error``."""
    count = [0]

    def wrap(module, name):
        real = getattr(module, name)

        def failing(*args, **kwargs):
            count[0] += 1
            if count[0] == call:
                raise error
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, failing)

    for module, name in [
        (atomic.os, "fsync"),
        (atomic.os, "replace"),
        (atomic.os, "symlink"),
        (atomic.os, "open"),
        (checkpoint.Path, "mkdir"),
    ]:
        wrap(module, name)
    return count


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EROFS])
def test_a_save_failing_at_any_operation_leaves_the_previous_checkpoint(
    tmp_path, monkeypatch, code
):
    save_in_run(_model(1), tmp_path, "last", 1)
    before = _params(tmp_path / "last")
    operations = 0
    for call in range(1, 40):
        with monkeypatch.context() as m:
            count = _fail_at(m, call, OSError(code, os.strerror(code)))
            try:
                save_in_run(_model(2), tmp_path, "last", 2)
            except CheckpointError as e:
                assert os.strerror(code) in str(e)
                now = _params(tmp_path / "last")  # the previous, or the new if only the
                assert _same(now, before) or _same(now, _model(2).params)  # last fsync failed
            else:
                operations = count[0]
                break
        assert len(list((tmp_path / CHECKPOINTS).iterdir())) == 1  # the other one is gone
    assert operations > 5  # every operation of a save was made to fail once
    assert _same(_params(tmp_path / "last"), _model(2).params)


def test_a_nan_model_is_refused_and_the_previous_checkpoint_kept(tmp_path):
    save_in_run(_model(1), tmp_path, "last", 1)
    broken = _model(2)
    broken.params["head.bias"][0] = np.inf
    with pytest.raises(CheckpointError, match="NaN or Inf"):
        save_in_run(broken, tmp_path, "last", 2)
    assert _same(_params(tmp_path / "last"), _model(1).params)


def test_a_write_interrupted_before_its_manifest_does_not_load(tmp_path, monkeypatch):
    real = atomic.write_new

    def stop_at_manifest(path, data):
        if path.name == checkpoint.MANIFEST_FILE:
            raise KeyboardInterrupt  # as if killed here
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_new", stop_at_manifest)
    with pytest.raises(KeyboardInterrupt):
        save(_model(1), tmp_path / "m")
    with pytest.raises(CheckpointError, match="manifest.json: missing"):
        load_with_state(tmp_path / "m")


def test_a_read_only_directory_is_refused_before_training(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("builtins.open", read_only)
    with pytest.raises(CheckpointError, match="cannot write checkpoints there.*Read-only"):
        check_output_dir(tmp_path / "run", 1000)


def test_too_little_free_space_is_refused_before_training(tmp_path, monkeypatch):
    class Usage:
        free = 10_000_000

    monkeypatch.setattr("shutil.disk_usage", lambda path: Usage)
    check_output_dir(tmp_path, 9_000_000)
    with pytest.raises(CheckpointError, match="10.0 MB free.*need about 20.0 MB"):
        check_output_dir(tmp_path, 20_000_000)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_clear_run_removes_the_links_and_their_checkpoints(tmp_path):
    save_in_run(_model(1), tmp_path, "best", 1)
    save_in_run(_model(1), tmp_path, "last", 1)
    clear_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINTS]
    assert list((tmp_path / CHECKPOINTS).iterdir()) == []
