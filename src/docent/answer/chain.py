"""The provider chain: answerers tried in order, falling through when one fails, ending with one that
cannot fail (the extractive answerer).

A provider that is unavailable (`ChatModelUnavailable`: down, slow, rate-limited, refusing the key) is
rested for `cooldown_seconds`, so the next requests do not wait on it; one that refuses a single request
(`ChatModelError`) is only skipped for that request. While streaming, falling through is possible only
until the first token has been sent: after that the reader has seen part of an answer, so a failure ends
the stream with an `error` event instead of a second, different answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import NamedTuple, Protocol

from docent.answer.citations import MARKER, MarkerRewriter, build_citations, normalize_space
from docent.answer.confidence import CALIBRATED, Calibration, signals
from docent.answer.cost import Price, Spending, cost_of
from docent.answer.events import Citations, Done, Error, Token
from docent.answer.extractive import ExtractiveAnswerer, best_snippet, pieces
from docent.answer.guard import AnswerGuard, UnusableAnswer, special_token
from docent.answer.prompt import Prompt, build_prompt, clean_rewrite, rewrite_messages
from docent.answer.types import NOT_COVERED, Answer, AnswerRequest, Passage, Turn, Usage
from docent.errors import ErrorCode
from docent.llm.chat import ChatModel, ChatModelError, ChatModelUnavailable
from docent.observability.logs import get_logger

_log = get_logger(__name__)

# The name clients give the whole chain (OpenAI-compatible `model`, `/v1/models`).
CHAIN_MODEL = "docent"
# The code of the `error` event that ends a stream whose provider failed after its first token.
PROVIDER_FAILED = ErrorCode.PROVIDER_FAILED


class ProviderStatus(StrEnum):
    """What an answer's `provider` (and a rewrite's) says when no provider made it."""

    NONE = "none"  # nobody was asked: nothing relevant was found, or there was nothing to rewrite
    FAILED = "failed"  # the stream ended in an error; the text is what the reader was sent
    INTERRUPTED = "interrupted"  # the reader went away; the text is what the reader was sent


# What a local model's prompt holds besides passages and history: the instructions, the question and the
# chat template, as counted by the over-estimating `count_tokens`.
_LOCAL_PROMPT_OVERHEAD_TOKENS = 512
# What a chat template adds around each message (role markers), counted into a prompt's ceiling.
_TOKENS_PER_MESSAGE = 4

ChainEvent = Token | Citations | Done | Error


class Answerer(Protocol):
    """Answers a request. `stream` yields the answer's text in deltas as soon as they exist and returns the
    finished `Answer` (markers and citations agree; snippets are text of their chunks). Closing the
    generator stops the work. `rewrite` turns a follow-up into a standalone question. Both raise
    `ChatModelUnavailable` or `ChatModelError` when the provider behind the answerer fails. `ceiling` is the
    most tokens an answer to a request may use (what a budget reserves); `passages_later`: the passages are
    not known yet (agent mode gathers them), so the room they may take counts instead."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    def stream(self, request: AnswerRequest) -> Generator[str, None, Answer]: ...

    def rewrite(self, question: str, history: Sequence[Turn]) -> str: ...

    def ceiling(self, request: AnswerRequest, *, passages_later: bool = False) -> Usage: ...


class LLMAnswerer:
    """An `Answerer` around a `ChatModel`: builds the prompt, streams the reply with its citation markers
    rewritten on the fly (see `MarkerRewriter`), and quotes for each marker the sentence of the cited chunk
    closest to the sentence of the answer that carries it."""

    def __init__(
        self,
        chat: ChatModel,
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        context_tokens: int = 3000,
        history_tokens: int = 1000,
    ) -> None:
        self._chat = chat
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._context_tokens = context_tokens
        self._history_tokens = history_tokens

    @classmethod
    def within_window(cls, chat: ChatModel, window: int, max_tokens: int) -> LLMAnswerer:
        """An answerer whose prompt and reply of up to `max_tokens` fit in a local model's `window` (llama.cpp
        refuses a longer prompt): passages and history get what remote models get (3000 and 1000 tokens) when
        there is room, else three quarters and one quarter of what is left."""
        room = window - max_tokens - _LOCAL_PROMPT_OVERHEAD_TOKENS
        context = min(3000, max(256, room * 3 // 4))  # a tiny window still gets the best passage
        history = min(1000, max(0, room - context))
        return cls(chat, max_tokens=max_tokens, context_tokens=context, history_tokens=history)

    @property
    def provider(self) -> str:
        return self._chat.provider

    @property
    def model(self) -> str:
        return self._chat.model

    def _prompt(self, request: AnswerRequest) -> Prompt:
        return build_prompt(
            request.question,
            request.passages,
            request.history,
            count_tokens=self._chat.count_tokens,
            context_tokens=self._context_tokens,
            history_tokens=self._history_tokens,
        )

    def ceiling(self, request: AnswerRequest, *, passages_later: bool = False) -> Usage:
        """The prompt as the model's `count_tokens` counts it (an over-estimate for remote models), with the
        role markup of each message, and the longest reply."""
        count = self._chat.count_tokens
        prompt = sum(count(m.content) + _TOKENS_PER_MESSAGE for m in self._prompt(request).messages)
        if passages_later:
            prompt += self._context_tokens
        return Usage(prompt, self._max_tokens)

    def stream(self, request: AnswerRequest) -> Generator[str, None, Answer]:
        prompt = self._prompt(request)
        rewriter = MarkerRewriter(len(prompt.passages))
        guard = AnswerGuard()
        parts: list[str] = []
        usage = Usage()
        deltas = self._chat.stream(
            prompt.messages, max_tokens=self._max_tokens, temperature=self._temperature
        )
        raw = ""  # what the model said, before its markers were renumbered

        def trusted() -> bool:
            # A reply is held back once it marks only passages it was not given (made-up sources); one
            # that marks none is an answer in its own words, shown as it comes.
            return bool(rewriter.used) or MARKER.search(raw) is None

        try:
            for delta in deltas:
                usage = delta.usage or usage
                raw += delta.text
                text = guard.feed(rewriter.feed(delta.text), cited=trusted())
                if text:
                    parts.append(text)
                    yield text
        finally:
            deltas.close()  # a reader who went away stops the model too
        tail = guard.feed(rewriter.flush(), cited=trusted())
        tail += guard.finish(cited=trusted())
        if tail:
            parts.append(tail)
            yield tail
        text = "".join(parts)
        cited = [prompt.passages[number - 1] for number in rewriter.used]
        citations = build_citations(text, cited, best_snippet)
        abstained = normalize_space(text).startswith(NOT_COVERED) and not citations
        return Answer(text, citations, usage, self.provider, self.model, abstained=abstained)

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        messages = rewrite_messages(
            question, history, count_tokens=self._chat.count_tokens, history_tokens=self._history_tokens
        )
        reply = self._chat.complete(messages, max_tokens=96, temperature=0.0)
        token = special_token(reply.text)
        if token is not None:
            raise UnusableAnswer(f"the rewrite holds the special token {token!r}")
        return clean_rewrite(reply.text, question)


class Rewritten(NamedTuple):
    question: str
    provider: str  # who rewrote it; `ProviderStatus.NONE` when there was nothing to rewrite


def _notice(request: AnswerRequest) -> str | None:
    notices = [n for n in (request.withheld, request.notice) if n]
    return " ".join(notices) or None


def _not_covered(confidence: float) -> Answer:
    return Answer(
        NOT_COVERED,
        (),
        Usage(),
        ProviderStatus.NONE,
        ProviderStatus.NONE,
        abstained=True,
        confidence=confidence,
    )


class ProviderChain:
    """`providers` in order, then `last_resort`, which is never rested and should never fail.

    Passages scoring below `min_relevance` are not shown to any answerer. `calibration` turns the signals
    of the passages left into the answer's `confidence` (the best sentence's support measured by
    `last_resort` when it is the extractive answerer, whose sentence vectors are cached; 0 otherwise);
    below `min_confidence` (the calibration's threshold when None), or when no passage is left, the answer
    is `NOT_COVERED` without asking anyone.
    `prices` (see `docent.answer.cost`) give each answer its cost;
    `clock` (seconds, monotonic) times answers and rests.
    """

    def __init__(
        self,
        providers: Sequence[Answerer],
        last_resort: Answerer,
        *,
        cooldown_seconds: float = 30.0,
        min_relevance: float = float("-inf"),
        calibration: Calibration = CALIBRATED,
        min_confidence: float | None = None,
        prices: Mapping[str, Price] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._providers = tuple(providers)
        self._last_resort = last_resort
        self._cooldown = cooldown_seconds
        self._min_relevance = min_relevance
        self._calibration = calibration
        self._min_confidence = calibration.threshold if min_confidence is None else min_confidence
        self._prices = dict(prices or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._resting_until: dict[int, float] = {}

    def answerers(self) -> tuple[Answerer, ...]:
        """Every answerer in the order it is tried, the last resort last."""
        return (*self._providers, self._last_resort)

    def choose(self, model: str | None) -> str | None:
        """The answerer a client asked for, as `provider:model`; None for the whole chain (no model, or the
        chain's own name `docent`). A client may name an answerer as `provider:model` (what `/v1/models`
        lists), by its model or by its provider. Raises ValueError for a name the chain does not have."""
        if model is None or model.strip() in ("", CHAIN_MODEL):
            return None
        wanted = model.strip()
        for answerer in self.answerers():
            name = f"{answerer.provider}:{answerer.model}"
            if wanted in (name, answerer.model, answerer.provider):
                return name
        names = ", ".join([CHAIN_MODEL, *(f"{a.provider}:{a.model}" for a in self.answerers())])
        raise ValueError(f"There is no model {wanted!r} here; choose one of: {names}.")

    def preferred(self, answerer: str | None = None) -> Answerer:
        """Who answers when nothing fails: the chosen answerer, else the chain's first."""
        return next(a for a in self.answerers() if answerer in (None, f"{a.provider}:{a.model}"))

    def resting(self) -> list[str]:
        """The providers currently rested after a failure, as `provider:model`."""
        now = self._clock()
        with self._lock:
            rested = [i for i, until in self._resting_until.items() if until > now]
        return [f"{self._providers[i].provider}:{self._providers[i].model}" for i in sorted(rested)]

    def ceiling(self, request: AnswerRequest, *, passages_later: bool = False) -> Spending:
        """The most an answer to `request` may spend, whichever provider answers it: the largest ceiling,
        priced, of the providers it may be asked of (resting ones too: they may be back before their turn).
        Only one answer is kept, so the usage of a provider that failed before it is not counted either.
        Nothing when no model may be asked: models are withheld, or no passage is worth showing."""
        if request.withheld:
            return Spending()
        shown = tuple(p for p in request.passages if p.score >= self._min_relevance)
        relevant = replace(request, passages=shown)
        if not relevant.passages and not passages_later:
            return Spending()
        most = Spending()
        for answerer in self._providers:
            name = f"{answerer.provider}:{answerer.model}"
            if request.answerer not in (None, name) or name in request.skipped:
                continue
            usage = answerer.ceiling(relevant, passages_later=passages_later)
            most = most.most(Spending.at_most(self._prices, answerer.provider, answerer.model, usage))
        return most

    def answer(self, request: AnswerRequest) -> Answer:
        """The first answer any provider completes (nothing is sent before it is whole, so a provider may
        fail at any point and the next one takes over)."""
        started = self._clock()
        relevant, confidence = self._relevant(request)
        if relevant is None:
            return self._finish(_not_covered(confidence), started, [], confidence, request.notice)
        failures: list[str] = []
        for index, answerer in self._candidates(request.answerer, request.withheld, request.skipped):
            replies = answerer.stream(relevant)
            try:
                while True:
                    next(replies)
            except StopIteration as stop:
                answer: Answer = stop.value
                return self._finish(answer, started, failures, confidence, _notice(request))
            except ChatModelError as exc:
                if index == len(self._providers):
                    raise
                failures.append(self._failed(index, answerer, exc))
            finally:
                replies.close()
        raise AssertionError("unreachable: the last resort either answers or raises")

    def stream(self, request: AnswerRequest) -> Generator[ChainEvent, None, Answer | None]:
        """`token`s as the answering provider produces them, then `citations` and `done`; the finished
        `Answer` is the return value. Never raises: a failure after the first token (or of the last resort)
        ends the stream with one `error` event, and the return value is None. Closing the generator stops
        the provider."""
        started = self._clock()
        relevant, confidence = self._relevant(request)
        if relevant is None:
            answer = self._finish(_not_covered(confidence), started, [], confidence, request.notice)
            yield from (Token(piece) for piece in pieces(answer.text))
            yield from self._closing(answer)
            return answer
        failures: list[str] = []
        for index, answerer in self._candidates(request.answerer, request.withheld, request.skipped):
            replies = answerer.stream(relevant)
            sent = False
            try:
                while True:
                    try:
                        delta = next(replies)
                    except StopIteration as stop:
                        answer = self._finish(stop.value, started, failures, confidence, _notice(request))
                        break
                    sent = True
                    yield Token(delta)
            except ChatModelError as exc:
                failure = self._failed(index, answerer, exc)
                if sent or index == len(self._providers):
                    yield Error(PROVIDER_FAILED, PROVIDER_FAILED.default_message)
                    return None
                failures.append(failure)
                continue
            except Exception:  # a bug, not a provider failure: the stream ends with an error frame
                _log.exception("answer_failed", provider=answerer.provider, model=answerer.model)
                yield Error(ErrorCode.INTERNAL_ERROR, ErrorCode.INTERNAL_ERROR.default_message)
                return None
            finally:
                replies.close()
            yield from self._closing(answer)
            return answer
        raise AssertionError("unreachable: the last resort is always a candidate")

    def rewrite(
        self, question: str, history: Sequence[Turn], answerer: str | None = None, withheld: str | None = None
    ) -> Rewritten:
        """`question` made standalone using `history`, by the first provider that manages (the last resort
        applies a simple rule). Without an earlier user question there is nothing to rewrite."""
        if not any(turn.role == "user" for turn in history):
            return Rewritten(question.strip(), ProviderStatus.NONE)
        for index, candidate in self._candidates(answerer, withheld):
            try:
                return Rewritten(candidate.rewrite(question, history), candidate.provider)
            except ChatModelError as exc:
                if index == len(self._providers):
                    raise
                self._failed(index, candidate, exc)
        raise AssertionError("unreachable: the last resort either rewrites or raises")

    def confidence(
        self, question: str, passages: Sequence[Passage], calibration: Calibration | None = None
    ) -> float:
        """The probability (by `calibration`, the chain's own when None) that `passages` cover `question`."""
        support = 0.0
        if passages and isinstance(self._last_resort, ExtractiveAnswerer):
            support = self._last_resort.sentence_support(question, passages)
        found = signals(question, passages, support)
        return round((calibration or self._calibration).confidence(found), 4)

    def _relevant(self, request: AnswerRequest) -> tuple[AnswerRequest | None, float]:
        """The request with the passages worth showing, or None when the answer path should abstain; and
        the confidence that the documents cover the question."""
        passages = tuple(p for p in request.passages if p.score >= self._min_relevance)
        confidence = self.confidence(request.question, passages)
        if not passages or confidence < self._min_confidence:
            return None, confidence
        return replace(request, passages=passages), confidence

    def available(self, chosen: str | None = None) -> list[Answerer]:
        """The providers (not the last resort) that would be tried now, in order: not resting, `chosen`."""
        return [a for i, a in self._candidates(chosen) if i < len(self._providers)]

    def rest(self, name: str, exc: ChatModelError) -> None:
        """Count a failure of provider `name` (`provider:model`) outside the chain, as if it had answered."""
        for index, answerer in enumerate(self._providers):
            if f"{answerer.provider}:{answerer.model}" == name:
                self._failed(index, answerer, exc)
                return

    def _candidates(
        self, chosen: str | None = None, withheld: str | None = None, skipped: Sequence[str] = ()
    ) -> Iterator[tuple[int, Answerer]]:
        """Providers not resting (only the `chosen` one, if any; none `skipped`), in order, each judged when
        its turn comes; then the last resort. None but the last resort when models are `withheld`."""
        for index, answerer in enumerate(() if withheld else self._providers):
            name = f"{answerer.provider}:{answerer.model}"
            if (chosen is not None and chosen != name) or name in skipped:
                continue
            with self._lock:
                until = self._resting_until.get(index)
            if until is None or until <= self._clock():
                yield index, answerer
        yield len(self._providers), self._last_resort

    def _failed(self, index: int, answerer: Answerer, exc: ChatModelError) -> str:
        unavailable = isinstance(exc, ChatModelUnavailable)
        if unavailable and index < len(self._providers):
            with self._lock:
                self._resting_until[index] = self._clock() + self._cooldown
        _log.warning(
            "provider_failed",
            provider=answerer.provider,
            model=answerer.model,
            error=str(exc),
            rested_seconds=self._cooldown if unavailable else 0,
        )
        return f"{answerer.provider}:{answerer.model}: {exc}"

    def _finish(
        self,
        answer: Answer,
        started: float,
        failures: list[str],
        confidence: float,
        notice: str | None = None,
    ) -> Answer:
        return replace(
            answer,
            confidence=confidence,
            notice=notice,
            cost_usd=cost_of(self._prices, answer.provider, answer.model, answer.usage),
            latency_ms=(self._clock() - started) * 1000,
            failures=tuple(failures),
        )

    def _closing(self, answer: Answer) -> Iterator[ChainEvent]:
        yield Citations(answer.citations)
        yield Done.of(answer)
