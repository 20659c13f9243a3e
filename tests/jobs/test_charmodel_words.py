"""The word model of ``jobs.charmodel`` (``tokens="words"``) and the text predictor of both
kinds: vocabulary from the training part, perplexity = exp(mean NLL), resume, next tokens."""

import io
import json
import math

import numpy as np
import pytest

from rnnkit.config import ModelConfig, TrainConfig
from rnnkit.data.text import CharVocab
from rnnkit.data.words import UNKNOWN, WordVocab, tokenize
from rnnkit.errors import CheckpointError, ConfigError, DataError
from rnnkit.io.model_files import load, load_with_state, save
from rnnkit.jobs import predicting
from rnnkit.jobs.charmodel import TextPredictor, resume_run, start_run, vocabulary
from rnnkit.jobs.charmodel import predictor as text_predictor
from rnnkit.models.model import Model

RNN = {"cell": "gru", "hidden_size": 12}


@pytest.fixture
def corpus(tmp_path):
    """≈ 2,700 words of little sentences, then a tail naming a zebra (validation only)."""
    rng = np.random.default_rng(0)
    nouns, verbs = ["cat", "dog", "bird", "Cat"], ["sat", "ran", "saw"]
    lines = []
    for _ in range(330):
        n1, n2 = rng.choice(nouns, 2)
        lines.append(f"the {n1} {rng.choice(verbs)} on the {n2}, then it slept.")
    lines += ["a zebra ran."] * 12
    path = tmp_path / "words.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(corpus, out, steps=12, dtype="float32", **options):
    train = {
        "steps": steps,
        "batch_size": 2,
        "seq_len": 8,
        "eval_every": 3,
        "eval_chars": 0,
        "sample_every": 0,
        "checkpoint_every": 4,
        "val_fraction": 0.1,
        **options,
    }
    return start_run(
        [str(corpus)],
        0,
        RNN,
        TrainConfig(**train),
        out,
        tokens="words",
        vocab_size=50,
        min_count=1,
        embedding_dim=6,
        dtype=dtype,
    )


def _fit(run):
    return run.fit(io.StringIO(), io.StringIO(), iter(range(10**6)).__next__)


def test_a_word_run_reads_words_and_its_vocabulary_comes_from_the_training_part(corpus, tmp_path):
    run = _run(corpus, tmp_path / "run")
    vocab = run.vocab
    assert isinstance(vocab, WordVocab) and vocab.tokens[0] == UNKNOWN
    assert {"the", "cat", "Cat", ",", ".", "\n"} <= set(vocab.tokens)
    assert "zebra" not in vocab.tokens and "a" not in vocab.tokens  # only in the held-out tail
    words = tokenize(corpus.read_text())
    n_val = round(len(words) * 0.1)
    assert len(run.val_ids) == n_val and run.val_ids.tolist() == vocab.ids(words[-n_val:]).tolist()
    assert (run.val_ids == 0).sum() == 2 * 12  # each "a" and "zebra" is <unk>
    meta = run.model.meta
    assert meta["tokens"] == "words" and meta["job"] == "train"
    assert meta["preprocessing"]["tokens"] == "words"
    assert WordVocab.from_dict(meta["preprocessing"]["vocab"]) == vocab
    assert WordVocab.from_dict(meta["vocab"]) == vocab
    assert run.model.config.embedding_dim == 6 and run.model.config.vocab_size == vocab.size


def test_the_embedding_of_a_word_model_defaults_to_64(corpus, tmp_path):
    train = TrainConfig(steps=1, batch_size=2, seq_len=8, val_fraction=0.1)
    run = start_run([str(corpus)], 0, RNN, train, None, tokens="words")
    assert run.model.config.embedding_dim == 64
    assert run.model.params["embedding.weight"].shape == (run.vocab.size, 64)


def test_validation_perplexity_is_exp_of_the_mean_nll_of_the_next_words(corpus, tmp_path):
    out = tmp_path / "run"
    run = _run(corpus, out, dtype="float64", batch_size=1)
    result = _fit(run)
    # independently: one pass over the whole validation text, −log softmax at each next word
    ids = run.val_ids.astype(np.int64)
    logits, _, _ = run.model.forward(ids[None, :-1])
    z = logits[0] - logits[0].max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = -log_p[np.arange(ids.size - 1), ids[1:]].mean()
    assert math.isfinite(result["val_perplexity"]) and result["val_perplexity"] > 1
    assert result["val_perplexity"] == pytest.approx(math.exp(nll), rel=1e-9)
    assert result["val_loss"] == pytest.approx(nll, rel=1e-9)
    assert "val_bits_per_char" not in result
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evaluated] == [3, 6, 9, 12]
    for r in evaluated:
        assert r["val_perplexity"] == pytest.approx(math.exp(r["val_loss"]), rel=1e-12)


def test_progress_shows_perplexity_for_words(corpus, tmp_path):
    progress = io.StringIO()
    _run(corpus, None, steps=3).fit(progress, io.StringIO(), iter(range(10**6)).__next__)
    assert "step 3: validation perplexity" in progress.getvalue()
    assert "bits/char" not in progress.getvalue()


def test_a_resumed_word_run_continues_bit_identically(corpus, tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    _fit(_run(corpus, straight))
    _fit(_run(corpus, split, steps=5))
    resumed = resume_run(split, steps=12)
    assert isinstance(resumed.vocab, WordVocab) and resumed.vocab == _run(corpus, None).vocab
    assert _fit(resumed)["steps"] == 12
    a, b = load_with_state(straight / "last")[0], load_with_state(split / "last")[0]
    for name, w in a.params.items():
        np.testing.assert_array_equal(w, b.params[name], err_msg=name)


@pytest.fixture
def word_run(corpus, tmp_path):
    out = tmp_path / "run"
    _fit(_run(corpus, out))
    return out


def _softmax_after(model, ids, newline=None):
    """softmax of the logits after ``ids`` (read after the ``newline`` id when given)."""
    ids = np.asarray(ids if newline is None else [newline, *ids], dtype=np.int64)
    logits = model.forward(ids[None, :])[0][0, -1].astype(np.float64)
    e = np.exp(logits - logits.max())
    return e / e.sum()


def test_next_words_are_the_models_softmax_most_likely_first(word_run):
    predictor = predicting.load(word_run)
    assert isinstance(predictor, TextPredictor) and predictor.tokens == "words"
    assert predictor.job == "train" and predictor.source == word_run / "best"
    vocab = predictor.vocab
    top = predictor.next_tokens("the cat sat on the", k=5)
    p = [q for _, q in top]
    assert len(top) == 5 and p == sorted(p, reverse=True) and 0 < sum(p) <= 1
    newline = vocab.tokens.index("\n")
    ids = vocab.ids(["the", "cat", "sat", "on", "the"])
    expected = _softmax_after(predictor.model, ids, newline)
    every = predictor.next_tokens("the cat sat on the", k=vocab.size)
    assert sum(q for _, q in every) == pytest.approx(1.0, abs=1e-12)
    for token, q in every:
        assert q == pytest.approx(expected[vocab.tokens.index(token)], rel=1e-12)
    assert top == every[:5]
    assert [t for t, _ in every[:5]] == [vocab.tokens[i] for i in np.argsort(-expected)[:5]]


def test_unknown_words_of_a_prompt_read_as_unk(word_run):
    predictor = predicting.load(word_run)
    unk = predictor.vocab.tokens.index(UNKNOWN)
    newline = predictor.vocab.tokens.index("\n")
    expected = _softmax_after(predictor.model, [predictor.vocab.tokens.index("the"), unk], newline)
    got = dict(predictor.next_tokens("the zebra", k=predictor.vocab.size))
    assert got[UNKNOWN] == pytest.approx(expected[unk], rel=1e-12)
    assert predictor.encode("the zebra")[1] == ["zebra"]


def test_a_prompt_is_read_as_the_start_of_a_line(word_run):
    predictor = predicting.load(word_run)
    tokens = predictor.vocab.tokens
    newline, the = tokens.index("\n"), tokens.index("the")
    assert predictor.encode("the")[0].tolist() == [newline, the]
    assert predictor.encode("\nthe")[0].tolist() == [newline, the]  # not a second newline
    assert predictor.encode("  ")[0].tolist() == [newline]
    assert predictor.next_tokens("the") == predictor.next_tokens("\nthe")


def test_predict_file_gives_k_rows_per_prompt_and_counts_unknown_words(word_run, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("the cat\n\n  \nthe zebra and okapi ran\nthe dog saw the\n", "utf-8")
    table = predicting.load(word_run).predict_file(prompts, k=3)
    assert table.columns == ["prompt", "rank", "token", "probability"]
    assert [row[:2] for row in table.rows] == [
        [prompt, rank]
        for prompt in ("the cat", "the zebra and okapi ran", "the dog saw the")
        for rank in (1, 2, 3)
    ]
    predictor = predicting.load(word_run)
    first = [(t.replace("\\n", "\n"), p) for _, _, t, p in table.rows[:3]]
    assert first == predictor.next_tokens("the cat", k=3)
    assert any("3 prompts" in note for note in table.notes)
    assert any("3 word(s)" in note and "okapi, zebra" in note for note in table.notes)
    assert len(table.to_json()["rows"]) == 9


def test_a_sample_continues_the_prompt_with_spaced_words(word_run):
    predictor = predicting.load(word_run)
    text = predictor.sample("the cat", 20, seed=3)
    assert text == predictor.sample("the cat", 20, seed=3)
    assert text.startswith(" ") or text[:1] in ",.\n"
    assert set(tokenize(text)) <= set(predictor.vocab.tokens)


def test_bad_prediction_options_are_config_errors(word_run, tmp_path):
    predictor = predicting.load(word_run)
    for k in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="k must be"):
            predictor.next_tokens("the", k=k)
    prompts = tmp_path / "p.txt"
    prompts.write_text("the\n", "utf-8")
    with pytest.raises(ConfigError, match="takes k only"):
        predictor.predict_file(prompts, horizon=3)
    with pytest.raises(DataError, match="no such file"):
        predictor.predict_file(tmp_path / "missing.txt")


def _char_model(meta):
    vocab = CharVocab.from_text("abc \n")
    config = ModelConfig.for_tokens(vocab.size, cell="gru", hidden_size=4)
    return Model(config, rng=np.random.default_rng(0), meta={"vocab": vocab.to_dict(), **meta})


def test_a_character_model_predicts_characters_and_old_checkpoints_read_as_characters(tmp_path):
    old = save(_char_model({}), tmp_path / "old")  # saved before word models: no "tokens"
    model = load_with_state(old)[0]
    assert vocabulary(model.meta, old) == CharVocab.from_text("abc \n")
    new = save(_char_model({"tokens": "chars", "job": "train"}), tmp_path / "new")
    predictor = text_predictor(load(new), new)
    assert predictor.tokens == "chars"
    newline = predictor.vocab.chars.index("\n")
    expected = _softmax_after(predictor.model, predictor.vocab.encode("ab c"), newline)
    got = predictor.next_tokens("ab c", k=5)
    assert [t for t, _ in got] == [predictor.vocab.chars[i] for i in np.argsort(-expected)]
    assert [p for _, p in got] == pytest.approx(np.sort(expected)[::-1], rel=1e-12)
    prompts = tmp_path / "p.txt"
    prompts.write_text("ab\nxyz\n", "utf-8")
    with pytest.raises(DataError, match="p.txt: line 2: .*'x'"):
        predictor.predict_file(prompts)


def test_a_model_without_a_vocabulary_or_with_unknown_tokens_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no vocabulary"):
        vocabulary({}, tmp_path)
    with pytest.raises(CheckpointError, match="tokens must be"):
        vocabulary({"vocab": {}, "tokens": "bytes"}, tmp_path)


def test_a_character_run_saved_before_word_models_resumes_and_then_predicts(corpus, tmp_path):
    out = tmp_path / "old"
    train = TrainConfig(steps=4, batch_size=2, seq_len=8, eval_every=2, sample_every=0)
    run = start_run([str(corpus)], 0, RNN, train, out)
    assert run.model.meta["tokens"] == "chars" and run.model.meta["job"] == "train"
    for key in ("tokens", "job", "preprocessing"):  # as an older rnnkit saved it
        del run.model.meta[key]
    _fit(run)
    with pytest.raises(CheckpointError, match="not saved by a job that predicts"):
        predicting.load(out)
    resumed = resume_run(out, steps=6)
    assert isinstance(resumed.vocab, CharVocab) and resumed.model.meta["tokens"] == "chars"
    _fit(resumed)
    predictor = predicting.load(out)
    assert predictor.tokens == "chars" and len(predictor.next_tokens("the c", k=3)) == 3
