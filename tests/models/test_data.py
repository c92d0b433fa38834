"""Tests of models/data.py: the adding problem and the character corpus."""

from __future__ import annotations

import numpy as np
import pytest

from models.data import (
    ADDING_BASELINE_MSE,
    CharVocab,
    adding_problem,
    batch_rng,
    char_batch,
    default_corpus,
    load_corpus,
    one_hot,
    split_ids,
    unigram_entropy,
)


@pytest.mark.parametrize("T", [2, 3, 7, 10, 50, 101])
def test_adding_problem_definition(T: int) -> None:
    n = 500
    x, y = adding_problem(n, T, seed=0)
    assert x.shape == (2, n, T) and y.shape == (1, n)
    assert x.dtype == np.float64 and y.dtype == np.float64
    values, mask = x[0], x[1]
    assert np.all((values >= 0) & (values < 1))
    assert np.all((mask == 0) | (mask == 1))
    assert np.all(mask.sum(axis=1) == 2)
    t = np.arange(T)
    # exactly one marker with t < T/2 and one with t >= T/2
    assert np.all(mask[:, t < T / 2].sum(axis=1) == 1)
    assert np.all(mask[:, t >= T / 2].sum(axis=1) == 1)
    np.testing.assert_array_equal(y[0], (values * mask).sum(axis=1))


def test_adding_problem_marker_positions_cover_each_half() -> None:
    T = 10
    x, _ = adding_problem(4000, T, seed=1)
    first = x[1, :, : T // 2].argmax(axis=1)
    second = x[1, :, T // 2 :].argmax(axis=1) + T // 2
    assert set(first) == set(range(T // 2))
    assert set(second) == set(range(T // 2, T))


def test_adding_problem_baseline_and_seeding() -> None:
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    _, y = adding_problem(200_000, 20, seed=2)
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, rel=0.02)
    assert y.mean() == pytest.approx(1.0, abs=0.01)
    a, b = adding_problem(5, 8, seed=3), adding_problem(5, 8, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], adding_problem(5, 8, seed=4)[0])
    assert adding_problem(3, 4, dtype=np.float32)[0].dtype == np.float32


@pytest.mark.parametrize("n, T", [(0, 5), (3, 1), (2.5, 4), (3, 4.5)])
def test_adding_problem_rejects_bad_sizes(n: float, T: float) -> None:
    with pytest.raises(ValueError):
        adding_problem(n, T)  # type: ignore[arg-type]


def test_batch_rng_keyed_by_step() -> None:
    a = batch_rng(7, 3).integers(0, 1 << 30, 4)
    np.testing.assert_array_equal(a, batch_rng(7, 3).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, batch_rng(7, 4).integers(0, 1 << 30, 4))
    assert not np.array_equal(a, batch_rng(7, 3, 1).integers(0, 1 << 30, 4))
    with pytest.raises(ValueError):
        batch_rng(-1, 0)


def test_default_corpus_needs_no_download() -> None:
    text = default_corpus()
    assert len(text) > 100_000
    assert text == default_corpus()  # deterministic
    vocab = CharVocab.from_text(text)
    assert 50 < vocab.size < 200
    assert {"a", "e", " ", "\n"} <= set(vocab.chars)


def test_load_corpus_file(tmp_path) -> None:
    p = tmp_path / "c.txt"
    p.write_text("héllo wörld\r\n", encoding="utf-8")
    assert load_corpus(p) == "héllo wörld\r\n"
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValueError, match="UTF-8"):
        load_corpus(p)
    p.write_text("a", encoding="utf-8")
    with pytest.raises(ValueError, match="at least 2"):
        load_corpus(p)
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "missing.txt")


def test_vocab_encode_decode_roundtrip() -> None:
    text = "to be, or not to be: ∂x\n"
    vocab = CharVocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.decode(ids.reshape(1, -1)) == text
    assert "∂" in vocab and "z" not in vocab
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.encode("zebra")
    with pytest.raises(ValueError):
        vocab.decode([vocab.size])
    with pytest.raises(ValueError):
        CharVocab(("a", "a"))
    with pytest.raises(ValueError):
        CharVocab(("ab",))
    assert CharVocab(("b", "a")) == CharVocab(("b", "a")) != CharVocab(("a", "b"))


def test_unigram_entropy() -> None:
    assert unigram_entropy(np.array([0, 1, 2, 3])) == pytest.approx(np.log(4))
    assert unigram_entropy(np.array([5, 5, 5])) == 0.0
    p = np.array([0.5, 0.25, 0.25])
    ids = np.repeat([0, 1, 2], [2, 1, 1])
    assert unigram_entropy(ids, 10) == pytest.approx(-(p * np.log(p)).sum())


def test_char_batch_targets_are_next_characters() -> None:
    ids = (np.arange(100, dtype=np.int64) * 37) % 101  # distinct tokens: a window's start is known
    pos = {int(v): i for i, v in enumerate(ids)}
    x, y = char_batch(ids, 8, 10, np.random.default_rng(0))
    assert x.shape == y.shape == (8, 10) and x.dtype == np.int64
    for row_x, row_y in zip(x, y, strict=True):
        start = pos[int(row_x[0])]
        np.testing.assert_array_equal(row_x, ids[start : start + 10])
        np.testing.assert_array_equal(row_y, ids[start + 1 : start + 11])
    # windows longer than the stream are shortened to fit
    x, y = char_batch(ids[:5], 3, 50, np.random.default_rng(0))
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x, np.tile(ids[:4], (3, 1)))
    np.testing.assert_array_equal(y, np.tile(ids[1:5], (3, 1)))
    with pytest.raises(ValueError):
        char_batch(ids[:1], 3, 5, np.random.default_rng(0))


def test_char_batch_uses_whole_stream() -> None:
    ids = np.arange(30, dtype=np.int64)
    x, y = char_batch(ids, 2000, 5, np.random.default_rng(1))
    assert x.min() == 0 and y.max() == 29


def test_split_and_one_hot() -> None:
    ids = np.arange(100)
    tr, va = split_ids(ids, 0.1)
    assert len(tr) == 90 and len(va) == 10 and va[0] == 90
    tr, va = split_ids(ids[:10], 0.1)
    assert len(tr) == 10 and len(va) == 0
    ids = np.array([[0, 2], [1, 2], [2, 0]])
    oh = one_hot(ids, 4)
    assert oh.shape == (4, 3, 2)
    np.testing.assert_array_equal(oh.argmax(axis=0), ids)
    np.testing.assert_array_equal(oh.sum(axis=0), np.ones((3, 2)))
    with pytest.raises(ValueError):
        one_hot(ids, 2)
