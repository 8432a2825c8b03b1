"""Asking: a question, in a session, to a grounded answer that is streamed and then kept.

Three short phases, so that no transaction stays open while a model writes (SQLite has one writer), which is
why this service opens its own units of work instead of using the caller's: `prepare` resolves the asker's
reader scope once, reads the session and looks the question up in one read unit of work, then retrieves
with that scope in another (after the follow-up is rewritten, which may call a model); `stream` runs the
provider chain outside any transaction; when the stream ends (finished, failed, or closed because the reader
went away) one short write unit of work keeps the question and what was answered, with its usage, cost and
timings. The scope resolved in `prepare` travels in `Prepared` to everything after it.

With budgets, `prepare` reads whether one is spent (no model is asked then, not even to rewrite); just
before the answer's models are asked, `stream` and `answer` reserve the most it may spend in one more short
write unit of work (`docent.answer.budgets`), committed before any model is asked; the unit of work that
keeps the answer releases it. A reservation that does not fit withholds the models as a spent budget does.

With an answer cache (`AnswerRecall`), `prepare` first looks the question up under the asker's readable
documents; a hit is streamed again without rewriting, retrieving or asking any model, and kept in the
session like any answer (with no tokens and no cost). Only finished answers of the preferred answerer are
remembered (see `_worth_remembering`). Sessions, feedback and usage are `docent.answer.history`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, replace
from datetime import datetime

from docent.answer.agent_answer import AGENT_UNAVAILABLE, AgentAnswerer, drained
from docent.answer.budgets import BudgetService
from docent.answer.cache import CachedAnswer
from docent.answer.chain import Answerer, ProviderChain, ProviderStatus
from docent.answer.events import Error, Meta, StreamEvent, Token
from docent.answer.recall import AnswerRecall, Lookup, replay
from docent.answer.types import Answer, AnswerRequest, Passage, Turn, Usage, cost_json, dump_citations
from docent.auth.groups import scope_of
from docent.auth.policy import Principal
from docent.db.records import ChatMessage, ChatSession
from docent.db.tables import utcnow
from docent.db.uow import Database, UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.llm.chat import ChatModelError
from docent.observability.logs import get_logger
from docent.search.retrieve import Retriever, SearchMode
from docent.types import ReaderScope, SearchFilters

_log = get_logger(__name__)

MAX_QUESTION_CHARS = 2000
_RETRIEVAL_QUERY_CHARS = 1000  # what the retriever accepts


@dataclass(frozen=True)
class Prepared:
    """A question ready to be answered: ids decided in advance, so the stream can name them first."""

    principal: Principal
    scope: ReaderScope  # resolved once, in `prepare`
    session_id: uuid.UUID
    new_session: bool
    user_message_id: uuid.UUID
    message_id: uuid.UUID
    question: str
    rewritten: str
    request: AnswerRequest
    asked_at: datetime
    retrieval_ms: float
    lookup: Lookup | None = None  # None when there is no answer cache
    agent: str | None = None  # the provider (`provider:model`) that answers in agent mode; None: normal mode
    filters: SearchFilters | None = None
    budgeted: bool = False  # a budget applies to the asker: models are asked only under a reservation
    reservation: uuid.UUID | None = None  # held for this answer, released when it is kept

    @property
    def cached(self) -> CachedAnswer | None:
        return self.lookup.hit if self.lookup else None


@dataclass(frozen=True)
class ChatResult:
    """A finished answer, as kept."""

    session_id: uuid.UUID
    message_id: uuid.UUID
    answer: Answer
    retrieval_ms: float
    generation_ms: float


class ChatService:
    def __init__(
        self,
        database: Database,
        retriever: Retriever,
        chain: ProviderChain,
        *,
        top_k: int = 8,
        history_messages: int = 6,
        recall: AnswerRecall | None = None,
        budgets: BudgetService | None = None,
        agent: AgentAnswerer | None = None,
    ) -> None:
        self._database = database
        self._retriever = retriever
        # When this service's models became available: what `GET /v1/models` gives as their `created`.
        self.available_since = int(time.time())
        self._chain = chain
        self._top_k = top_k
        self._history = history_messages
        self._recall = recall
        self._budgets = budgets
        self._agent = agent

    def answerers(self) -> tuple[Answerer, ...]:
        return self._chain.answerers()

    def prepare(
        self,
        principal: Principal,
        question: str,
        *,
        session_id: uuid.UUID | None = None,
        filters: SearchFilters | None = None,
        history: tuple[Turn, ...] = (),
        model: str | None = None,
        mode: str = "normal",
    ) -> Prepared:
        """History of the caller's own session (another user's is not found), the follow-up made standalone,
        and the passages the caller may read — or, before any of that, the answer cache's answer.
        `history` is for clients that send the conversation themselves (the OpenAI-compatible API) instead
        of naming a session. `model` names one answerer of the chain (then only it answers, the last resort
        standing by); None or `docent` leaves the choice to the chain. `mode` "agent" lets a model that can
        call tools search before it answers (see `stream`): then nothing is retrieved here and the answer
        cache is neither read nor written; without such a model it is the normal mode, with a notice.
        Raises DocentError (not found, validation)."""
        question = _checked(question)
        try:
            answerer = self._chain.choose(model)
        except ValueError as exc:
            raise DocentError(ErrorCode.UNKNOWN_MODEL, str(exc)) from None
        started = time.perf_counter()
        with self._database.unit_of_work(write=False) as uow:
            scope = scope_of(uow, principal)
            budget = self._budgets.status(uow, principal) if self._budgets else None
            withheld = budget.reason if budget else None
            if session_id is not None:
                history = self._session_history(uow, principal, session_id)
            agent = self._agent.pick(answerer, withheld) if self._agent and mode == "agent" else None
            lookup = (
                self._recall.look_up(uow, scope, question, history, filters, answerer)
                if self._recall and agent is None
                else None
            )
        notice = AGENT_UNAVAILABLE if mode == "agent" and agent is None else None
        passages: tuple[Passage, ...] = ()
        if lookup is not None and lookup.hit is not None:
            # The conversation is part of the key, so the stored standalone question is this one's too.
            rewritten = lookup.hit.rewritten if history else question
        else:
            rewritten = self._chain.rewrite(question, history, answerer, withheld).question
            started = time.perf_counter()
            if agent is None:  # in agent mode, the model's searches find the passages
                passages = self._passages(scope, rewritten, filters)
        return Prepared(
            principal=principal,
            scope=scope,
            session_id=session_id or uuid.uuid4(),
            new_session=session_id is None,
            user_message_id=uuid.uuid4(),
            message_id=uuid.uuid4(),
            question=question,
            rewritten=rewritten,
            request=AnswerRequest(rewritten, passages, history, answerer, withheld, notice),
            asked_at=utcnow(),
            retrieval_ms=(time.perf_counter() - started) * 1000,
            lookup=lookup,
            agent=agent,
            filters=filters,
            budgeted=budget is not None and budget.capped,
        )

    def retrieve(
        self, principal: Principal, query: str, filters: SearchFilters | None = None
    ) -> tuple[Passage, ...]:
        """The passages `prepare` would hand the chain for `query` (for benches that study them)."""
        with self._database.unit_of_work(write=False) as uow:
            scope = scope_of(uow, principal)
        return self._passages(scope, query, filters)

    def _passages(
        self, scope: ReaderScope, query: str, filters: SearchFilters | None, top_k: int | None = None
    ) -> tuple[Passage, ...]:
        """Hybrid search ranks the passages; each carries its cosine similarity to the query as its score
        (0 when the vector ranking, DOCENT_SEARCH_CANDIDATES deep, did not reach it), which is what the
        relevance threshold compares, and its rank in the vector and the keyword ranking (the signals of
        `docent.answer.confidence`)."""
        with self._database.unit_of_work(write=False) as uow:
            found = self._retriever.search(
                uow,
                scope,
                query[:_RETRIEVAL_QUERY_CHARS],
                mode=SearchMode.HYBRID,
                top_k=top_k or self._top_k,
                filters=filters,
            )
        cosine = found.cosines
        by_cosine = sorted(cosine, key=lambda chunk_id: -cosine[chunk_id])
        vector_rank = {chunk_id: rank for rank, chunk_id in enumerate(by_cosine, start=1)}
        return tuple(
            Passage(
                chunk_id=r.chunk_id,
                document_id=r.document_id,
                title=r.title,
                version=r.version,
                page=r.page,
                section=tuple(r.section),
                text=r.text,
                score=cosine.get(r.chunk_id, 0.0),
                vector_rank=vector_rank.get(r.chunk_id),
                keyword_rank=found.keyword_ranks.get(r.chunk_id),
            )
            for r in found.results
        )

    def stream(self, prepared: Prepared) -> Generator[StreamEvent, None, ChatResult | None]:
        """`meta`, the chain's `token`s, `citations` and `done` (or an `error`); the exchange is kept when the
        stream ends in any way, including being closed early (then with the text generated so far)."""
        started = time.perf_counter()
        prepared = self._reserved(prepared)
        events = self._events(prepared)
        parts: list[str] = []
        answer: Answer | None = None
        failed = False
        try:
            yield Meta(str(prepared.session_id), str(prepared.message_id))
            while True:
                try:
                    event = next(events)
                except StopIteration as stop:
                    answer = stop.value
                    break
                if isinstance(event, Token):
                    parts.append(event.text)
                elif isinstance(event, Error):
                    failed = True
                yield event
        finally:
            events.close()
            generation_ms = (time.perf_counter() - started) * 1000
            if answer is not None:
                self._keep(prepared, answer, generation_ms)  # a failure here still reaches the reader
                self._remember(prepared, answer)
            else:
                try:
                    self._keep(prepared, _partial("".join(parts), failed), generation_ms)
                except Exception:  # the reader may be gone: nobody to tell but the log
                    _log.exception("chat_not_kept", session_id=str(prepared.session_id))
        if answer is None:
            return None
        return ChatResult(
            prepared.session_id, prepared.message_id, answer, prepared.retrieval_ms, generation_ms
        )

    def answer(self, prepared: Prepared) -> ChatResult:
        """The whole answer at once. Nothing is sent before it is whole, so a provider failing at any point
        hands over to the next one (a stream can fall through only before its first token)."""
        started = time.perf_counter()
        prepared = self._reserved(prepared)
        cached = prepared.cached
        try:
            if prepared.agent is not None:
                answer = drained(self._events(prepared))
            else:
                answer = cached.as_answer() if cached else self._chain.answer(prepared.request)
        except ChatModelError as exc:
            _log.warning("answer_failed", error=str(exc))
            raise DocentError(
                ErrorCode.INTERNAL_ERROR, "The answer could not be completed; please ask again."
            ) from None
        generation_ms = (time.perf_counter() - started) * 1000
        self._keep(prepared, answer, generation_ms)
        self._remember(prepared, answer)
        return ChatResult(
            prepared.session_id, prepared.message_id, answer, prepared.retrieval_ms, generation_ms
        )

    def _reserved(self, prepared: Prepared) -> Prepared:
        """`prepared` holding a reservation of the most its answer may spend; or, when what is left of a
        budget does not cover that, with models withheld (agent mode then answers the normal way, from the
        passages of one search). Nothing to reserve without a budget, for a cached answer, or when models
        are withheld already."""
        if self._budgets is None or not prepared.budgeted or prepared.cached or prepared.request.withheld:
            return prepared
        if prepared.agent is not None and self._agent is not None:
            ceiling = self._agent.ceiling(prepared.request, prepared.agent)
        else:
            ceiling = self._chain.ceiling(prepared.request)
        with self._database.unit_of_work() as uow:  # short: committed before any model is asked
            reservation = self._budgets.reserve(uow, prepared.principal, ceiling)
            uow.commit()
        if reservation.withheld is None:
            return replace(prepared, reservation=reservation.id)
        request = replace(prepared.request, withheld=reservation.withheld)
        if prepared.agent is not None:  # its searches were to find the passages
            passages = self._passages(prepared.scope, prepared.rewritten, prepared.filters)
            request = replace(request, passages=passages, notice=AGENT_UNAVAILABLE)
        return replace(prepared, request=request, agent=None)

    def _events(self, prepared: Prepared) -> Generator[StreamEvent, None, Answer | None]:
        """The answer's events: replayed from the cache, the agent's (its searches run with the asker's
        scope and the request's filters, as `prepare`'s would), or the chain's."""
        cached = prepared.cached
        if cached is not None:
            return replay(cached.as_answer())
        if prepared.agent is not None and self._agent is not None:

            def search(query: str, top_k: int) -> tuple[Passage, ...]:
                return self._passages(prepared.scope, query, prepared.filters, top_k)

            return self._agent.stream(prepared.request, prepared.agent, search)
        return self._chain.stream(prepared.request)

    def _session_history(
        self, uow: UnitOfWork, principal: Principal, session_id: uuid.UUID
    ) -> tuple[Turn, ...]:
        if uow.chat.get_session(principal.org_id, principal.user_id, session_id) is None:
            raise DocentError(ErrorCode.NOT_FOUND, "No such chat session.")
        return tuple(
            Turn("user" if m.role == "user" else "assistant", m.text)
            for m in uow.chat.messages(session_id, last=self._history)
        )

    def _remember(self, prepared: Prepared, answer: Answer) -> None:
        """Called once the answer is whole and kept; a failure here is logged, never the reader's problem."""
        lookup = prepared.lookup
        if self._recall is None or lookup is None or lookup.hit is not None:
            return
        if not self._worth_remembering(answer, prepared.request.answerer):
            return
        try:
            with self._database.unit_of_work(write=False) as uow:
                self._recall.remember(
                    uow, prepared.scope, lookup, CachedAnswer.of(answer, prepared.rewritten)
                )
        except Exception:  # the answer was delivered and kept; only the cache entry is lost
            _log.exception("answer_not_cached", message_id=str(prepared.message_id))

    def _worth_remembering(self, answer: Answer, chosen: str | None) -> bool:
        """An abstention decided without asking anyone (nothing relevant was found), or an answer of the
        chain's first answerer. An answer of a fallback (the preferred provider failed or is resting) is
        not remembered: it would outlive the outage and be served instead of a better one."""
        if answer.provider == ProviderStatus.NONE:
            return True
        preferred = self._chain.preferred(chosen)
        return (answer.provider, answer.model) == (preferred.provider, preferred.model)

    def _keep(self, prepared: Prepared, answer: Answer, generation_ms: float) -> None:
        """Keep the question and its answer, and release the answer's reservation in the same transaction, so
        that its real usage replaces it at once."""
        principal = prepared.principal
        with self._database.unit_of_work() as uow:
            if prepared.reservation is not None and self._budgets is not None:
                self._budgets.release(uow, prepared.reservation)
            chat = uow.chat.get_session(principal.org_id, principal.user_id, prepared.session_id)
            if chat is None:
                if not prepared.new_session:
                    _log.info("chat_session_gone", session_id=str(prepared.session_id))
                    uow.commit()  # the reservation is released all the same
                    return
                chat = uow.chat.add_session(
                    ChatSession(
                        id=prepared.session_id,
                        org_id=principal.org_id,
                        user_id=principal.user_id,
                        title=prepared.question[:200],
                        created_at=prepared.asked_at,
                    )
                )
            now = utcnow()
            chat.updated_at = now
            uow.flush()  # the session row first: messages refer to it
            uow.chat.add_message(_question_message(prepared))
            uow.chat.add_message(_answer_message(prepared, answer, generation_ms, now))
            uow.commit()


def _checked(question: str) -> str:
    question = question.strip()
    if not question or len(question) > MAX_QUESTION_CHARS:
        raise DocentError(
            ErrorCode.VALIDATION_ERROR, f"The question has 1 to {MAX_QUESTION_CHARS} characters."
        )
    return question


def _question_message(prepared: Prepared) -> ChatMessage:
    rewritten = prepared.rewritten if prepared.rewritten != prepared.question else None
    return ChatMessage(
        id=prepared.user_message_id,
        session_id=prepared.session_id,
        role="user",
        text=prepared.question,
        citations=[],
        rewritten_question=rewritten,
        created_at=prepared.asked_at,
    )


def _answer_message(prepared: Prepared, answer: Answer, generation_ms: float, now: datetime) -> ChatMessage:
    return ChatMessage(
        id=prepared.message_id,
        session_id=prepared.session_id,
        role="assistant",
        text=answer.text,
        citations=dump_citations(answer.citations),
        provider=answer.provider,
        model=answer.model,
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        cost_usd=cost_json(answer.cost_usd),
        retrieval_ms=round(prepared.retrieval_ms),
        generation_ms=round(generation_ms),
        created_at=now,
    )


def _partial(text: str, failed: bool) -> Answer:
    """What was sent of an answer that did not finish: kept so the history shows what the reader saw."""
    status = ProviderStatus.FAILED if failed else ProviderStatus.INTERRUPTED
    return Answer(text, (), Usage(), status, ProviderStatus.NONE)
