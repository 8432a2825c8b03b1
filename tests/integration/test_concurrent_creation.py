"""Two requests creating the same unique thing at the same moment: one wins, the other gets the 409 a later
request gets, never a 500 from the database's unique constraint (on both databases).

Each test holds the INSERTs of the thing in a barrier until both transactions have passed the existence
check, so on PostgreSQL they really collide. SQLite lets one writer in at a time (BEGIN IMMEDIATE): there the
first waits out the barrier alone and the two run one after the other, which the tests accept.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from docent.auth.audit import RequestContext
from docent.auth.oidc import Identity
from docent.auth.users import BootstrapResult
from docent.container import Container, build_container
from docent.errors import DocentError, ErrorCode
from docent.types import Role
from tests.conftest import ADMIN_EMAIL, MEMBER_PASSWORD, TEST_HASHER, Api, assert_error, make_settings

BARRIER_SECONDS = 3.0


@contextmanager
def inserts_held_together(engine: Engine, table: str) -> Iterator[threading.Barrier]:
    """Hold each INSERT into `table` until a second one is waiting too (or the barrier times out)."""
    barrier = threading.Barrier(2, timeout=BARRIER_SECONDS)

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(f"INSERT INTO {table} "):
            with suppress(threading.BrokenBarrierError):
                barrier.wait()

    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield barrier
    finally:
        event.remove(engine, "before_cursor_execute", hold)


def at_once(first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    """Run both calls in their own threads; each result, or the exception it raised."""
    results: list[Any] = [None, None]

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            results[index] = call()
        except Exception as error:  # reported to the test, which fails on it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _collided(engine: Engine, barrier: threading.Barrier) -> None:
    """On PostgreSQL both inserts were in flight at once (else the test proves nothing there)."""
    if engine.dialect.name == "postgresql":
        assert not barrier.broken, "the two inserts never met"


def _engine(client: TestClient) -> Engine:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container.database.engine


def test_one_of_two_simultaneous_creations_of_an_email_is_409(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"email": "twin@example.com", "password": MEMBER_PASSWORD, "role": "member"}

    def create() -> httpx.Response:
        return client.post("/api/v1/users", json=body, headers=admin)

    engine = _engine(client)
    with inserts_held_together(engine, "users") as barrier:
        responses = at_once(create, create)
    _collided(engine, barrier)
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    assert_error(next(r for r in responses if r.status_code == 409), 409, "email_taken")
    listed = client.get("/api/v1/users", params={"page_size": 200}, headers=admin).json()["items"]
    assert [u["email"] for u in listed].count("twin@example.com") == 1


def test_one_of_two_simultaneous_creations_of_a_group_name_is_409(
    client: TestClient, admin: dict[str, str]
) -> None:
    def create() -> httpx.Response:
        return client.post("/api/v1/groups", json={"name": "Finance"}, headers=admin)

    engine = _engine(client)
    with inserts_held_together(engine, "groups") as barrier:
        responses = at_once(create, create)
    _collided(engine, barrier)
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    assert_error(next(r for r in responses if r.status_code == 409), 409, "group_name_taken")


def test_two_operators_creating_the_same_user_in_a_new_organisation(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    """`docent admin create-user` twice at once: the organisation is made once, the user once."""
    settings = make_settings(database_url, tmp_path, embedded_worker=False)
    with build_container(settings, embedder=embedder, hasher=TEST_HASHER) as container:
        database = container.database

        def create() -> str:
            with database.unit_of_work() as uow:
                user = container.users.create_in_org(
                    uow, "globex", "boss@globex.example", MEMBER_PASSWORD, Role.ADMIN
                )
                uow.commit()
                return user.email

        with inserts_held_together(database.engine, "organizations") as barrier:
            results = at_once(create, create)
        _collided(database.engine, barrier)
        assert "boss@globex.example" in results, results
        (refused,) = [r for r in results if r != "boss@globex.example"]
        assert isinstance(refused, DocentError) and refused.code is ErrorCode.EMAIL_TAKEN, refused
        with database.unit_of_work(write=False) as uow:
            org = uow.orgs.by_slug("globex")
            assert org is not None and len(uow.users.by_email("boss@globex.example", org.id)) == 1


def test_two_servers_starting_at_once_make_one_first_admin(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    settings = make_settings(database_url, tmp_path, embedded_worker=False)
    with build_container(settings, embedder=embedder, hasher=TEST_HASHER) as container:
        database = container.database

        def bootstrap() -> BootstrapResult | None:
            with database.unit_of_work() as uow:
                created = container.users.bootstrap_admin(uow, ADMIN_EMAIL, MEMBER_PASSWORD)
                uow.commit()
                return created

        with inserts_held_together(database.engine, "organizations") as barrier:
            results = at_once(bootstrap, bootstrap)
        _collided(database.engine, barrier)
        assert not any(isinstance(r, Exception) for r in results), results
        assert sum(isinstance(r, BootstrapResult) for r in results) == 1, results
        with database.unit_of_work(write=False) as uow:
            assert uow.users.count() == 1


def test_two_simultaneous_additions_of_one_member_both_succeed(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    """Adding a member is idempotent: a second request at the same moment gets what a repeat gets."""
    user_id = api.create_user(admin, "carol@example.com")["id"]
    group_id = client.post("/api/v1/groups", json={"name": "Finance"}, headers=admin).json()["id"]

    def add() -> httpx.Response:
        return client.post(f"/api/v1/groups/{group_id}/members", json={"user_id": user_id}, headers=admin)

    engine = _engine(client)
    with inserts_held_together(engine, "group_memberships") as barrier:
        responses = at_once(add, add)
    _collided(engine, barrier)
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert all(r.json()["member_ids"] == [user_id] for r in responses), [r.text for r in responses]


def test_two_first_sign_ins_naming_one_new_group_at_once(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    """Two people's first SSO sign-ins bring the same new group: it is made once, with both in it."""
    settings = make_settings(
        database_url, tmp_path, oidc_issuer="https://idp.example", oidc_client_id="docent",
        oidc_client_secret="secret", embedded_worker=False,
    )  # fmt: skip
    with build_container(settings, embedder=embedder, hasher=TEST_HASHER) as container:
        sso, database = container.sso, container.database
        assert sso is not None
        with database.unit_of_work() as uow:  # the organisation exists: the two meet at the group
            container.users.bootstrap_admin(uow, ADMIN_EMAIL, MEMBER_PASSWORD)
            uow.commit()

        def sign_in(name: str) -> Callable[[], uuid.UUID]:
            identity = Identity(
                issuer="https://idp.example", subject=name, email=f"{name}@example.com", email_verified=True,
                name=None, claims={"groups": ["Research"]},
            )  # fmt: skip

            def run() -> uuid.UUID:
                with database.unit_of_work() as uow:
                    pair = sso.sign_in(uow, identity, RequestContext(request_id=name))
                    uow.commit()
                with database.unit_of_work(write=False) as uow:
                    return container.auth.authenticate(uow, pair.access_token).user_id

            return run

        with inserts_held_together(database.engine, "groups") as barrier:
            results = at_once(sign_in("alice"), sign_in("bob"))
        _collided(database.engine, barrier)
        assert all(isinstance(r, uuid.UUID) for r in results), results
        with database.unit_of_work(write=False) as uow:
            org = uow.orgs.by_slug(settings.oidc_organization)
            assert org is not None
            group = uow.groups.by_name(org.id, "Research")
            assert group is not None and {m.user_id for m in group.memberships} == set(results)


def test_two_simultaneous_changes_of_one_document_s_tags_both_succeed(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    (document,) = api.upload(admin, [("files", ("tags.txt", b"Tagged twice at once.", "text/plain"))])
    path = f"/api/v1/documents/{document['id']}"

    def patch() -> httpx.Response:
        return client.patch(path, json={"tags": ["finance", "policy"]}, headers=admin)

    with inserts_held_together(_engine(client), "document_tags"):
        first, second = at_once(patch, patch)
    assert [first.status_code, second.status_code] == [200, 200], (first.text, second.text)
    assert sorted(client.get(path, headers=admin).json()["tags"]) == ["finance", "policy"]
