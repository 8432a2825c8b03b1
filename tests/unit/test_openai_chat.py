"""The OpenAI-compatible chat adapter against a real HTTP server on 127.0.0.1 that speaks the
chat-completions protocol (streaming and not) with scripted faults, and the provider chain on top of it.

The server picks its behaviour from the requested model name, so one server plays every provider.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterator

import pytest

from docent.answer.agent import search_tool
from docent.answer.chain import PROVIDER_FAILED, LLMAnswerer, ProviderChain
from docent.answer.events import Citations, Done, Error, Token
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.types import AnswerRequest, Passage, Turn
from docent.llm.chat import (
    ChatDelta,
    ChatMessage,
    ChatModel,
    ChatModelError,
    ChatModelUnavailable,
    ToolRequest,
    ToolResult,
    Usage,
)
from docent.llm.openai_chat import OpenAIChatModel
from tests.fakes import DRIP, PARIS, Clock, FakeChat, serve_chat

API_KEY = "sk-test-" + "Zq8xW2vLp9RtY4mN"
TIMEOUT = 0.5  # the client's; "slow" answers after 4x that


@pytest.fixture
def server() -> Iterator[FakeChat]:
    with serve_chat(FakeChat(slow_seconds=4 * TIMEOUT)) as fake:
        yield fake


@pytest.fixture
def connect(server: FakeChat) -> Iterator[Callable[[str], OpenAIChatModel]]:
    """Models of the scripted server, closed after the test (so no socket outlives it)."""
    url = server.url
    made: list[OpenAIChatModel] = []

    def make(model: str) -> OpenAIChatModel:
        made.append(OpenAIChatModel(model, base_url=url, api_key=API_KEY, timeout_seconds=TIMEOUT))
        return made[-1]

    yield make
    for model in made:
        model.close()


MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is the capital of France?")]


def describe(exc: BaseException) -> str:
    """Everything a log line could show of an exception: message, repr, traceback, cause and context."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


# ---------- the adapter ----------


def test_it_satisfies_the_port(connect: Callable[[str], OpenAIChatModel]) -> None:
    model: ChatModel = connect("ok")

    assert (model.provider, model.model) == ("openai", "ok")
    assert model.count_tokens("four words of prose") > 0
    named = OpenAIChatModel("m", base_url=None, api_key=None, provider="groq")
    assert named.provider == "groq"


def test_stream_yields_deltas_then_usage(connect: Callable[[str], OpenAIChatModel], server: FakeChat) -> None:
    deltas = list(connect("ok").stream(MESSAGES, max_tokens=50, temperature=0.2, stop=["\n\n"]))

    assert [d.text for d in deltas[:-1]] == PARIS
    assert deltas[-1] == ChatDelta("", Usage(11, 7), "stop")
    request, headers = server.requests[0], server.headers[0]
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    assert (request["max_tokens"], request["temperature"], request["stop"]) == (50, 0.2, ["\n\n"])
    assert request["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert headers["authorization"] == f"Bearer {API_KEY}"


def test_stream_counts_usage_itself_when_the_server_does_not(
    connect: Callable[[str], OpenAIChatModel],
) -> None:
    last = list(connect("no-usage").stream(MESSAGES, max_tokens=50))[-1]

    assert last.usage is not None
    assert last.usage.estimated
    assert last.usage.prompt_tokens > 8
    assert last.usage.completion_tokens > 0


def test_complete_returns_text_and_usage(connect: Callable[[str], OpenAIChatModel]) -> None:
    reply = connect("ok").complete(MESSAGES, max_tokens=20)
    estimated = connect("no-usage").complete(MESSAGES, max_tokens=20)

    assert (reply.text, reply.usage, reply.finish_reason) == (
        "Standalone: the leave policy?",
        Usage(11, 7),
        "stop",
    )
    assert estimated.usage.estimated


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("status-500", r"answered 500"),
        ("status-503", r"answered 503"),
        ("status-429", r"answered 429"),
        ("status-401", r"answered 401"),
        ("status-404", r"answered 404"),
        ("slow", r"did not answer within 0.5s"),
    ],
)
@pytest.mark.parametrize("streaming", [True, False])
def test_provider_failures_are_unavailable_and_never_show_the_key(
    connect: Callable[[str], OpenAIChatModel],
    server: FakeChat,
    model: str,
    expected: str,
    streaming: bool,
) -> None:
    chat = connect(model)
    call: Callable[[], object] = (
        (lambda: list(chat.stream(MESSAGES, max_tokens=5)))
        if streaming
        else (lambda: chat.complete(MESSAGES, max_tokens=5))
    )

    with pytest.raises(ChatModelUnavailable, match=expected) as caught:
        call()

    assert API_KEY not in describe(caught.value)
    assert "***" in str(caught.value) or model == "slow"
    assert server.hits[model] == 1  # the SDK did not retry


def test_a_refused_request_is_an_error_but_not_unavailability(
    connect: Callable[[str], OpenAIChatModel],
) -> None:
    with pytest.raises(ChatModelError, match="answered 400") as caught:
        list(connect("status-400").stream(MESSAGES, max_tokens=5))

    assert not isinstance(caught.value, ChatModelUnavailable)
    assert API_KEY not in describe(caught.value)


def test_a_server_that_is_not_there_is_unavailable() -> None:
    chat = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key=API_KEY, timeout_seconds=TIMEOUT)
    try:
        with pytest.raises(ChatModelUnavailable, match=r"cannot connect to chat server 127\.0\.0\.1"):
            list(chat.stream(MESSAGES, max_tokens=5))
    finally:
        chat.close()


@pytest.mark.parametrize("model", ["malformed", "error-midstream", "truncated"])
def test_a_broken_stream_fails_after_its_first_delta(
    connect: Callable[[str], OpenAIChatModel], model: str
) -> None:
    stream = connect(model).stream(MESSAGES, max_tokens=5)
    assert next(stream).text == "Paris"

    with pytest.raises(ChatModelUnavailable) as caught:
        list(stream)

    assert API_KEY not in describe(caught.value)


def test_a_stream_that_is_not_one_is_unavailable(connect: Callable[[str], OpenAIChatModel]) -> None:
    with pytest.raises(ChatModelUnavailable, match="not a chat completion"):
        list(connect("garbage").stream(MESSAGES, max_tokens=5))


@pytest.mark.parametrize("model", ["malformed", "not-json"])
def test_a_malformed_completion_is_unavailable(connect: Callable[[str], OpenAIChatModel], model: str) -> None:
    with pytest.raises(ChatModelUnavailable, match="not a chat completion"):
        connect(model).complete(MESSAGES, max_tokens=5)


def test_closing_the_stream_hangs_up_on_the_server(
    connect: Callable[[str], OpenAIChatModel], server: FakeChat
) -> None:
    stream = connect("drip").stream(MESSAGES, max_tokens=500)
    assert next(stream).text == DRIP[0]

    stream.close()

    assert server.disconnected.wait(5), "the server kept writing to a reader that had gone"


# ---------- the chain on top ----------

LEAVE = "Paris is the capital of France. Its mayor is elected. The Seine runs through it."


def request(question: str = "What is the capital of France?") -> AnswerRequest:
    passage = Passage(1, uuid.UUID(int=1), "Europe", 1, 1, ("Capitals",), LEAVE, 0.9)
    return AnswerRequest(question, (passage,))


def chain_of(connect: Callable[[str], OpenAIChatModel], *models: str, clock: Clock) -> ProviderChain:
    providers = [LLMAnswerer(connect(model)) for model in models]
    return ProviderChain(providers, ExtractiveAnswerer(), cooldown_seconds=60, clock=clock)


@pytest.mark.parametrize(
    "failing", ["status-500", "status-429", "status-401", "slow", "garbage", "truncated-early"]
)
def test_the_chain_falls_through_and_rests_the_failing_provider(
    connect: Callable[[str], OpenAIChatModel], server: FakeChat, failing: str
) -> None:
    clock = Clock()
    chain = chain_of(connect, failing, "ok", clock=clock)

    events = list(chain.stream(request()))

    assert "".join(e.text for e in events if isinstance(e, Token)) == "Paris is the capital of France [1]."
    done = events[-1]
    assert isinstance(done, Done)
    assert (done.provider, done.model, done.usage) == ("openai", "ok", Usage(11, 7))
    assert chain.resting() == [f"openai:{failing}"]

    chain.answer(request())  # while resting, the failing provider is not asked
    assert server.hits[failing] == 1

    clock.now += 61
    chain.answer(request())  # rested long enough: asked again
    assert server.hits[failing] == 2


def test_a_refused_request_falls_through_without_resting(
    connect: Callable[[str], OpenAIChatModel], server: FakeChat
) -> None:
    chain = chain_of(connect, "status-400", clock=Clock())

    first = chain.answer(request())
    chain.answer(request())

    assert first.provider == "extractive"
    assert "openai:status-400" in first.failures[0]
    assert chain.resting() == []
    assert server.hits["status-400"] == 2


def test_when_every_model_fails_the_extractive_answerer_answers(
    connect: Callable[[str], OpenAIChatModel],
) -> None:
    chain = chain_of(connect, "status-500", "slow", clock=Clock())

    events = list(chain.stream(request()))

    citations, done = events[-2], events[-1]
    assert isinstance(citations, Citations)
    assert isinstance(done, Done)
    assert done.provider == "extractive"
    assert citations.citations[0].snippet == "Paris is the capital of France."


def test_a_failure_after_the_first_token_ends_the_stream_with_an_error(
    connect: Callable[[str], OpenAIChatModel], server: FakeChat
) -> None:
    # Long enough that the answer guard shows its start (it holds back the last 200 characters).
    shown = "Paris is the capital of France [1]. " + " ".join(f"word{n}" for n in range(60))
    server.replies["error-midstream"] = [shown]
    chain = chain_of(connect, "error-midstream", "ok", clock=Clock())
    events: list[object] = []

    stream = chain.stream(request())
    try:
        while True:
            events.append(next(stream))
    except StopIteration as stop:
        result = stop.value

    del server.replies["error-midstream"]
    assert isinstance(events[0], Token) and shown.startswith(events[0].text)
    assert events[-1] == Error(PROVIDER_FAILED, "The answer could not be completed; please ask again.")
    assert not any(isinstance(e, Done) for e in events)
    assert result is None
    assert API_KEY not in json.dumps([str(e) for e in events])


def test_a_reader_who_leaves_stops_the_model(
    connect: Callable[[str], OpenAIChatModel], server: FakeChat
) -> None:
    stream = chain_of(connect, "drip", clock=Clock()).stream(request())
    assert isinstance(next(stream), Token)

    stream.close()

    assert server.disconnected.wait(5)


def test_the_model_rewrites_follow_ups(connect: Callable[[str], OpenAIChatModel]) -> None:
    chain = chain_of(connect, "status-500", "ok", clock=Clock())
    history = [Turn("user", "What is the leave policy?"), Turn("assistant", "Twenty days [1].")]

    rewritten = chain.rewrite("Does it apply to interns?", history)

    assert rewritten == ("Standalone: the leave policy?", "openai")


def test_first_token_arrives_before_the_reply_is_complete(
    connect: Callable[[str], OpenAIChatModel], server: FakeChat
) -> None:
    stream = chain_of(connect, "drip", clock=Clock()).stream(request())
    started = time.monotonic()
    first = next(stream)
    stream.close()

    # The dripping reply takes 200 x 20 ms; the first token came long before its end.
    assert isinstance(first, Token)
    assert server.hits["drip"] == 1
    assert time.monotonic() - started < 4


def test_a_tool_turn_sends_the_tools_and_reads_the_calls_back(
    server: FakeChat, connect: Callable[[str], OpenAIChatModel]
) -> None:
    server.tool_turns = {"agent": [("leave policy",), "Leave is 16 weeks [1]."]}
    model = connect("agent")
    first = model.complete_tools(MESSAGES, [search_tool(5)], max_tokens=64)
    assert first.text == "" and first.finish_reason == "tool_calls"
    (call,) = first.calls
    assert (call.name, json.loads(call.arguments)) == ("search", {"query": "leave policy"})
    sent = server.requests[-1]
    assert sent["tool_choice"] == "auto" and sent["tools"][0]["function"]["name"] == "search"
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["query"]

    history = [*MESSAGES, ToolRequest("", (call,)), ToolResult(call.id, "<document id=1>16 weeks</document>")]
    second = model.complete_tools(history, [search_tool(5)], max_tokens=64)
    assert second.text == "Leave is 16 weeks [1]." and second.calls == () and second.usage.total_tokens == 18
    wire = server.requests[-1]["messages"]
    assert wire[-2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": "search", "arguments": call.arguments}}
        ],
    }
    assert wire[-1] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "<document id=1>16 weeks</document>",
    }
    forced = model.complete_tools(MESSAGES, [search_tool(5)], max_tokens=64, tool_choice="none")
    assert forced.calls == () and server.requests[-1]["tool_choice"] == "none"


def test_a_failing_tool_turn_is_translated(connect: Callable[[str], OpenAIChatModel]) -> None:
    with pytest.raises(ChatModelUnavailable) as caught:
        connect("status-503").complete_tools(MESSAGES, [search_tool(5)], max_tokens=64)
    assert API_KEY not in str(caught.value)
    with pytest.raises(ChatModelError):
        connect("status-400").complete_tools(MESSAGES, [search_tool(5)], max_tokens=64)
