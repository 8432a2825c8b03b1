"""The agent loop and the check of its answer, with a scripted tool-calling model in memory (the port's fake)
and a search over a fixed list of passages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pytest

from docent.answer.agent import AgentLimits, AgentLoop, AgentOutcome
from docent.answer.agent_answer import checked
from docent.answer.guard import UnusableAnswer
from docent.answer.types import AgentStep, Passage, Usage
from docent.llm.chat import ChatModelUnavailable, Tool, ToolCall, ToolMessage, ToolReply, ToolResult
from tests.fakes import Clock


def passage(chunk_id: int, text: str) -> Passage:
    return Passage(chunk_id, uuid.UUID(int=chunk_id), f"Doc {chunk_id}", 1, None, (), text, 0.5)


A, B, C = passage(1, "Alpha is first."), passage(2, "Beta is second."), passage(3, "Gamma is third.")
FOUND = {"alpha": (A, B), "beta": (B, C), "gamma": (C,)}

Turn = str | tuple[str, ...]  # an answer, or the raw arguments of tool calls


@dataclass
class ScriptedModel:
    turns: Sequence[Turn]
    usage: Usage = field(default_factory=lambda: Usage(10, 5))
    clock: Clock | None = None
    seconds_per_call: float = 0.0
    seen: list[tuple[list[ToolMessage], str]] = field(default_factory=list)
    fail: bool = False

    provider: str = "openai"
    model: str = "scripted"

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def complete_tools(
        self,
        messages: Sequence[ToolMessage],
        tools: Sequence[Tool],
        *,
        max_tokens: int,
        tool_choice: Literal["auto", "none"] = "auto",
        timeout_seconds: float | None = None,
    ) -> ToolReply:
        self.seen.append((list(messages), tool_choice))
        if self.clock is not None:
            self.clock.now += self.seconds_per_call
        if self.fail:
            raise ChatModelUnavailable("down")
        turn = self.turns[min(len(self.seen), len(self.turns)) - 1]
        if tool_choice == "none" or isinstance(turn, str):
            text = turn if isinstance(turn, str) else "Alpha is first [1]."
            return ToolReply(text, (), self.usage, "stop")
        calls = tuple(ToolCall(f"c{len(self.seen)}-{i}", "search", a) for i, a in enumerate(turn))
        return ToolReply("", calls, self.usage, "tool_calls")


def query(text: str, top_k: int | None = None) -> str:
    return json.dumps({"query": text} if top_k is None else {"query": text, "top_k": top_k})


class Searches:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def __call__(self, text: str, top_k: int) -> tuple[Passage, ...]:
        self.asked.append((text, top_k))
        return FOUND.get(text.lower(), ())[:top_k]


def run(
    model: ScriptedModel, limits: AgentLimits, clock: Clock | None = None
) -> tuple[list[AgentStep], AgentOutcome, Searches]:
    searches = Searches()
    loop = AgentLoop(model, searches, limits, clock or Clock()).run("What are alpha and gamma?")
    steps: list[AgentStep] = []
    while True:
        try:
            steps.append(next(loop))
        except StopIteration as stop:
            return steps, stop.value, searches


def tool_results(model: ScriptedModel) -> list[str]:
    return [m.content for m in model.seen[-1][0] if isinstance(m, ToolResult)]


def test_passages_keep_their_number_across_steps_and_the_answer_may_cite_any() -> None:
    model = ScriptedModel([(query("alpha"),), (query("beta"),), "Alpha [1] and gamma [3]."])
    steps, outcome, _ = run(model, AgentLimits(max_steps=4))
    assert [(s.number, s.query, s.passages) for s in steps] == [(1, "alpha", (A, B)), (2, "beta", (B, C))]
    assert outcome.passages == (A, B, C) and outcome.ended == "answered"
    first, second = tool_results(model)
    assert "<document id=1" in first and "<document id=2" in first
    assert "document id=2 again" in second and "<document id=3" in second and "Beta" not in second
    text, citations = checked(outcome.text or "", outcome.passages)
    assert text == "Alpha [1] and gamma [2]."  # renumbered in order of use
    assert [c.chunk_id for c in citations] == [A.chunk_id, C.chunk_id]
    assert outcome.usage == Usage(30, 15)  # three calls


def test_a_repeated_query_is_not_searched_again_but_counts_and_the_model_must_answer() -> None:
    model = ScriptedModel([(query("Alpha"),), (query("  alpha "),)])  # then the same for ever
    steps, outcome, searches = run(model, AgentLimits(max_steps=3))
    assert searches.asked == [("Alpha", 5)]
    assert [s.repeated for s in steps] == [False, True, True]
    assert steps[1].passages == (A, B)
    assert [choice for _, choice in model.seen] == ["auto", "auto", "auto", "none"]
    assert outcome.ended == "steps" and outcome.text == "Alpha is first [1]."
    assert "Searched already" in tool_results(model)[-1]


def test_calls_beyond_the_bound_in_one_turn_are_not_searched() -> None:
    model = ScriptedModel([(query("alpha"), query("beta"), query("gamma")), "Done [1]."])
    steps, outcome, searches = run(model, AgentLimits(max_steps=2))
    assert [s.query for s in steps] == ["alpha", "beta"] and len(searches.asked) == 2
    assert "No more searches" in tool_results(model)[-1]
    assert model.seen[-1][1] == "none" and outcome.ended == "steps"


def test_the_token_bound_stops_before_a_call_that_would_cross_it() -> None:
    model = ScriptedModel([(query("alpha"),)], usage=Usage(700, 10))
    steps, outcome, _ = run(model, AgentLimits(max_steps=4, max_tokens=1200, reply_tokens=256))
    assert len(model.seen) == 1 and len(steps) == 1
    assert outcome.ended == "tokens" and outcome.text is None and outcome.passages == (A, B)


def test_the_time_bound_stops_the_loop() -> None:
    clock = Clock()
    model = ScriptedModel([(query("alpha"),), (query("gamma"),)], clock=clock, seconds_per_call=4.0)
    steps, outcome, _ = run(model, AgentLimits(max_steps=10, seconds=10.0), clock)
    assert len(model.seen) == 3 and outcome.ended == "time" and outcome.text is None
    assert [s.query for s in steps] == ["alpha", "gamma", "gamma"]


def test_bad_arguments_count_as_a_step_without_searching_and_top_k_is_clamped() -> None:
    model = ScriptedModel(
        [("not json", json.dumps({"q": 1}), query("alpha", 99), query("gamma", 0)), "A [1]."]
    )
    steps, _, searches = run(model, AgentLimits(max_steps=6, top_k=3))
    assert searches.asked == [("alpha", 3), ("gamma", 1)]
    assert [s.number for s in steps] == [3, 4]
    assert tool_results(model)[0].startswith("Call `search`")


def test_a_failing_model_ends_the_loop_with_its_error() -> None:
    model = ScriptedModel([], fail=True)
    steps, outcome, _ = run(model, AgentLimits())
    assert steps == [] and outcome.ended == "failed"
    assert isinstance(outcome.error, ChatModelUnavailable)


def test_a_call_cut_short_by_the_time_bound_is_the_bound_not_a_failing_model() -> None:
    clock = Clock()
    model = ScriptedModel([], fail=True, clock=clock, seconds_per_call=11.0)
    _, outcome, _ = run(model, AgentLimits(seconds=10.0), clock)
    assert outcome.ended == "time" and outcome.error is None


@pytest.mark.parametrize(
    "reply",
    ["Alpha [1].<|im_end|>", "", "Alpha is great [7].", "I am sorry, I cannot help with that. " * 6],
)
def test_the_answer_is_checked_like_any_model_answer(reply: str) -> None:
    with pytest.raises(UnusableAnswer):
        checked(reply, (A, B))
