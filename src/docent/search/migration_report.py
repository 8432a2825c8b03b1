"""Old and new embedding model side by side, on the organisation's own evaluation set.

Rated answers: every answer rated "up" whose cited chunks still exist is a judged question: the question
the user asked (as the answer path rewrote it, for a follow-up), asked again with the asker's permissions,
and the chunks the answer cited are its relevant chunks. For each model and mode:

* `hit@10`: the share of judged questions for which at least one cited chunk is in the model's top 10;
* `cited_recall@10`: the mean share of a question's cited chunks that are in the top 10;
* `mrr@10`: the mean reciprocal rank of the first cited chunk in the top 10 (0 when none is).

A BEIR folder, when given, is ingested into two throw-away databases, one per model, through the real
pipeline (`docent eval`), and reports nDCG@10, Recall@10 and MRR@10 per mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select

from docent.db.records import ChatMessage, ChatSession, Feedback
from docent.db.tables import Chunk, User
from docent.db.uow import Database
from docent.search.retrieve import Retriever, SearchMode
from docent.types import ReaderScope, Role

TOP = 10
MAX_RATED = 1000  # judged questions read at most (the newest first): the report stays bounded
MODES = (SearchMode.VECTOR, SearchMode.HYBRID)


@dataclass(frozen=True)
class RatedQuestion:
    question: str
    scope: ReaderScope
    cited: frozenset[int]


@dataclass
class SideBySide:
    """figures[set name][mode][model label] -> {metric: value}; `questions` per set."""

    questions: dict[str, int] = field(default_factory=dict)
    figures: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)


def rated_questions(database: Database, limit: int = MAX_RATED) -> list[RatedQuestion]:
    """The judged questions of every organisation, newest rating first (see the module's note)."""
    query = (
        select(ChatMessage, ChatSession.org_id, ChatSession.user_id, User.role)
        .join(Feedback, Feedback.message_id == ChatMessage.id)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .join(User, User.id == ChatSession.user_id)
        .where(Feedback.rating == "up", ChatMessage.role == "assistant")
        .order_by(Feedback.created_at.desc())
        .limit(limit)
    )
    judged: list[RatedQuestion] = []
    with database.unit_of_work(write=False) as uow:
        for message, org_id, user_id, role in uow.session.execute(query):
            cited = {int(c["chunk_id"]) for c in message.citations or [] if "chunk_id" in c}
            existing = (
                set(uow.session.scalars(select(Chunk.id).where(Chunk.id.in_(cited)))) if cited else set()
            )
            question = message.rewritten_question or _asked_before(uow.session, message)
            if not existing or not question:
                continue
            groups = frozenset(uow.groups.group_ids_of(user_id))
            scope = ReaderScope(org_id=org_id, user_id=user_id, group_ids=groups, is_admin=role == Role.ADMIN)
            judged.append(RatedQuestion(question[:1000], scope, frozenset(existing)))
    return judged


def _asked_before(session: Any, answer: ChatMessage) -> str | None:
    """The user's message that this answer answered: the last one of its session before it."""
    query = (
        select(ChatMessage.text)
        .where(
            and_(
                ChatMessage.session_id == answer.session_id,
                ChatMessage.role == "user",
                ChatMessage.created_at <= answer.created_at,
                ChatMessage.id != answer.id,
            )
        )
        .order_by(ChatMessage.created_at.desc())
        .limit(1)
    )
    value = session.scalar(query)
    return str(value) if value else None


def rated_figures(
    database: Database, retrievers: dict[str, Retriever], judged: list[RatedQuestion]
) -> dict[str, dict[str, dict[str, float]]]:
    """[mode][model label] -> hit@10, cited_recall@10, mrr@10 over the judged questions."""
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        for label, retriever in retrievers.items():
            figures.setdefault(mode.value, {})[label] = _score(database, retriever, mode, judged)
    return figures


def _score(
    database: Database, retriever: Retriever, mode: SearchMode, judged: list[RatedQuestion]
) -> dict[str, float]:
    hits = recall = reciprocal = 0.0
    for item in judged:
        with database.unit_of_work(write=False) as uow:
            ranked = [
                s.chunk_id for s in retriever.rank(uow, item.scope, item.question, mode=mode, top_k=TOP)
            ]
        found = [rank for rank, cid in enumerate(ranked, start=1) if cid in item.cited]
        hits += bool(found)
        recall += len(found) / len(item.cited)
        reciprocal += 1.0 / found[0] if found else 0.0
    count = max(1, len(judged))
    return {"hit@10": hits / count, "cited_recall@10": recall / count, "mrr@10": reciprocal / count}


def side_by_side_lines(report: SideBySide) -> list[str]:
    """The report as aligned text lines: one row per set, mode and metric, old and new beside."""
    lines: list[str] = []
    for name, judged in report.questions.items():
        lines.append(f"{name} ({judged} judged questions)")
        for mode, by_model in report.figures.get(name, {}).items():
            labels = list(by_model)
            lines.append(f"    {mode:<16}" + "".join(f"{label[-24:]:>26}" for label in labels))
            for metric in next(iter(by_model.values()), {}):
                values = "".join(f"{by_model[label][metric]:>26.4f}" for label in labels)
                lines.append(f"      {metric:<14}{values}")
    return lines


def as_json(report: SideBySide) -> dict[str, Any]:
    return {"questions": report.questions, "figures": report.figures}
