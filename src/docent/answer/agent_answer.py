"""Agent mode as an answer: the agent loop (`docent.answer.agent`) run for one request, its steps streamed,
then its answer checked like any model's, or, when it has none fit to show, the provider chain's answer
from the passages the steps gathered.

The model's answer arrives whole (tool calls are not streamed), so it goes through the marker rewriter and
the guard (`docent.answer.guard`) before any of it is sent: special tokens, an empty reply, a loop or
made-up citations make the agent's provider count as failed for this question, and the chain answers
instead, without it (the providers after it, ending with the extractive answerer). Usage and cost count
every call the agent made, whoever wrote the final answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from decimal import Decimal

from docent.answer.agent import AgentLimits, AgentLoop, AgentOutcome, Search, add_usage
from docent.answer.chain import ProviderChain
from docent.answer.citations import MARKER, MarkerRewriter, build_citations
from docent.answer.confidence import CALIBRATED, Calibration
from docent.answer.cost import Price, Spending, cost_of
from docent.answer.events import Citations, Done, Error, Step, Token
from docent.answer.extractive import best_snippet, pieces
from docent.answer.guard import AnswerGuard, UnusableAnswer, is_abstention
from docent.answer.types import AgentStep, Answer, AnswerRequest, Citation, Passage
from docent.errors import ErrorCode
from docent.llm.chat import ChatModelError, ToolCallingModel, Usage
from docent.observability.logs import get_logger

_log = get_logger(__name__)

AGENT_UNAVAILABLE = (
    "Agent mode needs a language model that can call tools, and none is available for this answer; "
    "it was answered from one search instead."
)
AgentEvent = Step | Token | Citations | Done | Error


def checked(text: str, passages: tuple[Passage, ...]) -> tuple[str, tuple[Citation, ...]]:
    """A whole reply with its markers renumbered, and its citations; raises `UnusableAnswer` for garbage
    (the guard's rules, applied as `LLMAnswerer` applies them to a streamed reply)."""
    rewriter = MarkerRewriter(len(passages))
    guard = AnswerGuard()
    rewritten = rewriter.feed(text) + rewriter.flush()
    trusted = bool(rewriter.used) or MARKER.search(text) is None
    shown = guard.feed(rewritten, cited=trusted) + guard.finish(cited=trusted)
    cited = [passages[number - 1] for number in rewriter.used]
    return shown, build_citations(shown, cited, best_snippet)


class AgentAnswerer:
    """Runs agent mode with the first available provider of `chain` that can call tools (`models`, by
    `provider:model`). Passages below `min_relevance` never reach the model, as in the chain."""

    def __init__(
        self,
        chain: ProviderChain,
        models: Mapping[str, ToolCallingModel],
        limits: AgentLimits,
        *,
        min_relevance: float = float("-inf"),
        calibration: Calibration = CALIBRATED,
        prices: Mapping[str, Price] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chain = chain
        self._models = dict(models)
        self._limits = limits
        self._min_relevance = min_relevance
        self._calibration = calibration
        self._prices = dict(prices or {})
        self._clock = clock

    def pick(self, chosen: str | None, withheld: str | None) -> str | None:
        """The provider (`provider:model`) that would run agent mode now, or None: no provider that can
        call tools is configured, chosen, and not resting, or models are `withheld` (a spent budget)."""
        if withheld:
            return None
        names = (f"{a.provider}:{a.model}" for a in self._chain.available(chosen))
        return next((name for name in names if name in self._models), None)

    def ceiling(self, request: AnswerRequest, name: str) -> Spending:
        """The most agent mode with `name` may spend on `request`: every token the loop may use, priced as
        if all were of the dearer kind (prompt or reply), and then the chain's answer from passages not
        known yet, without the agent's provider."""
        model = self._models[name]
        tokens = self._limits.max_tokens
        as_prompt = Spending.at_most(self._prices, model.provider, model.model, Usage(tokens, 0))
        as_reply = Spending.at_most(self._prices, model.provider, model.model, Usage(0, tokens))
        fallback = replace(request, skipped=(*request.skipped, name))
        return as_prompt.most(as_reply) + self._chain.ceiling(fallback, passages_later=True)

    def stream(
        self, request: AnswerRequest, name: str, search: Search
    ) -> Generator[AgentEvent, None, Answer | None]:
        """`step`s, then the answer's `token`s, `citations` and `done`; or an `error` (then None). Never
        raises; closing the generator stops the work."""
        started = self._clock()
        model = self._models[name]

        def readable(query: str, top_k: int) -> tuple[Passage, ...]:
            return tuple(p for p in search(query, top_k) if p.score >= self._min_relevance)

        try:
            loop = AgentLoop(model, readable, self._limits, self._clock).run(
                request.question, request.history
            )
            while True:
                try:
                    step = next(loop)
                except StopIteration as stop:
                    outcome: AgentOutcome = stop.value
                    break
                yield Step(step)
            answer = self._answer(request, outcome, model, started)
            if answer is not None:
                yield from (Token(piece) for piece in pieces(answer.text))
                yield Citations(answer.citations)
                yield Done.of(answer)
                return answer
            return (yield from self._fall_back(request, name, outcome, readable, started))
        except Exception:  # a bug, not a model's failure: the stream ends with an error frame
            _log.exception("agent_failed", provider=model.provider, model=model.model)
            yield Error(ErrorCode.INTERNAL_ERROR, ErrorCode.INTERNAL_ERROR.default_message)
            return None

    def _answer(
        self, request: AnswerRequest, outcome: AgentOutcome, model: ToolCallingModel, started: float
    ) -> Answer | None:
        """The model's answer, checked; None when it gave none or garbage."""
        _log.info(
            "agent_ended", ended=outcome.ended, steps=len(outcome.steps), tokens=outcome.usage.total_tokens
        )
        if outcome.text is None:
            return None
        try:
            text, citations = checked(outcome.text, outcome.passages)
        except UnusableAnswer as exc:
            _log.warning("agent_answer_unusable", provider=model.provider, model=model.model, error=str(exc))
            return None
        return Answer(
            text,
            citations,
            outcome.usage,
            model.provider,
            model.model,
            abstained=is_abstention(text) and not citations,
            confidence=self._confidence(request.question, outcome.passages),
            cost_usd=cost_of(self._prices, model.provider, model.model, outcome.usage),
            latency_ms=(self._clock() - started) * 1000,
            notice=request.notice,
            mode="agent",
            steps=outcome.steps,
        )

    def _fall_back(
        self, request: AnswerRequest, name: str, outcome: AgentOutcome, search: Search, started: float
    ) -> Generator[AgentEvent, None, Answer | None]:
        """The chain's answer from the passages gathered, without the agent's provider (it had its turn);
        when the steps found nothing, from one search for the question, shown as one more step."""
        if outcome.error is not None:
            self._chain.rest(name, outcome.error)
        steps, passages = outcome.steps, outcome.passages
        if not passages:
            found = search(request.question, self._limits.top_k)
            extra = AgentStep(len(steps) + 1, request.question, found)
            yield Step(extra)
            steps, passages = (*steps, extra), found
        events = self._chain.stream(replace(request, passages=passages, skipped=(*request.skipped, name)))
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                answer: Answer | None = stop.value
                break
            if not isinstance(event, Done):  # sent below, with the agent's calls counted in
                yield event
        if answer is None:
            return None
        model = self._models[name]
        merged = replace(
            answer,
            usage=add_usage(outcome.usage, answer.usage),
            cost_usd=self._cost(model, outcome, answer.cost_usd),
            latency_ms=(self._clock() - started) * 1000,
            mode="agent",
            steps=steps,
            failures=(f"{name}: agent ended ({outcome.ended})", *answer.failures),
        )
        yield Done.of(merged)
        return merged

    def _cost(self, model: ToolCallingModel, outcome: AgentOutcome, then: Decimal | None) -> Decimal | None:
        spent = cost_of(self._prices, model.provider, model.model, outcome.usage)
        return None if spent is None or then is None else spent + then

    def _confidence(self, question: str, passages: tuple[Passage, ...]) -> float:
        return self._chain.confidence(question, passages, self._calibration)


def drained(events: Generator[object, None, Answer | None]) -> Answer:
    """The answer at the end of a stream of events; a stream that ended in an `error` raises
    ChatModelError (the non-streaming reply has no other way to say so)."""
    try:
        while True:
            next(events)
    except StopIteration as stop:
        if stop.value is None:
            raise ChatModelError("the answer ended in an error") from None
        answer: Answer = stop.value
        return answer
    finally:
        events.close()
