"""The encoder–decoder: its backward against finite differences and PyTorch, and its decoders."""

import numpy as np
import pytest

from rnnkit.data.synthetic import BOS, EOS, PAD, Seq2SeqVocab, reverse_pairs
from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ConfigError
from rnnkit.models.seq2seq import (
    Seq2Seq,
    Seq2SeqConfig,
    decoder_inputs,
    decoder_targets,
    exact_match,
)
from tests.conftest import FD_RTOL, TORCH_ATOL, torch_or_skip

VOCAB = Seq2SeqVocab("abcd")


def _model(rng, cell="lstm", layers=1, dtype="float64", H=4):
    config = Seq2SeqConfig(
        vocab_size=len(VOCAB),
        embedding_dim=3,
        hidden_size=H,
        cell=cell,
        num_layers=layers,
        dtype=dtype,
    )
    return Seq2Seq(config, rng=rng)


def _batch(rng, n=3):
    return VOCAB.batch(reverse_pairs(rng, n, min_len=1, max_len=4, chars=VOCAB.chars))


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 1), ("elman", 2)])
def test_backward_matches_finite_differences(cell, layers, rng):
    model, batch = _model(rng, cell, layers), _batch(rng)
    logits, cache = model.forward(batch)
    R = rng.standard_normal(logits.shape)  # L = Σ R ⊙ logits reaches every logit
    grads = model.backward(cache, R)

    def loss():
        return float((model.forward(batch)[0] * R).sum())

    errors = check_gradients(loss, model.params, grads)
    assert max(errors.values()) < FD_RTOL, errors


def test_loss_gradient_matches_finite_differences_with_padding_masked(rng):
    model, batch = _model(rng, "gru"), _batch(rng)
    assert (batch.src == PAD).any() and (batch.tgt == PAD).any()  # padding is exercised
    loss, dlogits, cache = model.loss(batch)
    grads = model.backward(cache, dlogits)
    errors = check_gradients(lambda: model.loss(batch)[0], model.params, grads)
    assert max(errors.values()) < FD_RTOL, errors


def test_source_padding_does_not_change_the_encoding(rng):
    model = _model(rng)
    src, lengths = VOCAB.pad(["abc", "d"])
    state, _ = model.encode(src, lengths)
    alone, _ = model.encode(src[1:, :1], lengths[1:])
    np.testing.assert_allclose(state[0][:, 1], alone[0][:, 0], rtol=1e-12)


def test_teacher_forcing_shifts_targets_and_ends_each_with_eos():
    tgt, lengths = VOCAB.pad(["ab", "c"])
    a, b, c = VOCAB.encode("abc")
    np.testing.assert_array_equal(decoder_inputs(tgt), [[BOS, a, b], [BOS, c, PAD]])
    targets, mask = decoder_targets(tgt, lengths)
    np.testing.assert_array_equal(targets, [[a, b, EOS], [c, EOS, PAD]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 1, 0]])


@pytest.mark.torch
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_backward_matches_torch_autograd(cell, rng):
    torch = torch_or_skip()
    from rnnkit.io.torch_exchange import to_torch

    model, batch = _model(rng, cell, layers=2), _batch(rng, n=4)
    loss, dlogits, cache = model.loss(batch)
    grads = model.backward(cache, dlogits)

    t = {n: torch.tensor(w, requires_grad=True) for n, w in model.params.items()}
    encoder, decoder = to_torch(model.encoder), to_torch(model.decoder.rnn)
    enc_params = dict(encoder.named_parameters())
    dec_params = dict(decoder.named_parameters())
    src = torch.tensor(batch.src.T)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        t["encoder.embedding.weight"][src], torch.tensor(batch.src_lengths), enforce_sorted=False
    )
    _, state = torch.func.functional_call(
        encoder, {n: t[f"encoder.rnn.{n}"] for n in enc_params}, (packed,)
    )
    dec_in = torch.tensor(decoder_inputs(batch.tgt).T)
    hs, _ = torch.func.functional_call(
        decoder,
        {n: t[f"decoder.rnn.{n}"] for n in dec_params},
        (t["decoder.embedding.weight"][dec_in], state),
    )
    logits = hs @ t["decoder.head.weight"].T + t["decoder.head.bias"]  # [U + 1, B, V]
    targets, mask = decoder_targets(batch.tgt, batch.tgt_lengths)
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, len(VOCAB)), torch.tensor(targets.T).reshape(-1), reduction="none"
    )
    m = torch.tensor(mask.T.reshape(-1), dtype=torch.float64)
    torch_loss = (nll * m).sum() / m.sum()
    torch_loss.backward()
    assert abs(torch_loss.item() - loss) < TORCH_ATOL
    for name, g in grads.items():
        np.testing.assert_allclose(g, t[name].grad.numpy(), atol=TORCH_ATOL, err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_beam_of_width_one_equals_greedy(cell, rng):
    model, batch = _model(rng, cell, H=8, dtype="float32"), _batch(rng, n=16)
    greedy = model.greedy(batch.src, batch.src_lengths, max_len=6)
    beam = model.beam(batch.src, batch.src_lengths, max_len=6, width=1)
    np.testing.assert_array_equal(beam, greedy)


def test_beam_wide_enough_to_keep_everything_finds_the_most_probable_sequence(rng):
    model, batch = _model(rng, "gru", H=8), _batch(rng, n=5)
    V = len(VOCAB)
    beam = model.beam(batch.src, batch.src_lengths, max_len=1, width=V * V)  # exhaustive

    def log_probs(tokens, state):
        logits, state, _ = model.decoder.forward(tokens[:, None], state)
        z = logits[:, 0]
        return z - np.log(np.exp(z).sum(-1, keepdims=True)), state

    state, _ = model.encode(batch.src, batch.src_lengths)
    lp1, state = log_probs(np.full(len(batch.src), BOS), state)
    # every two-step sequence: t1 then t2; after EOS nothing more is scored
    total = np.empty((len(batch.src), V, V))
    for t1 in range(V):
        lp2, _ = log_probs(np.full(len(batch.src), t1), state)
        total[:, t1] = lp1[:, t1 : t1 + 1] + (0.0 if t1 == EOS else lp2)
    total[:, EOS, :EOS] = total[:, EOS, EOS + 1 :] = -np.inf  # EOS is only followed by EOS
    best = total.reshape(len(batch.src), -1).argmax(1)
    np.testing.assert_array_equal(beam[:, :2], np.stack(np.divmod(best, V), axis=1))


def test_exact_match_reads_up_to_the_first_eos_and_needs_one():
    batch = VOCAB.batch([("ab", "ba"), ("c", "c"), ("d", "d"), ("a", "a")])
    a, b, c, d = VOCAB.encode("abcd")
    predicted = np.array(
        [
            [b, a, EOS, c],  # right, junk after EOS ignored
            [c, EOS, EOS, EOS],  # right
            [d, d, EOS, EOS],  # one token too many
            [a, a, a, a],
        ]
    )  # never ends
    np.testing.assert_array_equal(exact_match(predicted, batch), [True, True, False, False])


def test_bad_configurations_are_refused(rng):
    with pytest.raises(ConfigError, match="special"):
        Seq2SeqConfig(vocab_size=2)
    with pytest.raises(ConfigError, match="beam width"):
        _model(rng).beam(*VOCAB.pad(["ab"]), max_len=3, width=0)
