"""Monthly model budgets set by admins, per organisation and per member: once spent, the remote model is not
called, the extractive answerer answers and says why, and GET /me/usage shows what was used and what is left.
Answers reserve the most they may spend before asking a model, so answers running at once cannot together
overshoot a budget. The remote model is a real HTTP server on 127.0.0.1 speaking the OpenAI protocol
(test_chat_providers)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docent.answer.budgets import BudgetService
from docent.answer.cost import Spending
from docent.auth.policy import CredentialKind, Principal
from docent.container import Container
from docent.db.records import BudgetReservation
from docent.types import Role
from tests.conftest import MEMBER_PASSWORD, Api, assert_error, make_settings, start_client
from tests.fakes import FakeChat
from tests.integration.test_chat_providers import LEAVE, QUESTION, server

__all__ = ["server"]  # the scripted model's fixture


@pytest.fixture
def budgeted(
    database_url: str, tmp_path: Path, embedder: Any, server: FakeChat
) -> Iterator[tuple[Api, dict[str, str], list[str]]]:
    url, hits = server.url, server.asked
    settings = make_settings(
        database_url,
        tmp_path,
        llm_providers=f"openai:scripted@{url}, extractive",
        llm_api_key="sk-test-key",
        llm_prices="scripted=2.50/10",
        llm_timeout_seconds=30,  # a reply held at the gate (see the concurrency test) is not a timeout
        answer_cache=False,
    )
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("leave.md", LEAVE, "text/markdown"))], visibility="org")
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        yield api, admin, hits


def _ask(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/chat", json={"question": QUESTION}, headers=headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def test_a_spent_organisation_budget_stops_the_model_and_the_answer_says_why(
    budgeted: tuple[Api, dict[str, str], list[str]],
) -> None:
    api, admin, hits = budgeted
    client = api.client
    response = client.put("/api/v1/admin/budgets/organization", json={"max_tokens": 1000}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["max_tokens"] == 1000
    first = _ask(client, admin)
    assert first["usage"]["provider"] == "openai" and first["notice"] is None
    usage = client.get("/api/v1/me/usage", headers=admin).json()
    assert usage["organization"]["tokens"] == 1230
    assert usage["organization"]["budget"]["remaining_tokens"] == 0
    assert usage["user"]["budget"] == {
        "max_tokens": None,
        "max_cost_usd": None,
        "remaining_tokens": None,
        "remaining_cost_usd": None,
    }
    assert usage["models_allowed"] is False and "organisation" in usage["reason"]
    second = _ask(client, admin)
    assert hits == ["scripted"]  # not asked again
    assert second["usage"]["provider"] == "extractive"
    assert "sixteen weeks" in second["answer"]
    assert "budget" in second["notice"]
    stream = client.post("/api/v1/chat", json={"question": QUESTION, "stream": True}, headers=admin)
    done = [line for line in stream.text.splitlines() if line.startswith("data:") and "notice" in line]
    assert done and "budget" in json.loads(done[-1][5:])["notice"]
    completion = {"model": "docent", "messages": [{"role": "user", "content": QUESTION}]}
    assert "budget" in client.post("/v1/chat/completions", json=completion, headers=admin).json()["notice"]
    assert hits == ["scripted"]
    # Lifting the cap lets the model answer again.
    client.put("/api/v1/admin/budgets/organization", json={"max_tokens": None}, headers=admin)
    assert _ask(client, admin)["usage"]["provider"] == "openai"


def test_a_members_cost_budget_is_theirs_alone(budgeted: tuple[Api, dict[str, str], list[str]]) -> None:
    api, admin, hits = budgeted
    client = api.client
    spender = api.create_user(admin, "spender@example.com")
    api.create_user(admin, "other@example.com")
    spender_headers = api.headers("spender@example.com", MEMBER_PASSWORD)
    other_headers = api.headers("other@example.com", MEMBER_PASSWORD)
    # An answer reserves its prompt and its longest reply (512 tokens at 10 USD per million, over 0.005),
    # so 0.007 lets one answer ask the model, and what that one leaves (0.0037) no second one.
    response = client.put(
        f"/api/v1/admin/budgets/users/{spender['id']}", json={"max_cost_usd": 0.007}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert _ask(client, spender_headers)["usage"]["provider"] == "openai"  # costs 0.0033
    usage = client.get("/api/v1/me/usage", headers=spender_headers).json()
    assert usage["user"]["cost_usd"] == "0.0033"
    assert usage["user"]["budget"]["remaining_cost_usd"] == "0.0037"
    assert "Your model budget" in _ask(client, spender_headers)["notice"]
    assert _ask(client, other_headers)["usage"]["provider"] == "openai"
    assert hits == ["scripted", "scripted"]
    listed = client.get("/api/v1/admin/budgets", headers=admin).json()
    assert [(b["user_id"], b["max_cost_usd"]) for b in listed] == [(spender["id"], "0.007")]


def test_only_admins_set_budgets_and_bad_ones_are_refused(
    budgeted: tuple[Api, dict[str, str], list[str]],
) -> None:
    api, admin, _hits = budgeted
    client = api.client
    api.create_user(admin, "plain@example.com")
    member = api.headers("plain@example.com", MEMBER_PASSWORD)
    assert_error(
        client.put("/api/v1/admin/budgets/organization", json={"max_tokens": 5}, headers=member), 403
    )
    assert_error(client.get("/api/v1/admin/budgets", headers=member), 403)
    missing = "/api/v1/admin/budgets/users/00000000-0000-0000-0000-000000000000"
    assert_error(client.put(missing, json={"max_tokens": 5}, headers=admin), 404, "user_not_found")
    for bad in ({"max_tokens": -1}, {"max_cost_usd": "lots"}, {"max_tokens": 5, "extra": 1}):
        assert_error(client.put("/api/v1/admin/budgets/organization", json=bad, headers=admin), 422)
    assert client.get("/api/v1/admin/budgets", headers=admin).json() == []
    assert client.get("/api/v1/me/usage", headers=member).json()["models_allowed"] is True


# ---------- reservations ----------

ORG_BUDGET = "/api/v1/admin/budgets/organization"


def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for `condition` (the bound only stops a hang; nothing here measures time)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def _asking(client: TestClient, headers: dict[str, str], replies: list[dict[str, Any]]) -> threading.Thread:
    thread = threading.Thread(target=lambda: replies.append(_ask(client, headers)), daemon=True)
    thread.start()
    return thread


def _usage(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    usage: dict[str, Any] = client.get("/api/v1/me/usage", headers=headers).json()
    return usage


def test_an_answer_holds_a_reservation_while_the_model_writes_and_then_counts_what_it_used(
    budgeted: tuple[Api, dict[str, str], list[str]], server: FakeChat
) -> None:
    api, admin, hits = budgeted
    client = api.client
    assert client.put(ORG_BUDGET, json={"max_tokens": 10**9}, headers=admin).status_code == 200
    server.gate = threading.Event()
    replies: list[dict[str, Any]] = []
    thread = _asking(client, admin, replies)
    _until(lambda: _usage(client, admin)["organization"]["reserved_tokens"] > 0, "a reservation")
    held = _usage(client, admin)
    reserved = held["organization"]["reserved_tokens"]
    # The prompt as counted and the longest reply (512 tokens), priced: both budgets count it as spending.
    assert reserved > 512 and held["user"]["reserved_tokens"] == reserved
    assert held["organization"]["tokens"] == 0
    assert held["organization"]["budget"]["remaining_tokens"] == 10**9 - reserved
    cost = held["organization"]["reserved_cost_usd"]
    assert float(cost) > 512 * 10 / 1e6  # at least the longest reply at 10 USD per million
    server.gate.set()
    thread.join(timeout=60)
    assert replies and replies[0]["usage"]["provider"] == "openai"
    after = _usage(client, admin)
    assert (after["organization"]["tokens"], after["organization"]["reserved_tokens"]) == (1230, 0)
    assert (after["user"]["cost_usd"], after["user"]["reserved_cost_usd"]) == ("0.0033", "0")
    assert after["organization"]["budget"]["remaining_tokens"] == 10**9 - 1230
    assert hits == ["scripted"]


def test_answers_at_the_same_time_cannot_both_reserve_the_last_of_a_budget(
    budgeted: tuple[Api, dict[str, str], list[str]], server: FakeChat
) -> None:
    api, admin, hits = budgeted
    client = api.client
    # What one answer reserves, read while the model holds its reply.
    assert client.put(ORG_BUDGET, json={"max_tokens": 10**9}, headers=admin).status_code == 200
    server.gate = threading.Event()
    first: list[dict[str, Any]] = []
    thread = _asking(client, admin, first)
    _until(lambda: _usage(client, admin)["organization"]["reserved_tokens"] > 0, "a reservation")
    reserved = _usage(client, admin)["organization"]["reserved_tokens"]
    server.gate.set()
    thread.join(timeout=60)
    assert first[0]["usage"]["provider"] == "openai"
    # What is left covers exactly one more reservation; two answers start together.
    assert client.put(ORG_BUDGET, json={"max_tokens": 1230 + reserved}, headers=admin).status_code == 200
    server.gate = threading.Event()
    start = threading.Barrier(2)
    replies: list[dict[str, Any]] = []

    def ask() -> None:
        start.wait()
        replies.append(_ask(client, admin))

    threads = [threading.Thread(target=ask, daemon=True) for _ in range(2)]
    for each in threads:
        each.start()
    # The loser does not wait for the model; the winner's model waits at the gate until the loser is done.
    # Were both let through, neither would finish here, and both would be answered by the model.
    deadline = time.monotonic() + 30
    while not replies and time.monotonic() < deadline:
        time.sleep(0.02)
    server.gate.set()
    for each in threads:
        each.join(timeout=60)
    assert sorted(r["usage"]["provider"] for r in replies) == ["extractive", "openai"]
    (fallback,) = [r for r in replies if r["usage"]["provider"] == "extractive"]
    assert "organisation's model budget" in fallback["notice"]
    assert "sixteen weeks" in fallback["answer"]
    assert hits == ["scripted", "scripted"]
    usage = _usage(client, admin)["organization"]
    assert (usage["tokens"], usage["reserved_tokens"]) == (2 * 1230, 0)


class _AnHourAgo(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(UTC) - timedelta(hours=1)


def _principal(client: TestClient, headers: dict[str, str]) -> Principal:
    me = client.get("/api/v1/auth/me", headers=headers).json()
    return Principal(
        uuid.UUID(me["id"]), uuid.UUID(me["org_id"]), me["email"], Role.ADMIN, CredentialKind.ACCESS_TOKEN
    )


def _reservations(container: Container) -> int:
    with container.database.unit_of_work(write=False) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(BudgetReservation)) or 0)


def test_a_reservation_counts_until_it_is_released_or_expires(
    budgeted: tuple[Api, dict[str, str], list[str]],
) -> None:
    api, admin, hits = budgeted
    client = api.client
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    principal = _principal(client, admin)
    assert client.put(ORG_BUDGET, json={"max_tokens": 5000}, headers=admin).status_code == 200
    # A live reservation of the whole budget (another answer's) leaves nothing for this one.
    with container.database.unit_of_work() as uow:
        live = container.budgets.reserve(uow, principal, Spending(5000))
        uow.commit()
    assert live.id is not None and live.withheld is None
    usage = _usage(client, admin)
    assert usage["organization"]["reserved_tokens"] == 5000 and usage["models_allowed"] is False
    refused = _ask(client, admin)
    assert refused["usage"]["provider"] == "extractive" and "budget" in refused["notice"]
    assert hits == []
    # A third one does not fit either, and holds nothing.
    with container.database.unit_of_work() as uow:
        more = container.budgets.reserve(uow, principal, Spending(1))
        uow.commit()
    assert more.id is None and more.withheld is not None and "organisation" in more.withheld
    with container.database.unit_of_work() as uow:
        container.budgets.release(uow, live.id)
        uow.commit()
    assert _usage(client, admin)["models_allowed"] is True
    # One made an hour ago by a process that died no longer counts, and is dropped by the next reservation.
    with container.database.unit_of_work() as uow:
        stale = BudgetService(clock=_AnHourAgo, reservation_seconds=600).reserve(
            uow, principal, Spending(5000)
        )
        uow.commit()
    assert stale.id is not None and _reservations(container) == 1
    usage = _usage(client, admin)
    assert usage["organization"]["reserved_tokens"] == 0 and usage["models_allowed"] is True
    assert _ask(client, admin)["usage"]["provider"] == "openai"
    assert hits == ["scripted"]
    assert _reservations(container) == 0  # the stale one dropped, the answer's own released
