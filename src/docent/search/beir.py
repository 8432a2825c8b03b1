"""Reading a BEIR-format folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Only `_id`, `title` and `text` are read from the corpus and only `_id` and `text` from the queries: BEIR
query metadata can hold the gold answers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    title: str
    text: str

    def as_markdown(self) -> str:
        """The title as a heading, so it becomes the chunks' section path and is searchable too."""
        return f"# {self.title.strip()}\n\n{self.text.strip()}\n" if self.title.strip() else self.text


class BeirFormatError(Exception):
    pass


def read_corpus(folder: Path, limit: int | None = None) -> Iterator[CorpusDocument]:
    for number, row in enumerate(_jsonl(folder / "corpus.jsonl")):
        if limit is not None and number >= limit:
            return
        yield CorpusDocument(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))


def read_queries(folder: Path) -> dict[str, str]:
    return {str(row["_id"]): str(row["text"]) for row in _jsonl(folder / "queries.jsonl")}


def read_qrels(folder: Path, split: str = "test") -> dict[str, dict[str, int]]:
    """The judgments of one split, or of several joined by `+` ("train+test")."""
    qrels: dict[str, dict[str, int]] = {}
    for name in split.split("+"):
        path = folder / "qrels" / f"{name}.tsv"
        if not name or not path.is_file():
            raise BeirFormatError(f"no judgments at {path}")
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return qrels


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    if not path.is_file():
        raise BeirFormatError(f"missing {path}")
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BeirFormatError(f"{path}:{line_number}: not JSON ({exc.msg})") from None
