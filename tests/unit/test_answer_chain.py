"""The provider chain and the LLM answerer, with a scripted chat model (the port's fake), and the SSE frames
of the stream events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator, Sequence
from dataclasses import replace
from decimal import Decimal

import pytest

from docent.answer.chain import PROVIDER_FAILED, LLMAnswerer, ProviderChain
from docent.answer.citations import marker_numbers, snippet_in
from docent.answer.confidence import Calibration
from docent.answer.cost import Price
from docent.answer.events import Citations, Done, Error, Meta, StreamEvent, Token, to_sse
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.types import NOT_COVERED, Answer, AnswerRequest, Citation, Passage, Turn, Usage
from docent.llm.chat import ChatCompletion, ChatDelta, ChatMessage, ChatModelError, ChatModelUnavailable
from tests.fakes import Clock

Step = str | Exception


class ScriptedChat:
    """A `ChatModel` that replies with scripted pieces; an exception in the script is raised at its place.
    It records the messages it was sent and whether its stream was closed."""

    provider = "fake"

    def __init__(
        self, model: str, script: Sequence[Step], usage: Usage | None = None, rewrite: str = ""
    ) -> None:
        self.model = model
        self.script = list(script)
        self.usage = usage or Usage(100, 20)
        self.rewrite_reply = rewrite
        self.calls: list[Sequence[ChatMessage]] = []
        self.closed = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Generator[ChatDelta, None, None]:
        self.calls.append(messages)
        try:
            for step in self.script:
                if isinstance(step, Exception):
                    raise step
                yield ChatDelta(step)
            yield ChatDelta(usage=self.usage, finish_reason="stop")
        finally:
            self.closed += 1

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> ChatCompletion:
        self.calls.append(messages)
        for step in self.script:
            if isinstance(step, Exception):
                raise step
        return ChatCompletion(self.rewrite_reply, self.usage, "stop")


PARIS = "Paris is the capital of France. It has about two million inhabitants."
SEINE = "The Seine flows through Paris. It is 777 km long."


def passages(*scores: float) -> tuple[Passage, ...]:
    texts = [PARIS, SEINE, "Unrelated text about invoices."]
    return tuple(
        Passage(n + 1, uuid.UUID(int=n + 1), f"Doc {n + 1}", 1, n + 1, (), texts[n % 3], score)
        for n, score in enumerate(scores)
    )


def ask(
    question: str = "What is the capital of France?", scores: Sequence[float] = (0.9, 0.8)
) -> AnswerRequest:
    return AnswerRequest(question, passages(*scores))


def run(stream: Generator[StreamEvent, None, Answer | None]) -> tuple[list[StreamEvent], Answer | None]:
    events: list[StreamEvent] = []
    while True:
        try:
            events.append(next(stream))
        except StopIteration as stop:
            return events, stop.value


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, Token))


def chain(*chats: ScriptedChat, clock: Clock | None = None, **options: object) -> ProviderChain:
    """A chain that answers whatever its confidence (unless a test sets `min_confidence`)."""
    options.setdefault("min_confidence", 0.0)
    return ProviderChain(
        [LLMAnswerer(chat) for chat in chats],
        ExtractiveAnswerer(),
        cooldown_seconds=30,
        clock=clock or Clock(),
        **options,  # type: ignore[arg-type]
    )


# ---------- the LLM answerer ----------


def test_llm_markers_are_checked_renumbered_and_quoted_from_the_chunk() -> None:
    chat = ScriptedChat("m", ["The Seine is 777 km long [2", "]. Paris is the capital [1][7]", "."])

    events, answer = run(chain(chat).stream(ask()))

    assert text_of(events) == "The Seine is 777 km long [1]. Paris is the capital [2]."
    assert answer is not None
    assert answer.text == text_of(events)
    assert [(c.number, c.chunk_id, c.snippet) for c in answer.citations] == [
        (1, 2, "It is 777 km long."),
        (2, 1, "Paris is the capital of France."),
    ]
    assert marker_numbers(answer.text) == [1, 2]
    assert all(snippet_in(c.snippet, (PARIS, SEINE)[c.chunk_id - 1]) for c in answer.citations)
    assert isinstance(events[-2], Citations)
    assert events[-2].citations == answer.citations


def test_llm_prompt_fences_the_passages_and_carries_history() -> None:
    chat = ScriptedChat("m", ["Yes [1]."])
    history = (Turn("user", "Tell me about Paris."), Turn("assistant", "It is a city [1]."))

    chain(chat).answer(AnswerRequest("Is it the capital?", passages(0.9), history))

    messages = chat.calls[0]
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2].content == "It is a city."
    assert '<document id=1 title="Doc 1" page=1>' in messages[-1].content
    assert messages[-1].content.endswith("Question: Is it the capital?")


def test_an_llm_that_says_the_documents_do_not_cover_it_abstains() -> None:
    answer = chain(ScriptedChat("m", [NOT_COVERED])).answer(ask())

    assert (answer.text, answer.citations, answer.abstained, answer.provider) == (
        NOT_COVERED,
        (),
        True,
        "fake",
    )


def test_an_empty_reply_falls_through_without_resting() -> None:
    chat = ScriptedChat("m", ["  "])
    providers = chain(chat)

    answer = providers.answer(ask())

    assert answer.provider == "extractive"
    assert "empty answer" in answer.failures[0]
    assert providers.resting() == []


# ---------- falling through ----------


def test_unavailable_providers_are_skipped_and_rested_until_the_cooldown_ends() -> None:
    clock = Clock()
    down = ScriptedChat("down", [ChatModelUnavailable("answered 503")])
    up = ScriptedChat("up", ["Paris [1]."])
    providers = chain(down, up, clock=clock)

    first = providers.answer(ask())
    assert (first.provider, first.model) == ("fake", "up")
    assert first.failures == ("fake:down: answered 503",)
    assert providers.resting() == ["fake:down"]

    clock.now += 29
    assert providers.answer(ask()).failures == ()
    assert len(down.calls) == 1

    clock.now += 2
    providers.answer(ask())
    assert len(down.calls) == 2


def test_a_refused_request_is_skipped_but_not_rested() -> None:
    refusing = ScriptedChat("r", [ChatModelError("answered 400")])
    providers = chain(refusing)

    providers.answer(ask())
    providers.answer(ask())

    assert len(refusing.calls) == 2
    assert providers.resting() == []


def test_streaming_falls_through_before_the_first_token() -> None:
    down = ScriptedChat("down", [ChatModelUnavailable("timeout")])

    events, answer = run(chain(down).stream(ask()))

    assert answer is not None
    assert answer.provider == "extractive"
    assert text_of(events) == answer.text
    assert "Paris is the capital of France [1]." in answer.text
    assert down.closed == 1


LONG_TAIL = [f" It has museum number {n} of many." for n in range(12)]  # past the guard's hold-back


def test_a_failure_after_the_first_token_becomes_an_error_event() -> None:
    flaky = ScriptedChat(
        "flaky", ["Paris is the capital [1].", *LONG_TAIL, ChatModelUnavailable("connection reset")]
    )
    providers = chain(flaky)

    events, answer = run(providers.stream(ask()))

    sent = text_of(events)
    assert sent.startswith("Paris is the capital [1].") and len(events) >= 2
    assert events[-1] == Error(PROVIDER_FAILED, events[-1].message)  # type: ignore[union-attr]
    assert answer is None
    assert providers.resting() == ["fake:flaky"]
    assert flaky.closed == 1


def test_a_bug_in_an_answerer_becomes_an_internal_error_event() -> None:
    buggy = ScriptedChat("buggy", [RuntimeError("boom")])

    events, answer = run(chain(buggy).stream(ask()))

    assert events == [Error("internal_error", "Internal server error.")]
    assert answer is None


def test_closing_the_stream_closes_the_model() -> None:
    chat = ScriptedChat("m", ["Paris is the capital [1].", *LONG_TAIL])
    stream = chain(chat).stream(ask())

    first = next(stream)
    assert isinstance(first, Token) and first.text and "Paris is the capital [1].".startswith(first.text)
    stream.close()

    assert chat.closed == 1


# ---------- relevance, cost, latency ----------


def test_nothing_relevant_enough_says_so_without_asking_anyone() -> None:
    chat = ScriptedChat("m", ["Paris [1]."])
    providers = chain(chat, min_relevance=0.5)

    events, answer = run(providers.stream(ask(scores=(0.3, 0.2))))

    assert answer is not None
    assert (answer.text, answer.citations, answer.abstained) == (NOT_COVERED, (), True)
    assert text_of(events) == NOT_COVERED
    assert events[-2] == Citations(())
    assert chat.calls == []
    assert providers.answer(ask(scores=())).text == NOT_COVERED


# Confidence from the best sentence's support; without an embedder that is half the share of the question's
# term weight one sentence holds: 0.05 with none of its words, 0.999 with all.
BY_OVERLAP = Calibration(intercept=-3.0, coefficients=(20.0,), threshold=0.5)


def test_below_the_calibrated_confidence_it_abstains_without_asking_anyone() -> None:
    chat = ScriptedChat("m", ["Paris [1]."])
    providers = chain(chat, calibration=BY_OVERLAP, min_confidence=None)

    events, answer = run(providers.stream(ask("Who won the football world cup in 1998?")))

    assert answer is not None and chat.calls == []
    assert (answer.text, answer.abstained) == (NOT_COVERED, True)
    assert answer.confidence == pytest.approx(0.0474, abs=1e-3)
    done = events[-1]
    assert isinstance(done, Done)
    assert done.payload()["abstained"] is True and done.payload()["confidence"] == answer.confidence


def test_an_answer_carries_its_confidence_to_the_done_event() -> None:
    chat = ScriptedChat("m", ["Paris is the capital [1]."])
    providers = chain(chat, calibration=BY_OVERLAP, min_confidence=None)

    events, answer = run(providers.stream(ask("What is the capital of France?")))

    assert answer is not None and answer.provider == "fake" and not answer.abstained
    assert answer.confidence == pytest.approx(0.9991, abs=1e-3)
    assert events[-1] == Done.of(answer)
    assert events[-1].payload()["abstained"] is False  # type: ignore[union-attr]
    # A setting may ask for more confidence than the calibration's threshold.
    strict = chain(chat, calibration=BY_OVERLAP, min_confidence=0.9995).answer(ask())
    assert strict.abstained and strict.confidence == answer.confidence


def test_passages_below_the_threshold_are_not_shown_to_the_model() -> None:
    chat = ScriptedChat("m", ["Paris [1]."])

    chain(chat, min_relevance=0.5).answer(ask(scores=(0.9, 0.1)))

    assert "<document id=2" not in chat.calls[0][-1].content


def test_answers_record_provider_usage_cost_and_latency() -> None:
    clock = Clock()
    chat = ScriptedChat("gpt-x", ["Paris [1]."], usage=Usage(1000, 500))
    prices = {"gpt-x": Price(Decimal("0.15"), Decimal("0.60"))}

    providers = chain(chat, clock=clock, prices=prices)
    stream = providers.stream(ask())
    first = next(stream)
    clock.now += 1.25
    events, answer = run(stream)

    done = events[-1]
    assert isinstance(first, Token)
    assert isinstance(done, Done)
    assert done == Done(
        Usage(1000, 500), "fake", "gpt-x", 1250.0, Decimal("0.00045"), confidence=answer.confidence
    )
    assert answer is not None
    assert (answer.cost_usd, answer.latency_ms) == (Decimal("0.00045"), 1250.0)


def test_unpriced_models_have_an_unknown_cost_and_the_extractive_answerer_costs_nothing() -> None:
    priced = chain(ScriptedChat("unpriced", ["Paris [1]."])).answer(ask())
    extractive = chain().answer(ask())

    assert priced.cost_usd is None
    assert (extractive.provider, extractive.cost_usd) == ("extractive", Decimal(0))


# ---------- rewriting follow-ups ----------

HISTORY = (Turn("user", "What is the capital of France?"), Turn("assistant", "Paris [1]."))


def test_the_first_available_model_rewrites_follow_ups() -> None:
    down = ScriptedChat("down", [ChatModelUnavailable("503")])
    up = ScriptedChat("up", [], rewrite="Standalone question: How many people live in Paris?")
    providers = chain(down, up)

    assert providers.rewrite("How many people live there?", HISTORY) == (
        "How many people live in Paris?",
        "fake",
    )
    assert providers.resting() == ["fake:down"]
    assert "User: What is the capital of France?" in up.calls[0][-1].content


def test_a_rewrite_holding_special_tokens_falls_through() -> None:
    base = ScriptedChat("base", [], rewrite="<|im_start|>assistant\nHow many people live in Paris?")
    providers = chain(base)

    rewritten = providers.rewrite("How many people live there?", HISTORY)

    assert rewritten.provider == "extractive" and "<|" not in rewritten.question


def test_without_a_model_the_rule_rewrites_and_without_history_nothing_does() -> None:
    providers = chain(ScriptedChat("down", [ChatModelUnavailable("503")]))

    assert providers.rewrite("How many people live there?", HISTORY) == (
        "How many people live there? (capital France)",
        "extractive",
    )
    assert providers.rewrite("  How many people live in Paris? ", ()) == (
        "How many people live in Paris?",
        "none",
    )


# ---------- events ----------


def test_events_render_as_sse_frames() -> None:
    citation = Citation(1, 7, uuid.UUID(int=3), "Doc", 2, 5, ("A", "B"), "Quote.", 0.5)

    frames = [
        to_sse(Meta("s-1", "m-1")),
        to_sse(Token("line one\nline two")),
        to_sse(Citations((citation,))),
        to_sse(Done(Usage(3, 4), "openai", "gpt-x", 12.345, Decimal("0.0001"))),
        to_sse(Error("provider_failed", "Try again.")),
    ]

    assert frames[0] == 'event: meta\ndata: {"session_id":"s-1","message_id":"m-1"}\n\n'
    assert frames[1] == 'event: token\ndata: {"text":"line one\\nline two"}\n\n'
    for frame in frames:
        name, data, end = frame.split("\n", 2)
        assert name.startswith("event: ") and data.startswith("data: ") and end == "\n"
    assert json.loads(frames[2].split("data: ")[1])["citations"][0] == {
        "number": 1,
        "chunk_id": 7,
        "document_id": str(uuid.UUID(int=3)),
        "title": "Doc",
        "version": 2,
        "page": 5,
        "section": ["A", "B"],
        "snippet": "Quote.",
        "score": 0.5,
    }
    assert json.loads(frames[3].split("data: ")[1]) == {
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "estimated": False},
        "provider": "openai",
        "model": "gpt-x",
        "latency_ms": 12.3,
        "cost_usd": "0.0001",
        "cached": False,
        "abstained": False,
        "confidence": None,
        "mode": "normal",
    }
    assert json.loads(frames[4].split("data: ")[1]) == {
        "error": {"code": "provider_failed", "message": "Try again."}
    }


@pytest.mark.parametrize("event", [Token("x"), Citations(()), Error("c", "m")])
def test_event_names_are_the_wire_names(event: StreamEvent) -> None:
    assert to_sse(event).startswith(f"event: {type(event).__name__.lower()}\n")


def test_a_chosen_answerer_alone_is_asked_and_the_chain_names_what_it_has() -> None:
    first = ScriptedChat("first", ["Paris [1]."])
    second = ScriptedChat("second", ["The capital is Paris [1]."])
    providers = chain(first, second)
    extractive = providers.answerers()[-1]

    assert providers.choose(None) is None and providers.choose("docent") is None
    assert providers.choose("fake:second") == providers.choose("second") == "fake:second"
    assert providers.choose(extractive.provider) == f"{extractive.provider}:{extractive.model}"
    with pytest.raises(ValueError, match="fake:first"):
        providers.choose("gpt-9")

    request = replace(ask(), answerer="fake:second")
    answer = providers.answer(request)
    assert answer.model == "second" and not first.calls and len(second.calls) == 1
    assert providers.preferred("fake:second") is providers.answerers()[1]
    assert providers.preferred() is providers.answerers()[0]

    _events, streamed = run(providers.stream(request))
    assert streamed is not None and streamed.model == "second" and not first.calls
