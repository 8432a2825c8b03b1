"""Follow-ups without a model: how often the second answer of a two-turn conversation cites the right
passage, with the old rule (the earlier question's subject glued in front) and the new one
(`docent.answer.followup`: the follow-up's own words, and only the earlier words it lacks).

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.follow_ups [--set report|cross|tune|all] [--vectors-cache F]

The conversations are bench/data/follow_ups.json (written for this bench) over the SQuAD 2.0 dev subset
in ../shared/data, in two sets: `tune` (which the rewrite rule may be adjusted on) and `report` (only
measured; the default). All its paragraphs are loaded straight into the index, one
chunk each (as bench/search.py does); each conversation is asked over its own article's paragraphs (a
`document_ids` filter). The first answer comes from the extractive chain as in production (retrieval, the
calibrated confidence, the extractive answerer); the follow-up is rewritten by each rule, retrieved and
answered the same way. With `--across`, every conversation is asked over all the paragraphs loaded (as
in a library where many documents could be "it"). Printed per rule: the share of second answers citing
the paragraph that answers them, and the share whose retrieved passages hold it; then, at the level of the
sentence (one paragraph holds several facts, so citing it says little), the share of second answers whose
text holds the gold `answer` (a short span of that paragraph, compared case- and space-insensitively,
markers removed), and how many repeat the first answer (quote exactly its sentences), of which how many
miss the gold (a repeat is right when both facts sit in one sentence). How often the first answer holds
its own gold (`first_answer`) is printed once: a follow-up after a wrong first answer starts from a wrong
"it".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import select

from bench.answers import DATA as SQUAD
from bench.answers import bench_settings, read_squad
from bench.search import EMAIL, fill
from docent.answer.chain import ProviderChain
from docent.answer.citations import MARKER, normalize_space
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.followup import standalone_query
from docent.answer.prompt import rewrite_by_rule
from docent.answer.types import Answer, AnswerRequest, Turn
from docent.auth.policy import CredentialKind, Principal
from docent.db.tables import Chunk
from docent.evaluation import throwaway_container
from docent.types import Role, SearchFilters

CONVERSATIONS = Path(__file__).parent / "data" / "follow_ups.json"
RULES: dict[str, Callable[[str, Sequence[Turn]], str]] = {
    "before (subject glued in front)": rewrite_by_rule,
    "after (own words + missing earlier words)": standalone_query,
}


def holds(answer: Answer, gold: str) -> bool:
    """The answer's text (markers removed) holds the gold span, ignoring case and spacing."""
    if answer.abstained:
        return False
    return normalize_space(gold).casefold() in normalize_space(MARKER.sub("", answer.text)).casefold()


def quoted_sentences(answer: Answer) -> frozenset[str]:
    """The sentences an extractive answer quotes: its text cut at its markers (each ends a sentence)."""
    if answer.abstained:
        return frozenset()
    pieces = MARKER.sub("\x00", answer.text).split("\x00")
    return frozenset(s for s in (normalize_space(p).strip(" .!?") for p in pieces) if s)


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--set", choices=("report", "cross", "tune", "all"), default="report", help="which conversations"
    )
    parser.add_argument(
        "--across", action="store_true", help="search all the articles' paragraphs, not the asked article's"
    )
    parser.add_argument("--vectors-cache", type=Path, help="keep the paragraphs' vectors here (.npy)")
    parser.add_argument("--show", action="store_true", help="print every conversation's queries and answers")
    args = parser.parse_args()
    conversations = [
        c for c in json.loads(CONVERSATIONS.read_text())["conversations"] if args.set in ("all", c["set"])
    ]
    documents, _ = read_squad(SQUAD / "dev-v2.0-subset.json", None, None, None)
    keys = list(documents)  # all of them, whichever set is asked, so that one vectors cache fits every run
    bodies = [documents[key] for key in keys]
    with throwaway_container(bench_settings(2), None) as container:
        if args.vectors_cache and args.vectors_cache.exists():
            vectors = np.load(args.vectors_cache)
        else:
            print(f"embedding {len(bodies)} paragraphs", file=sys.stderr)
            vectors = container.embedder.embed(bodies)
            if args.vectors_cache:
                np.save(args.vectors_cache, vectors)
        scope = fill(container, bodies, vectors, len(bodies))
        with container.database.unit_of_work(write=False) as uow:
            found = uow.session.execute(select(Chunk.text_hash, Chunk.document_id))
            ids = {keys[int(number)]: document_id for number, document_id in found}
        principal = Principal(scope.user_id, scope.org_id, EMAIL, Role.ADMIN, CredentialKind.COMMAND_LINE)
        chain = ProviderChain([], ExtractiveAnswerer(container.embedder))
        cited = dict.fromkeys(RULES, 0)
        retrieved = dict.fromkeys(RULES, 0)
        declined = dict.fromkeys(RULES, 0)
        held = dict.fromkeys(RULES, 0)
        repeated = dict.fromkeys(RULES, 0)
        repeated_wrong = dict.fromkeys(RULES, 0)
        first_right = 0
        for conversation in conversations:
            article = conversation["paragraph"].rsplit("-", 1)[0]
            filters = SearchFilters(
                document_ids=tuple(ids[k] for k in keys if args.across or k.rsplit("-", 1)[0] == article)
            )
            first = conversation["first"]
            answer = chain.answer(AnswerRequest(first, container.chat.retrieve(principal, first, filters)))
            first_right += holds(answer, conversation["first_answer"])
            history = (Turn("user", first), Turn("assistant", answer.text))
            if args.show:
                print(f"\n[{conversation['set']}] {first}\n  first answer: {answer.text}", file=sys.stderr)
            gold = ids[conversation["paragraph"]]
            for name, rule in RULES.items():
                query = rule(conversation["follow_up"], history)
                passages = container.chat.retrieve(principal, query, filters)
                second = chain.answer(AnswerRequest(query, passages, history))
                cited[name] += any(c.document_id == gold for c in second.citations)
                retrieved[name] += any(p.document_id == gold for p in passages)
                declined[name] += second.abstained
                right = holds(second, conversation["answer"])
                held[name] += right
                same = bool(quoted_sentences(second)) and quoted_sentences(second) == quoted_sentences(answer)
                repeated[name] += same
                repeated_wrong[name] += same and not right
                if args.show:
                    verdict = f"{'gold' if right else 'MISS'}{', repeat' if same else ''}"
                    print(f"  {query!r} -> [{verdict}] {second.text}", file=sys.stderr)
    total = len(conversations)
    print(
        f"{total} two-turn conversations (bench/data/follow_ups.json, set {args.set}), extractive chain, "
        f"{len(keys)} paragraphs{' (searched across all)' if args.across else ' (the asked article)'}"
    )
    print(f"  first answer holds its gold answer {first_right}/{total}")
    for name in RULES:
        print(
            f"  {name}: second answer cites the right paragraph {cited[name]}/{total} "
            f"({cited[name] / total:.3f}); retrieved among the passages {retrieved[name]}/{total}; "
            f"declined {declined[name]}/{total}"
        )
        print(
            f"    second answer holds the gold answer {held[name]}/{total} ({held[name] / total:.3f}); "
            f"repeats the first answer {repeated[name]}/{total} "
            f"({repeated_wrong[name]} of them miss the gold)"
        )


if __name__ == "__main__":
    main()
