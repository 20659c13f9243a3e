"""Word-level text: a tokeniser, a vocabulary of the most frequent words, and detokenising.

Tokens
------
``tokenize(text)`` splits text with one regular expression, ``TOKEN_PATTERN``, into

* a newline ``"\\n"`` (the end of a line, kept as a token of its own);
* a word: a run of letters, digits and underscores (``\\w+``), with inner apostrophes kept
  (``don't``, ``o'clock``);
* a triple quotation mark (a Python docstring's ``\"\"\"`` or ``'''``);
* any other visible character alone: every punctuation mark or symbol is a token (``(``,
  ``.``, ``==`` is two tokens ``=`` ``=``).

Spaces and tabs separate tokens and are dropped.  With ``lowercase=True`` the text is lowercased
first.  The vocabulary records the choice and the pattern, so a prompt is tokenised the way
its training text was.

Vocabulary
----------
``WordVocab.from_tokens(tokens, vocab_size, min_count)`` keeps the ``vocab_size`` most frequent
tokens seen at least ``min_count`` times, ties broken by the token's code points, so the same
text always gives the same ids.  Id 0 is ``UNKNOWN`` (``<unk>``), which every other token maps
to; ids 1… follow in that order.  V = 1 + the tokens kept.  ``encode`` maps text to ids ``[N]``
(``uint16`` while V ≤ 65 536, else ``uint32``).  Saved as JSON::

    {"type": "word", "tokens": ["<unk>", "\\n", ".", "the", ...], "lowercase": false,
     "pattern": "..."}

Detokenising
------------
``detokenize(tokens)`` puts a space between tokens, except: none before a newline or a
punctuation mark (any token that is not a word, ``(`` included), none after a newline or an
opening bracket.  A quotation mark (``"``, ``'`` or a triple one) alternates between opening
and closing within a line: an opening one takes a space before it and none after.  So
``["print", "(", "x", ")", "."]`` reads ``print(x).`` and ``["a", '"', "b", '"', "c"]`` reads
``a "b" c``.  The spacing of the original text is not recorded, so ``x = 1`` comes back as
``x= 1``.
"""

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError, ShapeError, VocabularyError

TOKEN_PATTERN = r"\n|\w+(?:['’]\w+)*|\"{3}|'{3}|[^\w\s]"
"""A newline, a word (inner apostrophes kept), a triple quote, or one other visible character."""

UNKNOWN = "<unk>"
"""The token every word outside the vocabulary maps to (id 0)."""

NEWLINE = "\n"

OPENING = frozenset("([{")
"""Tokens after which no space is written."""

QUOTES = frozenset({'"', "'", '"' * 3, "'" * 3})
"""Tokens that open and close a quotation in turn, within a line."""

_WORD = re.compile(r"\w")


def tokenize(text: str, lowercase: bool = False, pattern: str = TOKEN_PATTERN) -> list[str]:
    """The tokens of ``text`` (the matches of ``pattern``), after lowercasing it if asked."""
    return re.findall(pattern, text.lower() if lowercase else text)


def _is_word(token: str) -> bool:
    return token == UNKNOWN or _WORD.match(token) is not None


def continuation(before: Sequence[str], tokens: Iterable[str]) -> str:
    """The text of ``tokens`` written after the tokens ``before`` (already written)."""
    previous: str | None = None
    opened: set[str] = set()  # quotation marks open on the current line
    after_opening = False  # previous is a quotation mark that opened

    def place(token: str) -> bool:
        """Whether ``token`` is written with a space before it (and update the quotes)."""
        nonlocal previous, after_opening
        glued = previous is None or previous == NEWLINE or previous in OPENING or after_opening
        after_opening = False
        if token == NEWLINE:
            opened.clear()
            spaced = False
        elif token in QUOTES:
            after_opening = token not in opened
            opened.symmetric_difference_update({token})
            spaced = after_opening and not glued
        else:
            spaced = _is_word(token) and not glued
        previous = token
        return spaced

    for token in before:
        place(token)
    return "".join(" " + t if place(t) else t for t in tokens)


def detokenize(tokens: Iterable[str]) -> str:
    """Tokens back to text: spaces between words, none before punctuation (module docstring)."""
    return continuation((), tokens)


class WordVocab:
    """The words a model knows; id i stands for ``tokens[i]``, id 0 for ``<unk>``.

    >>> vocab = WordVocab.from_tokens(tokenize("a b a c a b ."), vocab_size=2)
    >>> vocab.tokens, vocab.encode("a c b").tolist(), vocab.decode([2, 1, 0])
    (('<unk>', 'a', 'b'), [1, 0, 2], 'b a <unk>')
    """

    unit = "word"

    def __init__(
        self, tokens: Sequence[str], *, lowercase: bool = False, pattern: str = TOKEN_PATTERN
    ) -> None:
        tokens = tuple(tokens)
        _check_tokens(tokens)
        try:
            re.compile(pattern)
        except (re.error, TypeError):
            raise DataError(
                f"the word vocabulary's pattern {pattern!r:.60} is not a regular expression; "
                "the vocabulary is damaged"
            ) from None
        self.tokens = tokens
        self.lowercase = bool(lowercase)
        self.pattern = pattern
        self._index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def from_tokens(
        cls,
        tokens: Sequence[str],
        vocab_size: int,
        min_count: int = 1,
        *,
        lowercase: bool = False,
        pattern: str = TOKEN_PATTERN,
    ) -> "WordVocab":
        """``<unk>`` and the ``vocab_size`` most frequent ``tokens`` seen ``min_count`` times
        or more, by falling count, ties in code-point order."""
        for name, value in (("vocab_size", vocab_size), ("min_count", min_count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if not tokens:
            raise DataError("cannot build a vocabulary from a text of no words")
        counts = Counter(tokens)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [t for t, n in ranked if n >= min_count and t != UNKNOWN][:vocab_size]
        if not kept:
            raise DataError(
                f"no word of the training text occurs {min_count} times or more, so the "
                "vocabulary would hold only <unk>; use a longer text or a smaller --min-count"
            )
        return cls((UNKNOWN, *kept), lowercase=lowercase, pattern=pattern)

    @property
    def size(self) -> int:
        """V, the number of tokens, ``<unk>`` included."""
        return len(self.tokens)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of encoded ids: uint16 while every id fits, else uint32."""
        return np.dtype(np.uint16 if self.size <= 1 << 16 else np.uint32)

    def tokenize(self, text: str) -> list[str]:
        """``text`` split as this vocabulary's text was (lowercased if it was)."""
        return tokenize(text, self.lowercase, self.pattern)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """The ids ``[N]`` of N tokens, ``<unk>`` (0) for those outside the vocabulary."""
        get = self._index.get
        return np.fromiter((get(t, 0) for t in tokens), dtype=self.dtype, count=len(tokens))

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The tokens (in order, repeats kept) that the vocabulary lacks."""
        return [t for t in tokens if t not in self._index]

    def encode(self, text: str) -> np.ndarray:
        """The ids ``[N]`` of the N tokens of ``text``; unknown words become ``<unk>``."""
        return self.ids(self.tokenize(text))

    def words(self, ids: np.ndarray | Sequence[int]) -> list[str]:
        """The tokens of ids ``[N]`` (any integer dtype)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return []
        if ids.ndim > 1 or ids.dtype.kind not in "iu":
            raise ShapeError(f"decode takes a 1-D integer array [N], got {ids.dtype} {ids.shape}")
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.size:
            raise VocabularyError(
                f"ids must lie in [0, {self.size}) for this vocabulary of {self.size} words,"
                f" got ids from {low} to {high}; decode with the vocabulary they were encoded with"
            )
        return [self.tokens[i] for i in ids.tolist()]

    def decode(self, ids: np.ndarray | Sequence[int]) -> str:
        """The text of ids ``[N]``, detokenised (module docstring)."""
        return detokenize(self.words(ids))

    def to_dict(self) -> dict:
        """A JSON-able description: ``{"type": "word", "tokens": [...], "lowercase": b,
        "pattern": p}``."""
        return {
            "type": "word",
            "tokens": list(self.tokens),
            "lowercase": self.lowercase,
            "pattern": self.pattern,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "WordVocab":
        """The vocabulary ``to_dict`` described; ``DataError`` if ``data`` is malformed."""
        if not isinstance(data, Mapping) or data.get("type") != "word":
            raise DataError(
                'a word vocabulary must be a JSON object {"type": "word", "tokens": [...]},'
                " got another; the vocabulary is damaged or of another kind"
            )
        tokens, lowercase = data.get("tokens"), data.get("lowercase", False)
        pattern = data.get("pattern", TOKEN_PATTERN)
        if not (
            isinstance(tokens, list) and isinstance(lowercase, bool) and isinstance(pattern, str)
        ):
            raise DataError(
                'the word vocabulary\'s "tokens" must be a list of strings, its "lowercase"'
                ' true or false and its "pattern" a string; the vocabulary is damaged'
            )
        return cls(tokens, lowercase=lowercase, pattern=pattern)

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WordVocab)
            and self.tokens == other.tokens
            and self.lowercase == other.lowercase
            and self.pattern == other.pattern
        )

    def __hash__(self) -> int:
        return hash((self.tokens, self.lowercase, self.pattern))

    def __repr__(self) -> str:
        return f"WordVocab(size={self.size}, lowercase={self.lowercase})"


def _check_tokens(tokens: tuple) -> None:
    """DataError unless ``tokens`` is ``<unk>`` and then distinct non-empty strings."""
    if not tokens or tokens[0] != UNKNOWN:
        raise DataError(
            f"a word vocabulary starts with {UNKNOWN!r} (id 0); the vocabulary is damaged"
        )
    for i, t in enumerate(tokens):
        if not isinstance(t, str) or not t:
            raise DataError(
                f"word vocabulary entry {i} is {t!r:.60}, not a non-empty string; "
                "the vocabulary is damaged"
            )
    if len(set(tokens)) != len(tokens):
        twice = sorted(t for t, n in Counter(tokens).items() if n > 1)
        raise DataError(
            f"the word vocabulary lists {', '.join(map(repr, twice[:10]))} more than once;"
            " the vocabulary is damaged"
        )
