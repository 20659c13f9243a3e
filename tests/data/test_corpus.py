import sysconfig
from pathlib import Path

import pytest

from rnnkit.data.corpus import default_corpus, read_corpus, read_texts, stdlib_source_files
from rnnkit.data.text import CharVocab
from rnnkit.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def stdlib_files():
    return stdlib_source_files()


@pytest.fixture(scope="module")
def stdlib_corpus(stdlib_files):
    return read_corpus(stdlib_files)  # the one full read of the library in this file


def write(tmp_path, name, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_read_texts_joins_files_in_order_with_newlines_normalised(tmp_path):
    a = write(tmp_path, "a.txt", b"\xef\xbb\xbfone\r\ntwo")  # BOM, CRLF, no final newline
    b = write(tmp_path, "b.txt", "caf\u00e9\rend\n".encode())
    empty = write(tmp_path, "empty.txt", b"")
    assert read_texts([a, empty, str(b)]) == "one\ntwo\ncaf\u00e9\nend\n"


def test_non_utf8_file_error_names_file_line_and_column(tmp_path):
    good = write(tmp_path, "good.txt", b"fine\n")
    bad = write(tmp_path, "latin1.txt", b"ok\nfine\nab\xe9c\n")
    with pytest.raises(DataError) as caught:
        read_texts([good, bad])
    message = str(caught.value)
    assert str(bad) in message and "good.txt" not in message
    assert "line 3, column 3 (byte offset 10): byte 0xe9 is not valid UTF-8" in message
    assert "convert the file to UTF-8" in message


def test_missing_file_error_names_it(tmp_path):
    missing = tmp_path / "nowhere.txt"
    with pytest.raises(DataError, match="not found: .*nowhere.txt"):
        read_texts([missing])


def test_directory_instead_of_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_texts([tmp_path])


@pytest.mark.parametrize(
    "contents", [[], [b""], [b"", b""]], ids=["no_files", "one_empty", "two_empty"]
)
def test_empty_input_raises_data_error(tmp_path, contents):
    paths = [write(tmp_path, f"{i}.txt", data) for i, data in enumerate(contents)]
    with pytest.raises(DataError, match="no text"):
        read_texts(paths)


@pytest.mark.parametrize(
    "data, where",
    [
        (b"\0" * 64, "line 1, column 1 (byte offset 0)"),
        (b"ab\ncd\0ef\n", "line 2, column 3 (byte offset 5)"),
        ("utf-16 text\n".encode("utf-16-le"), "line 1, column 2 (byte offset 1)"),
    ],
    ids=["nul_bytes", "one_nul", "utf16"],
)
def test_binary_data_is_refused_naming_the_file_and_the_first_nul(tmp_path, data, where):
    good = write(tmp_path, "good.txt", b"fine text\n")
    bad = write(tmp_path, "data.bin", data)
    with pytest.raises(DataError) as caught:
        read_texts([good, bad])
    message = str(caught.value)
    assert message.startswith(f"{bad}: {where}: a NUL byte") and "good.txt" not in message


@pytest.mark.parametrize(
    "contents",
    [[b"aaaa"], [b"\n\n\n"], [b"\n", b"\r\n"], [b"y"]],
    ids=["letters", "newlines", "two_files", "one_char"],
)
def test_a_text_of_one_distinct_character_is_refused_naming_the_files(tmp_path, contents):
    paths = [write(tmp_path, f"{i}.txt", data) for i, data in enumerate(contents)]
    with pytest.raises(DataError, match="one distinct character") as caught:
        read_texts(paths)
    assert str(caught.value).startswith(", ".join(map(str, paths)) + ": ")


def test_two_distinct_characters_are_enough(tmp_path):
    assert read_texts([write(tmp_path, "a.txt", b"xx"), write(tmp_path, "b.txt", b"x")]) == "xx\nx"


def test_read_corpus_skips_and_counts_files_that_are_not_utf8(tmp_path):
    paths = [
        write(tmp_path, "a.py", b"x = 1\n"),
        write(tmp_path, "b.py", b"s = '\xff'\n"),
        write(tmp_path, "c.py", b"y = 2\n"),
    ]
    corpus = read_corpus(paths)
    assert corpus.text == "x = 1\ny = 2\n"
    assert corpus.files == 2
    assert corpus.skipped == (paths[1],)


@pytest.mark.parametrize("max_chars", [1, 5, 6, 7, 11, 12, 13, 100], ids=lambda n: f"max{n}")
@pytest.mark.parametrize("data", [b"abcde", b"abcd\n"], ids=["unterminated", "terminated"])
def test_read_corpus_stops_at_max_chars(tmp_path, data, max_chars):
    paths = [write(tmp_path, f"{i}.txt", data) for i in range(3)]
    whole = read_corpus(paths).text  # "abcde\nabcde\nabcde" or "abcd\nabcd\nabcd\n"
    corpus = read_corpus(paths, max_chars)
    assert corpus.text == whole[:max_chars]
    enough = [k for k in (1, 2, 3) if len(read_corpus(paths[:k]).text) >= max_chars]
    assert corpus.files == min(enough, default=3)  # no file read beyond those it needs


@pytest.mark.parametrize("max_chars", [0, -3, 2.5], ids=str)
def test_read_corpus_rejects_a_bad_max_chars(tmp_path, max_chars):
    with pytest.raises(ConfigError, match="max_chars"):
        read_corpus([write(tmp_path, "a.txt", b"abc")], max_chars)


def test_stdlib_file_list_is_library_source_without_tests(stdlib_files):
    root = Path(sysconfig.get_paths()["stdlib"])
    relative = [path.relative_to(root) for path in stdlib_files]
    names = {path.as_posix() for path in relative}
    assert {"os.py", "json/__init__.py", "collections/__init__.py"} <= names
    for path in relative:
        assert path.suffix == ".py"
        folders = path.parts[:-1]
        assert not any(part.startswith("test") for part in folders), path
        assert "site-packages" not in folders and "idle_test" not in folders, path


def test_stdlib_file_list_is_sorted_and_deterministic(stdlib_files):
    root = Path(sysconfig.get_paths()["stdlib"])
    keys = [path.relative_to(root).as_posix() for path in stdlib_files]
    assert keys == sorted(keys)
    assert stdlib_source_files() == stdlib_files


@pytest.mark.parametrize("max_chars", [1, 1_000, 100_000], ids=lambda n: f"max{n}")
def test_default_corpus_has_max_chars_characters_of_library_source(stdlib_corpus, max_chars):
    text = default_corpus(max_chars)
    assert len(text) == max_chars
    assert text == stdlib_corpus.text[:max_chars]


def test_default_corpus_is_megabytes_of_python_a_vocab_can_encode(stdlib_corpus):
    assert len(stdlib_corpus.text) > 2_000_000
    assert "def " in stdlib_corpus.text and "import " in stdlib_corpus.text
    assert stdlib_corpus.files + len(stdlib_corpus.skipped) == len(stdlib_source_files())
    vocab = CharVocab.from_text(stdlib_corpus.text)
    sample = stdlib_corpus.text[-100_000:]
    assert vocab.decode(vocab.encode(sample)) == sample
