"""Property: whatever the organisations, users, groups, memberships and documents, no search in any mode
returns a chunk its reader may not read, and a readable chunk that matches exactly is found. Checked on
both databases, before and after changes that must apply at once: a new membership, a deletion, and random
sharing changes after upload (visibility and groups, shares with single users, taken back).

Readability is computed here from the generated world alone, never with the code under test."""

from __future__ import annotations

import io
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docent.auth.audit import CLI_CONTEXT
from docent.auth.policy import Principal
from docent.container import Container, build_container
from docent.errors import DocentError, ErrorCode
from docent.ingest.service import IncomingFile, UploadOptions, Visibility
from docent.ingest.sharing import DocumentChanges
from docent.search.retrieve import SearchMode
from docent.types import Role
from tests.conftest import MEMBER_PASSWORD, TEST_HASHER, make_settings

COMMON = "memo"
TEXTS = [
    f"{COMMON.capitalize()}: {body}"
    for body in (
        "the cafeteria serves vegetable lasagna every Friday at noon.",
        "quarterly revenue grew by twelve percent in the northern region.",
        "the data centre in Oslo is cooled with seawater pumps.",
        "new hires receive a laptop and a badge on their first morning.",
        "the annual hackathon takes place in the mountains in September.",
        "parking permits for the underground garage expire in March.",
        "the legal team reviews every supplier contract above fifty thousand euros.",
    )
]


@dataclass
class Doc:
    owner: int
    visibility: str
    groups: list[int]
    text: int
    deleted: bool
    users: set[int] = field(default_factory=set)  # shared with these users alone


@dataclass
class World:
    users: list[tuple[int, Role]]  # (org, role); each org's first user is its admin
    groups: list[int]  # org of each group
    memberships: set[tuple[int, int]]  # (user, group)
    docs: list[Doc]
    change: tuple[Any, ...] | None = None
    sharing: list[tuple[Any, ...]] = field(default_factory=list)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    orgs = draw(st.integers(1, 2))
    users: list[tuple[int, Role]] = []
    for org in range(orgs):
        users.append((org, Role.ADMIN))
        users.extend(
            (org, draw(st.sampled_from([Role.MEMBER, Role.MEMBER, Role.ADMIN])))
            for _ in range(draw(st.integers(0, 2)))
        )
    groups = [org for org in range(orgs) for _ in range(draw(st.integers(0, 2)))]
    memberships: set[tuple[int, int]] = set()
    if groups:
        pairs = draw(
            st.lists(st.tuples(st.integers(0, len(users) - 1), st.integers(0, len(groups) - 1)), max_size=5)
        )
        memberships = {(u, g) for u, g in pairs if users[u][0] == groups[g]}
    texts = draw(st.permutations(range(len(TEXTS))))
    docs = []
    for text in texts[: draw(st.integers(1, 5))]:
        owner = draw(st.integers(0, len(users) - 1))
        own_groups = [g for g, org in enumerate(groups) if org == users[owner][0]]
        visibility = draw(st.sampled_from(["private", "org", "group"] if own_groups else ["private", "org"]))
        shared = (
            draw(st.lists(st.sampled_from(own_groups), min_size=1, max_size=2, unique=True))
            if visibility == "group"
            else []
        )
        docs.append(
            Doc(owner, visibility, shared, text, draw(st.booleans() if len(docs) else st.just(False)))
        )
    change = draw(
        st.one_of(
            st.none(),
            st.tuples(
                st.just("join"), st.integers(0, len(users) - 1), st.integers(0, max(len(groups) - 1, 0))
            ),
            st.tuples(st.just("delete"), st.integers(0, len(docs) - 1)),
        )
    )
    sharing = draw(
        st.lists(
            st.one_of(
                st.tuples(
                    st.just("visibility"),
                    st.integers(0, len(docs) - 1),
                    st.sampled_from(["private", "org", "group"]),
                    st.lists(st.integers(0, max(len(groups) - 1, 0)), min_size=1, max_size=2, unique=True),
                ),
                st.tuples(st.just("share"), st.integers(0, len(docs) - 1), st.integers(0, len(users) - 1)),
                st.tuples(st.just("unshare"), st.integers(0, len(docs) - 1), st.integers(0, len(users) - 1)),
            ),
            max_size=4,
        )
    )
    return World(users, groups, memberships, docs, change, sharing)


def may_read(world: World, user: int, doc: Doc) -> bool:
    org, role = world.users[user]
    if doc.deleted or world.users[doc.owner][0] != org:
        return False
    if role is Role.ADMIN or doc.visibility == "org" or doc.owner == user or user in doc.users:
        return True
    return doc.visibility == "group" and any((user, g) in world.memberships for g in doc.groups)


@dataclass
class Built:
    principals: list[Principal]
    group_ids: list[uuid.UUID]
    document_ids: list[uuid.UUID]
    admins: dict[int, Principal] = field(default_factory=dict)


@pytest.fixture
def container(database_url: str, tmp_path: Path, embedder: Any) -> Iterator[Container]:
    built = build_container(
        make_settings(database_url, tmp_path, embedded_worker=False), embedder=embedder, hasher=TEST_HASHER
    )
    yield built
    built.close()


@pytest.fixture
def fts5_container(sqlite_template: Path, tmp_path: Path, embedder: Any) -> Iterator[Container]:
    """SQLite with keyword search by FTS5's bm25() instead of the in-memory index."""
    target = tmp_path / "fts5.db"
    shutil.copy(sqlite_template, target)
    settings = make_settings(f"sqlite:///{target}", tmp_path, embedded_worker=False, keyword_index="fts5")
    built = build_container(settings, embedder=embedder, hasher=TEST_HASHER)
    yield built
    built.close()


def build(container: Container, world: World) -> Built:
    tag = uuid.uuid4().hex[:10]
    database = container.database
    principals: list[Principal] = []
    with database.unit_of_work() as uow:
        for i, (org, role) in enumerate(world.users):
            container.users.create_in_org(
                uow, f"org-{tag}-{org}", f"u{i}@{tag}.example", MEMBER_PASSWORD, role
            )
        uow.commit()
        for i, (org, _role) in enumerate(world.users):
            principals.append(container.auth.local_principal(uow, f"u{i}@{tag}.example", f"org-{tag}-{org}"))
    built = Built(principals, [], [])
    built.admins = {
        org: principals[i] for i, (org, role) in reversed(list(enumerate(world.users))) if role is Role.ADMIN
    }
    with database.unit_of_work() as uow:
        for g, org in enumerate(world.groups):
            built.group_ids.append(
                container.groups.create(uow, built.admins[org], f"g{g}", None, CLI_CONTEXT).id
            )
        for user, group in sorted(world.memberships):
            container.groups.add_member(
                uow,
                built.admins[world.groups[group]],
                built.group_ids[group],
                principals[user].user_id,
                CLI_CONTEXT,
            )
        for doc in world.docs:
            staged = container.blobs.stage(io.BytesIO(TEXTS[doc.text].encode()), 1 << 20)
            options = UploadOptions(
                visibility=Visibility(doc.visibility), group_ids=tuple(built.group_ids[g] for g in doc.groups)
            )
            incoming = IncomingFile(f"memo-{doc.text}.txt", "text/plain", staged)
            (accepted,) = container.documents.accept_files(
                uow, principals[doc.owner], [incoming], options, CLI_CONTEXT
            )
            assert not accepted.duplicate
            built.document_ids.append(accepted.document.id)
        uow.commit()
    run_jobs(container)
    with database.unit_of_work() as uow:  # deleted after indexing: their chunks existed
        for doc, document_id in zip(world.docs, built.document_ids, strict=True):
            if doc.deleted:
                container.documents.delete(uow, principals[doc.owner], document_id, CLI_CONTEXT)
        uow.commit()
    return built


def run_jobs(container: Container) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with container.database.unit_of_work(write=False) as uow:
        ready = uow.jobs.claimable_ids(later, later - timedelta(days=1), "ingest", 100)
    for job_id in ready:
        container.runner.run(job_id)


def apply_change(container: Container, world: World, built: Built) -> None:
    if world.change is None:
        return
    with container.database.unit_of_work() as uow:
        if world.change[0] == "join" and world.groups:
            user, group = world.change[1], world.change[2]
            if world.users[user][0] == world.groups[group]:
                admin = built.admins[world.groups[group]]
                container.groups.add_member(
                    uow, admin, built.group_ids[group], built.principals[user].user_id, CLI_CONTEXT
                )
                world.memberships.add((user, group))
        elif world.change[0] == "delete":
            doc = world.docs[world.change[1]]
            if not doc.deleted:
                document_id = built.document_ids[world.change[1]]
                container.documents.delete(uow, built.principals[doc.owner], document_id, CLI_CONTEXT)
                doc.deleted = True
        uow.commit()


def apply_sharing(container: Container, world: World, built: Built) -> None:
    """Each change through the sharing service, as its owner; what the service must refuse (another
    organisation's user or group, a share that is not there) is refused and changes nothing."""
    for change in world.sharing:
        doc = world.docs[change[1]]
        owner = built.principals[doc.owner]
        document_id = built.document_ids[change[1]]
        org = world.users[doc.owner][0]
        with container.database.unit_of_work() as uow:
            try:
                if change[0] == "visibility":
                    groups = [g for g in change[3] if g < len(world.groups)] if change[2] == "group" else []
                    changes = DocumentChanges(
                        visibility=Visibility(change[2]), group_ids=tuple(built.group_ids[g] for g in groups)
                    )
                    container.sharing.update(uow, owner, document_id, changes, CLI_CONTEXT)
                    allowed = not doc.deleted and (change[2] != "group" or bool(groups))
                    allowed = allowed and all(world.groups[g] == org for g in groups)
                    doc.visibility, doc.groups = change[2], groups
                elif change[0] == "share":
                    user_id = built.principals[change[2]].user_id
                    container.sharing.share(uow, owner, document_id, user_id, CLI_CONTEXT)
                    allowed = not doc.deleted and world.users[change[2]][0] == org
                    doc.users.add(change[2])
                else:
                    user_id = built.principals[change[2]].user_id
                    container.sharing.unshare(uow, owner, document_id, user_id, CLI_CONTEXT)
                    allowed = not doc.deleted and change[2] in doc.users
                    doc.users.discard(change[2])
                assert allowed, change
                uow.commit()
            except DocentError as error:
                refused = error.code
                uow.rollback()
            else:
                refused = None
            expected = REFUSALS | (
                {ErrorCode.BAD_REQUEST} if _grouped_without_groups(world, change) else set()
            )
            assert refused is None or refused in expected, change


def _grouped_without_groups(world: World, change: tuple[Any, ...]) -> bool:
    """Visibility 'group' with none of the world's groups: refused as 400 `bad_request`."""
    return (
        change[0] == "visibility" and change[2] == "group" and all(g >= len(world.groups) for g in change[3])
    )


REFUSALS = {
    ErrorCode.DOCUMENT_NOT_FOUND,
    ErrorCode.USER_NOT_FOUND,
    ErrorCode.GROUP_NOT_FOUND,
    ErrorCode.NOT_FOUND,
    ErrorCode.VALIDATION_ERROR,
}


def found(
    container: Container, principal: Principal, query: str, mode: SearchMode, top_k: int
) -> list[uuid.UUID]:
    with container.database.unit_of_work(write=False) as uow:
        scope = container.documents.scope(uow, principal)
        response = container.retriever.search(uow, scope, query, mode=mode, top_k=top_k)
    return [r.document_id for r in response.results]


def check_every_reader(container: Container, world: World, built: Built) -> None:
    for user, principal in enumerate(built.principals):
        readable = {built.document_ids[i] for i, doc in enumerate(world.docs) if may_read(world, user, doc)}
        for mode in SearchMode:
            everything = found(container, principal, COMMON, mode, 100)
            assert set(everything) <= readable, (mode, user)
            if mode is not SearchMode.HYBRID:  # every readable chunk holds the word and is near it
                assert set(everything) == readable, (mode, user)
        for i, doc in enumerate(world.docs):
            document_id, text = built.document_ids[i], TEXTS[doc.text]
            if document_id not in readable:
                for mode in SearchMode:
                    assert document_id not in found(container, principal, text, mode, 100), (mode, user)
                continue
            assert found(container, principal, text, SearchMode.VECTOR, 1) == [document_id], user
            assert document_id in found(container, principal, text, SearchMode.KEYWORD, 3), user
            assert found(container, principal, text, SearchMode.HYBRID, 3)[0] == document_id, user


_property_settings = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.timeout(2400)  # ten worlds, each built, indexed and searched by every reader in every mode
@_property_settings
@given(world=worlds())
def test_search_never_shows_an_unreadable_chunk_and_finds_readable_ones(
    container: Container, world: World
) -> None:
    built = build(container, world)
    check_every_reader(container, world, built)
    apply_change(container, world, built)
    apply_sharing(container, world, built)
    check_every_reader(container, world, built)


@pytest.mark.timeout(2400)
@_property_settings
@given(world=worlds())
def test_fts5_keyword_search_never_shows_an_unreadable_chunk_and_finds_readable_ones(
    fts5_container: Container, world: World
) -> None:
    built = build(fts5_container, world)
    check_every_reader(fts5_container, world, built)
    apply_change(fts5_container, world, built)
    apply_sharing(fts5_container, world, built)
    check_every_reader(fts5_container, world, built)
