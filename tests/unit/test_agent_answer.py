"""Agent mode as an answer: which provider runs it, and how the chain takes over when its answer is garbage
(the usage of every call counted)."""

from __future__ import annotations

from docent.answer.agent import AgentLimits
from docent.answer.agent_answer import AgentAnswerer
from docent.answer.chain import ProviderChain
from docent.answer.events import Citations, Done, Step, Token
from docent.answer.types import AnswerRequest, Passage, Usage
from docent.llm.chat import ChatModelUnavailable
from tests.fakes import Clock
from tests.unit.test_agent_loop import ScriptedModel, query
from tests.unit.test_answer_chain import ScriptedChat, chain, passages, run


def agent(model: ScriptedModel, *chats: ScriptedChat) -> tuple[AgentAnswerer, ProviderChain]:
    provider_chain = chain(*chats, clock=Clock())
    models = {f"{model.provider}:{model.model}": model}
    return AgentAnswerer(provider_chain, models, AgentLimits()), provider_chain


def test_the_first_available_provider_that_calls_tools_runs_agent_mode() -> None:
    tools = ScriptedModel([], provider="fake", model="b")
    answerer, provider_chain = agent(tools, ScriptedChat("a", ["x"]), ScriptedChat("b", ["y"]))
    assert answerer.pick(None, None) == "fake:b"
    assert answerer.pick("fake:a", None) is None  # the one chosen cannot call tools
    assert answerer.pick(None, "The budget is spent.") is None
    provider_chain.rest("fake:b", ChatModelUnavailable("down"))
    assert answerer.pick(None, None) is None  # resting


def test_a_garbage_agent_answer_falls_through_to_the_chain_without_it_and_every_call_counts() -> None:
    tools = ScriptedModel(
        [(query("paris"),), "Paris [1].<|im_end|>"], usage=Usage(10, 5), provider="fake", model="b"
    )
    other = ScriptedChat("a", ["Paris is the capital of France [1]."], usage=Usage(100, 20))
    answerer, _ = agent(tools, other)
    found = passages(0.9)

    def search(text: str, top_k: int) -> tuple[Passage, ...]:
        return found

    events, answer = run(answerer.stream(AnswerRequest("Capital of France?", ()), "fake:b", search))
    names = [type(e) for e in events]
    assert names[0] is Step and names[-2:] == [Citations, Done] and Token in names
    assert "im_end" not in "".join(e.text for e in events if isinstance(e, Token))
    assert answer is not None and (answer.provider, answer.model) == ("fake", "a")
    assert answer.mode == "agent" and len(answer.steps) == 1
    assert answer.usage == Usage(120, 30)  # two agent calls and the chain's answer
    assert answer.citations[0].chunk_id == found[0].chunk_id
    assert answer.failures[0].startswith("fake:b: agent ended (answered)")
    assert len(other.calls) == 1  # asked once; the agent's provider was not asked again
