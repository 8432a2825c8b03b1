"""`docent eval` on a tiny BEIR folder made here: it ingests through the real pipeline, ranks documents and
scores them; distinctive queries find their documents, so the figures are near perfect."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_cli import _env, _run

CORPUS = {
    "d1": ("Volcanoes", "Basaltic lava flows from shield volcanoes in Hawaii move slowly downhill."),
    "d2": ("Bees", "Honeybees communicate the direction of nectar with a waggle dance."),
    "d3": ("Glaciers", "Glaciers carve U-shaped valleys as the ice grinds the bedrock beneath."),
    "d4": ("Coffee", "Espresso is brewed by forcing hot water through finely ground coffee beans."),
    "d5": ("Chess", "The Sicilian Defence answers the king's pawn opening with the c-pawn."),
}
QUERIES = {
    "q1": "how do honeybees tell others where nectar is",
    "q2": "espresso brewing with hot water through ground coffee",
    "q3": "which opening reply uses the c-pawn against the king's pawn",
}
QRELS = {"q1": "d2", "q2": "d4", "q3": "d5"}


def _dataset(root: Path) -> Path:
    folder = root / "tiny"
    (folder / "qrels").mkdir(parents=True)
    lines = [json.dumps({"_id": i, "title": t, "text": x, "metadata": {}}) for i, (t, x) in CORPUS.items()]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    queries = [
        json.dumps({"_id": q, "text": text, "metadata": {"gold": "never read"}})
        for q, text in QUERIES.items()
    ]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n")
    rows = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, d in QRELS.items())]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


def test_eval_scores_every_mode_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "figures.json"
    env = _env(tmp_path, HF_HUB_OFFLINE="1", DOCENT_EMBED_THREADS="1")
    result = _run("eval", str(_dataset(tmp_path)), "--output", str(output), env=env)
    assert result.returncode == 0, result.stderr
    assert "5 documents" in result.stdout and "3 queries" in result.stdout
    figures = json.loads(output.read_text())
    assert set(figures["modes"]) == {"hybrid", "vector", "keyword"}
    for mode, scores in figures["modes"].items():
        assert scores["recall@10"] == 1.0, (mode, scores)
        assert scores["ndcg@10"] >= 0.9, (mode, scores)


def test_eval_refuses_a_folder_without_judgments(tmp_path: Path) -> None:
    folder = _dataset(tmp_path)
    (folder / "qrels" / "test.tsv").unlink()
    result = _run("eval", str(folder), "--mode", "keyword", env=_env(tmp_path, HF_HUB_OFFLINE="1"))
    assert result.returncode == 2
    assert "no judgments" in result.stderr


def test_eval_of_a_slice_judges_only_the_queries_it_can_answer_and_joins_splits(tmp_path: Path) -> None:
    folder = _dataset(tmp_path)
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td1\t1\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\nq3\td5\t1\n")
    env = _env(tmp_path, HF_HUB_OFFLINE="1", DOCENT_EMBED_THREADS="1")
    # the first three documents hold d1 (q2, train) and d2 (q1, test), not d5 (q3, test)
    result = _run("eval", str(folder), "--limit", "3", "--split", "train+test", "--mode", "keyword", env=env)
    assert result.returncode == 0, result.stderr
    assert "3 documents" in result.stdout and "2 queries" in result.stdout
