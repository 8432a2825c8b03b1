"""Calibrate the relevance threshold (DOCENT_ANSWER_MIN_RELEVANCE) for questions the documents do not cover.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.abstention [--limit 600]

SQuAD 2.0's unanswerable questions are written about the very paragraph they sit beside, so retrieval
scores cannot tell them apart (bench/answers.py: ROC AUC 0.61). What the threshold is for is the other
case: a question about something no readable document covers. Here each half's paragraphs stand for an
organisation's documents (a `document_ids` filter, applied inside retrieval as permissions are), its own
answerable questions are covered, and the other half's are not. The threshold is chosen on half A's
documents (accuracy over equal numbers of both kinds) and reported on half B's, through the real
pipeline and `ChatService.retrieve` (the cosine the chain compares with the threshold).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
from sqlalchemy import select

from bench.answers import DATA, SAMPLE_SEED, Half, Question, bench_settings, ingest, read_squad
from docent.db.tables import DocumentVersion
from docent.evaluation import admin_principal, throwaway_container
from docent.types import SearchFilters

THRESHOLDS = [round(step / 100, 2) for step in range(0, 101)]


def best_cosines(container: object, questions: list[Question], documents: SearchFilters) -> np.ndarray:
    chat = container.chat  # type: ignore[attr-defined]
    principal = admin_principal(container)  # type: ignore[arg-type]
    best = []
    for question in questions:
        passages = chat.retrieve(principal, question.text, documents)
        best.append(max((p.score for p in passages), default=-1.0))
    return np.asarray(best)


def accuracy(covered: np.ndarray, uncovered: np.ndarray, threshold: float) -> tuple[float, float, float]:
    answered = float(np.mean(covered >= threshold))
    abstained = float(np.mean(uncovered < threshold))
    return (answered + abstained) / 2, answered, abstained


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=600, help="answerable questions per half")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    documents, halves = read_squad(args.data / "dev-v2.0-subset.json", None, None, None)
    answerable = {  # a fixed sample over all of the half's articles
        h.name: sorted_sample([q for q in h.questions if q.answers], args.limit) for h in halves
    }
    with throwaway_container(bench_settings(args.threads), None) as container:
        ingest(container, documents)
        with container.database.unit_of_work(write=False) as uow:
            rows = uow.session.execute(select(DocumentVersion.filename, DocumentVersion.document_id))
            ids = {str(name): document_id for name, document_id in rows}
        scores: dict[tuple[str, str], np.ndarray] = {}
        for corpus in halves:
            filters = SearchFilters(document_ids=tuple(ids[f"{k}.txt"] for k in _keys(corpus, documents)))
            for asked in halves:
                scores[(corpus.name, asked.name)] = best_cosines(container, answerable[asked.name], filters)
    covered_a, uncovered_a = scores[("A", "A")], scores[("A", "B")]
    sweep = {t: accuracy(covered_a, uncovered_a, t) for t in THRESHOLDS}
    chosen = max(sweep, key=lambda t: sweep[t][0])
    print(f"{len(covered_a)} covered and {len(uncovered_a)} uncovered questions per half")
    print("threshold  accuracy  covered answered  uncovered abstained   (half A's documents: calibration)")
    for t in (0.0, 0.1, 0.2, 0.3, 0.4, chosen, 0.5, 0.6):
        acc, answered, abstained = sweep[t]
        print(
            f"  {t:5.2f}    {acc:.3f}        {answered:.3f}             {abstained:.3f}"
            + ("   <- chosen" if t == chosen else "")
        )
    acc, answered, abstained = accuracy(scores[("B", "B")], scores[("B", "A")], chosen)
    print(
        f"report, half B's documents at {chosen:.2f}: accuracy {acc:.3f}, "
        f"covered questions answered {answered:.3f}, uncovered abstained {abstained:.3f}"
    )


def sorted_sample(questions: list[Question], limit: int) -> list[Question]:
    if limit >= len(questions):
        return questions
    return random.Random(SAMPLE_SEED).sample(questions, limit)


def _keys(half: Half, documents: dict[str, str]) -> list[str]:
    return [key for key in documents if key.rsplit("-", 1)[0] in half.articles]


if __name__ == "__main__":
    main()
