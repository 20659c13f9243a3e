"""``rnnkit train``, ``sample`` and ``info`` end to end, through ``main(argv)``."""

import json

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.io.model_files import load_with_state
from rnnkit.jobs.runs import LOCK_NAME

SMALL = [
    "--hidden-size",
    "16",
    "--seq-len",
    "20",
    "--batch-size",
    "4",
    "--eval-every",
    "5",
    "--sample-every",
    "0",
    "--checkpoint-every",
    "5",
]


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 4000)), encoding="utf-8")
    return path


def test_train_then_sample_then_info(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "30", "--out", str(out), *SMALL]) == 0
    printed = capsys.readouterr()
    assert "validation" in printed.out and "generated text" in printed.out
    assert "bits/char" in printed.err  # progress goes to stderr
    assert (out / "last" / "model.safetensors").exists() and (out / "best").is_dir()
    assert main(["sample", str(out), "--prime", "def", "--length", "40", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("def") and len(first) == len("def") + 40 + 1
    assert main(["sample", str(out), "--prime", "def", "--length", "40", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first  # same seed, same text
    assert main(["info", str(out)]) == 0
    assert "lstm" in capsys.readouterr().out


def test_resumed_run_ends_bit_identical_to_an_uninterrupted_one(text_file, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = [
        str(text_file),
        *SMALL,
        "--bptt-steps",
        "30",
        "--dropout",
        "0.1",
        "--num-layers",
        "2",
    ]
    assert main(["train", *common, "--steps", "20", "--out", str(straight)]) == 0
    assert main(["train", *common, "--steps", "10", "--out", str(split)]) == 0
    assert main(["train", "--resume", "--steps", "20", "--out", str(split)]) == 0
    capsys.readouterr()
    a = rnnkit.load(straight / "last").state_dict()
    b = rnnkit.load(split / "last").state_dict()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_known_errors_print_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n" * 10)
    assert main(["train", str(bad), "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latin1.txt" in err[0] and "line 1" in err[0]
    assert main(["sample", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("rnnkit: error:")


def test_sample_names_characters_outside_the_vocabulary(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--prime", "zebra€"]) == 2
    assert "€" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bad input


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error:"), err
    return err[0]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--hidden-size", "-3"], "hidden_size must be > 0"),
        (["--lr", "0"], "lr must be > 0"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--seq-len", "100000"], "too short for batch_size=4 streams of seq_len+1=100001"),
        (["--batch-size", "0"], "batch_size must be > 0"),
        (["--forget-bias", "inf"], "forget_bias must be a finite number"),
        (["--chrono-init", "2"], "chrono_init must be 0 (off) or >= 3"),
        (["--cell", "tree"], "unknown cell 'tree'"),
        (["--max-chars", "-1"], "max_chars must be >= 0"),
        (["--on-nonfinite", "stop", "--nonfinite-lr-factor", "2"], "nonfinite_lr_factor"),
    ],
)
def test_nonsensical_options_are_one_line_and_exit_2(text_file, tmp_path, capsys, extra, message):
    argv = ["train", str(text_file), "--steps", "2", "--out", str(tmp_path / "r"), *SMALL, *extra]
    assert main(argv) == 2
    assert message in _one_error_line(capsys)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "hold no text"),
        (b"ab", "too short"),
        (b"ok\n\xff\xfe", "line 2"),
    ],
)
def test_bad_texts_are_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    assert main(["train", str(path), "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    assert message in _one_error_line(capsys)


def test_config_file_sets_options_and_flags_override_it(text_file, tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"hidden_size": 12, "cell": "gru", "steps": 3}))
    out = tmp_path / "run"
    argv = ["train", str(text_file), "--config", str(config), "--out", str(out), *SMALL]
    assert main([*argv, "--steps", "2"]) == 0
    model, state = load_with_state(out / "last")
    # SMALL's --hidden-size 16 overrides the file's 12; the file's cell stays
    assert model.config.rnn.hidden_size == 16 and model.config.rnn.cell == "gru"
    assert state["step"] == 2
    config.write_text(json.dumps({"hiden_size": 12}))
    capsys.readouterr()
    assert main([*argv, "--overwrite"]) == 2
    assert "'hiden_size' (did you mean 'hidden_size'?)" in _one_error_line(capsys)


def test_chrono_init_sets_the_gate_biases_of_the_trained_model(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        str(text_file),
        "--steps",
        "1",
        "--out",
        str(out),
        "--cell",
        "gru",
        "--chrono-init",
        "40",
        *SMALL,
    ]
    assert main(argv) == 0
    model, _ = load_with_state(out / "last")
    assert model.config.rnn.chrono_init == 40
    H = model.config.rnn.hidden_size
    b_z = model.params["rnn.bias_ih_l0"][H : 2 * H]  # the update gate's bias: log U(1, T_max − 1)
    assert np.all(b_z > -0.1) and np.all(b_z < np.log(39) + 0.1) and b_z.std() > 0.3


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\0" * 5000, "t.txt: line 1, column 1 (byte offset 0): a NUL byte"),
        (b"x" * 5000, "t.txt: the text holds one distinct character ('x', 5,000 times)"),
    ],
)
def test_binary_or_one_character_texts_are_refused_before_training(
    tmp_path, capsys, content, message
):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    assert main(["train", str(path), "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    assert message in _one_error_line(capsys)
    left = {p.name for p in (tmp_path / "r").iterdir()} if (tmp_path / "r").exists() else set()
    assert left <= {LOCK_NAME}  # nothing of a run: at most the writer's lock file


def test_max_chars_that_leave_one_distinct_character_are_refused(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("a" * 3000 + "b" * 3000, encoding="utf-8")
    argv = ["train", str(path), "--steps", "1", "--out", str(tmp_path / "r"), *SMALL]
    assert main([*argv, "--max-chars", "2000"]) == 2
    assert "the first 2,000 characters (--max-chars)" in _one_error_line(capsys)


def test_a_resume_to_fewer_steps_than_done_is_refused_naming_both(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "6", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "4", "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "already at step 6, past a budget of 4 steps" in line and "greater than 6" in line


@pytest.mark.parametrize("extra", [["--steps", "6"], []], ids=["same_steps", "saved_budget"])
def test_resuming_a_finished_run_says_so_and_trains_nothing(text_file, tmp_path, capsys, extra):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "6", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    before = load_with_state(out / "last")
    assert main(["train", "--resume", *extra, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out == (
        f"{out}: the run is already at step 6 of its 6; nothing to train "
        "(give --steps greater than 6 to continue it)\n"
    )
    assert "nan" not in printed.out + printed.err
    after = load_with_state(out / "last")
    assert after[1]["step"] == 6
    assert all(np.array_equal(w, after[0].params[n]) for n, w in before[0].params.items())
    assert main(["train", "--resume", "--steps", "7", "--out", str(out)]) == 0
    assert "steps 7  validation" in capsys.readouterr().out


def test_resume_and_overwrite_together_are_refused_and_the_run_is_kept(
    text_file, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    before = rnnkit.load(out / "last").state_dict()
    assert main(["train", "--resume", "--overwrite", "--steps", "4", "--out", str(out)]) == 2
    assert "--resume" in (line := _one_error_line(capsys)) and "--overwrite" in line
    after = rnnkit.load(out / "last").state_dict()
    assert all(np.array_equal(w, after[n]) for n, w in before.items())


def test_a_new_run_does_not_overwrite_an_existing_one_unasked(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]
    assert main(argv) == 0
    before = rnnkit.load(out / "last").state_dict()
    capsys.readouterr()
    assert main([*argv, "--seed", "9"]) == 2
    assert "already holds a run" in _one_error_line(capsys)
    assert all(np.array_equal(w, rnnkit.load(out / "last").params[n]) for n, w in before.items())
    assert main([*argv, "--seed", "9", "--overwrite"]) == 0


def test_a_resume_may_lower_the_rate_but_not_change_the_model(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--hidden-size", "8", "--out", str(out)]) == 2
    assert "cannot change hidden_size" in _one_error_line(capsys)
    assert main(["train", "--resume", "--steps", "4", "--lr", "1e-4", "--out", str(out)]) == 0
    assert load_with_state(out / "last")[1]["job"]["lr"] == 1e-4


@pytest.mark.parametrize("damage", ["truncate", "tamper", "other_model", "not_a_checkpoint"])
def test_damaged_checkpoints_are_one_line_for_every_command(text_file, tmp_path, capsys, damage):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    for name in ("last", "best"):
        folder = (out / name).resolve()
        weights = folder / "model.safetensors"
        if damage == "truncate":
            weights.write_bytes(weights.read_bytes()[:100])
        elif damage == "tamper":
            data = bytearray(weights.read_bytes())
            data[-1] ^= 1
            weights.write_bytes(bytes(data))
        elif damage == "other_model":
            config = json.loads((folder / "config.json").read_text())
            config["model"]["rnn"]["hidden_size"] = 7
            (folder / "config.json").write_text(json.dumps(config))
        else:
            for f in folder.iterdir():
                f.unlink()
            (folder / "notes.txt").write_text("hello")
    for argv in (
        ["sample", str(out)],
        ["info", str(out)],
        ["train", "--resume", "--steps", "4", "--out", str(out)],
    ):
        assert main(argv) == 2
        _one_error_line(capsys)


def test_a_priming_text_outside_the_vocabulary_is_named(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--prime", "Zebra"]) == 2
    assert "'Z'" in _one_error_line(capsys)
    assert main(["info", str(text_file)]) == 2
    _one_error_line(capsys)


def test_resume_without_a_run_says_so(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "holds no run to resume" in _one_error_line(capsys)


@pytest.mark.parametrize("policy, status", [("stop", 2), ("skip", 0), ("reduce-lr", 0)])
def test_a_nan_loss_is_handled_as_the_flag_says(
    text_file, tmp_path, capsys, monkeypatch, policy, status
):
    from rnnkit.training import bptt

    real, calls = bptt.objective, []

    def objective(model, y, targets, mask=None):
        calls.append(1)
        loss, dy = real(model, y, targets, mask)
        return (float("nan"), dy) if len(calls) == 4 else (loss, dy)

    monkeypatch.setattr(bptt, "objective", objective)
    out = tmp_path / "run"
    argv = [
        "train",
        str(text_file),
        "--steps",
        "6",
        "--out",
        str(out),
        *SMALL,
        "--on-nonfinite",
        policy,
    ]
    assert main(argv) == status
    printed = capsys.readouterr()
    if policy == "stop":
        assert "loss is nan at step 3" in printed.err.strip().splitlines()[-1]
    else:
        assert "skipped 1" in printed.out
    model, state = load_with_state(out / "last")
    assert state["step"] == (3 if policy == "stop" else 6)
    assert all(np.isfinite(w).all() for w in model.params.values())


# ----------------------------------------------------------------------------- the ffnn baseline


def test_the_ffnn_baseline_trains_samples_resumes_and_describes_itself(
    text_file, tmp_path, capsys
):
    from rnnkit.models.ffnn import FFNN

    out = tmp_path / "run"
    argv = ["train", str(text_file), "--cell", "ffnn", "--window", "5", *SMALL]
    assert main([*argv, "--steps", "10", "--out", str(out)]) == 0
    assert "bits/char" in capsys.readouterr().out
    model, state = load_with_state(out / "last")
    assert isinstance(model, FFNN) and model.config.window == 5 and state["step"] == 10
    assert main(["train", "--resume", "--steps", "20", "--out", str(out)]) == 0
    straight = tmp_path / "straight"
    assert main([*argv, "--steps", "20", "--out", str(straight)]) == 0
    a, b = rnnkit.load(out / "last"), rnnkit.load(straight / "last")
    for name, w in a.params.items():
        np.testing.assert_array_equal(w, b.params[name], err_msg=name)
    capsys.readouterr()
    assert main(["sample", str(out), "--prime", "def", "--length", "30"]) == 0
    assert len(capsys.readouterr().out) == len("def") + 30 + 1
    assert main(["info", str(out)]) == 0
    assert "ffnn (feed-forward baseline), window 5" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)["model"]  # a run: {"run": …, "model": …}
    assert desc["cell"] == "ffnn" and desc["window"] == 5 and desc["hidden_sizes"] == [16]


def test_baseline_trains_the_ffnn_beside_the_recurrent_model_and_compares(
    text_file, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = [
        "train",
        str(text_file),
        "--steps",
        "6",
        "--out",
        str(out),
        "--baseline",
        "--window",
        "4",
        *SMALL,
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = printed[printed.index("what memory buys") :].splitlines()
    assert table[2].startswith("lstm H=16") and table[3].startswith("ffnn window=4")
    assert all(float(line.split()[-1]) > 0 for line in table[2:4])
    assert rnnkit.load(out / "baseline" / "best").config.window == 4
    assert main(argv) == 2
    assert "already holds a run" in _one_error_line(capsys)
    assert main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--cell", "ffnn", "--peepholes"], "--peepholes: recurrent options, not for --cell ffnn"),
        (["--cell", "ffnn", "--dropout", "0.1"], "--dropout: recurrent options"),
        (["--cell", "ffnn", "--window", "0"], "window must be an integer >= 1"),
        (["--cell", "ffnn", "--baseline"], "choose a recurrent --cell"),
        (["--window", "3"], "--window is the ffnn baseline's"),
    ],
)
def test_options_the_chosen_model_cannot_use_are_one_line(
    text_file, tmp_path, capsys, extra, message
):
    argv = ["train", str(text_file), "--steps", "2", "--out", str(tmp_path / "r"), *SMALL, *extra]
    assert main(argv) == 2
    assert message in _one_error_line(capsys)


def test_a_resume_refuses_baseline(text_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--steps", "2", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--baseline", "--out", str(out)]) == 2
    assert "--baseline trains a new baseline" in _one_error_line(capsys)


def test_every_flag_default_and_help_comes_from_the_configuration_dataclasses(capsys):
    from dataclasses import fields

    from rnnkit.cli.train import model_defaults
    from rnnkit.config import CharModelOptions, TrainConfig, field_help
    from rnnkit.jobs.charmodel import DEFAULT_WINDOW

    assert model_defaults()["window"] == DEFAULT_WINDOW == CharModelOptions().window
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    helps = {**field_help(TrainConfig), **field_help(CharModelOptions)}
    for cls in (TrainConfig, CharModelOptions):
        for f in fields(cls):
            assert helps[f.name], f"{cls.__name__}.{f.name} has no comment"
    for name in ("hidden_size", "lr", "on_nonfinite", "peepholes", "window"):
        flag = "--" + name.replace("_", "-")
        assert flag in text and " ".join(helps[name].split()) in text, name
    assert "(default: 256)" in text and "(default: 0.002)" in text


def test_minutes_with_baseline_bounds_the_whole_command(text_file, tmp_path, capsys):
    """``--minutes M --baseline``: each model gets M/2, saved with its run, and said."""
    out = tmp_path / "run"
    argv = ["train", str(text_file), "--steps", "4", "--minutes", "3", "--baseline"]
    assert main([*argv, "--out", str(out), *SMALL]) == 0
    err = capsys.readouterr().err
    assert "--minutes 3 bounds the whole command: 1.5 for the recurrent model, then 1.5" in err
    for d in (out, out / "baseline"):
        assert load_with_state(d / "last")[1]["job"]["minutes"] == 1.5
