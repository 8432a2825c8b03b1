"""The retrieval regression gate: a fixed slice of SciFact (the first documents of the corpus and the train
and test queries all of whose relevant documents they hold) through the real pipeline on SQLite, with the
real local embedding model. A mode whose nDCG@10 falls more than the tolerance below the figure recorded in
`tests/retrieval_gate.json` fails the suite; `python -m bench.gate --record` (the command kept in that
file) records a new figure when a change is meant to move it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docent.container import build_container
from docent.db import migrate
from docent.db.engine import build_engine
from docent.evaluation import run_evaluation
from docent.search.retrieve import SearchMode
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "tests" / "retrieval_gate.json"
DATA = ROOT.parent / "shared" / "data" / "scifact"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 2 CPU-minutes of ingestion; a machine shared by many stretches that
def test_retrieval_quality_has_not_regressed(tmp_path: Path, embedder: Any) -> None:
    assert (DATA / "corpus.jsonl").is_file(), (
        f"the gate needs SciFact at {DATA} (../shared/data beside the repo)"
    )
    record = json.loads(RECORD.read_text())
    url = f"sqlite:///{tmp_path}/gate.db"
    engine = build_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    container = build_container(make_settings(url, tmp_path, embedded_worker=False), embedder=embedder)
    try:
        report = run_evaluation(
            container, DATA, modes=list(SearchMode), split=record["split"], limit=record["limit"]
        )
    finally:
        container.close()
    assert (report.documents, report.queries) == (record["documents"], record["queries"])
    measured = {mode: round(figures["ndcg@10"], 4) for mode, figures in report.modes.items()}
    floors = {mode: figure - record["tolerance"] for mode, figure in record["ndcg@10"].items()}
    assert set(floors) == {mode.value for mode in SearchMode}
    dropped = {
        mode: (measured[mode], round(floor, 4)) for mode, floor in floors.items() if measured[mode] < floor
    }
    assert not dropped, f"nDCG@10 fell below the recorded figure minus {record['tolerance']}: {dropped}"
