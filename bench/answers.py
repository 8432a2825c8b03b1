"""End-to-end answers on the SQuAD 2.0 dev subset: the real pipeline, the extractive answerer, abstention.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.answers [--data ../shared/data/squad2-dev-subset]
        [--limit N] [--articles N] [--paragraphs N] [--threads 2] [--json PATH]

Every paragraph becomes one plain-text document (its file name, `<article>-<n>.txt`, is its title), ingested
through the real pipeline into a throw-away SQLite database. Each question is asked as the admin through
`ChatService.prepare` + `ChatService.stream` (the path of the SSE route: hybrid retrieval, provider chain,
the exchange kept), timing the first streamed token and the end of the stream from before retrieval.

The articles are sorted by title and dealt alternately into half A (calibration) and half B (report).
Half A is asked with no relevance threshold, and thresholds from -0.2 to 1 are swept over its answers (a
question abstains when its best passage's cosine is below the threshold, the rule of the provider chain).
The threshold kept is the one with the best answer accuracy: SQuAD 2.0's accounting (an abstention is right
on an unanswerable question and wrong on an answerable one, an answer is wrong on an unanswerable one) with
an answer to an answerable question right when it contains a gold answer. Token F1 is not the objective:
the extractive answerer quotes whole sentences, whose F1 against a few-word gold span stays near 0.2 even
when they hold the answer, so by F1 abstaining always looks better than answering; the threshold SQuAD 2.0
F1 would choose is reported beside it. Then a container built with `answer_min_relevance` at the threshold
asks half B, so its figures are what `DOCENT_ANSWER_MIN_RELEVANCE=<threshold>` gives, weaker passages
withheld from the answerer included. Half A's calibrated column is the sweep's own view (its unthresholded
answers, thresholded), so it is not timed.

Scoring follows SQuAD (lower-case, no punctuation, no a/an/the, whitespace collapsed; the best over the
gold answers) on the answer with its citation markers removed; an abstention is the empty answer. "Gold in"
the answer, the cited snippets or the top 5 retrieved passages means a normalised gold answer occurs there
as a run of whole tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm  # type: ignore[import-untyped]

from docent.answer.citations import MARKER, normalize_space
from docent.answer.events import Error, Token
from docent.answer.service import ChatResult
from docent.auth.policy import Principal
from docent.config import Settings
from docent.container import Container, build_container
from docent.evaluation import admin_principal, ingest_texts, source_names, throwaway_container

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "data" / "squad2-dev-subset"
THRESHOLDS = [-1.0, *(round(step / 100, 2) for step in range(-20, 101))]
NO_THRESHOLD = -1.0  # cosine is never below it: every retrieved passage reaches the answerer
SAMPLE_SEED = 2018


# ---------- data ----------


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    paragraph: str  # the key of its paragraph's document (the file name without `.txt`)
    answers: tuple[str, ...]  # empty when unanswerable


@dataclass(frozen=True)
class Half:
    name: str
    articles: tuple[str, ...]
    questions: tuple[Question, ...]


def read_squad(
    path: Path, articles: int | None, paragraphs: int | None, limit: int | None
) -> tuple[dict[str, str], list[Half]]:
    """Documents (key -> text) and the two halves. Articles sorted by title, dealt alternately."""
    data = sorted(json.loads(path.read_text())["data"], key=lambda a: a["title"])[:articles]
    documents: dict[str, str] = {}
    questions: dict[str, list[Question]] = {}
    for article in data:
        title = article["title"]
        for number, paragraph in enumerate(article["paragraphs"][:paragraphs], start=1):
            key = f"{title}-{number:03d}"
            documents[key] = paragraph["context"]
            questions.setdefault(title, []).extend(
                Question(qa["id"], qa["question"], key, _golds(qa)) for qa in paragraph["qas"]
            )
    halves = []
    for name, titles in (("A", [a["title"] for a in data[0::2]]), ("B", [a["title"] for a in data[1::2]])):
        asked = [q for title in titles for q in questions.get(title, [])]
        if limit is not None and limit < len(asked):
            asked = random.Random(SAMPLE_SEED).sample(asked, limit)
        halves.append(Half(name, tuple(titles), tuple(asked)))
    return documents, halves


def _golds(qa: dict[str, Any]) -> tuple[str, ...]:
    """The gold answers; as in SQuAD's own script, one that normalises to nothing (".") is dropped."""
    return tuple(answer["text"] for answer in qa["answers"] if normalize_answer(answer["text"]))


# ---------- SQuAD scoring (pure) ----------

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation removed, articles removed, whitespace collapsed."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def exact_match(prediction: str, golds: tuple[str, ...]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(gold) for gold in golds))


def token_f1(prediction: str, golds: tuple[str, ...]) -> float:
    predicted = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        expected = normalize_answer(gold).split()
        if not predicted or not expected:
            best = max(best, float(predicted == expected))
            continue
        common = sum((Counter(predicted) & Counter(expected)).values())
        if common:
            precision, recall = common / len(predicted), common / len(expected)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_gold(text: str, golds: tuple[str, ...]) -> bool:
    """A normalised gold answer occurs in the normalised text as whole tokens ("1" is not found in "1973")."""
    haystack = f" {normalize_answer(text)} "
    return any(f" {gold} " in haystack for gold in map(normalize_answer, golds) if gold)


# ---------- asking ----------


@dataclass(frozen=True)
class Outcome:
    question: Question
    answer: str  # citation markers removed; "" when Docent abstained
    abstained: bool
    cited: str  # the cited snippets, joined
    top5: str  # the text of the first 5 retrieved passages, joined
    top5_paragraphs: tuple[str, ...]
    best_cosine: float  # what the relevance threshold is compared with (-inf: nothing retrieved)
    seconds: float  # from before retrieval to the end of the stream
    first_token_seconds: float


def ask(container: Container, principal: Principal, question: Question, owner: dict[int, str]) -> Outcome:
    """One question through `prepare` and `stream`, as the SSE route runs them."""
    started = time.perf_counter()
    prepared = container.chat.prepare(principal, question.text)
    if getattr(prepared, "cached", None) is not None:  # the answer cache must be off (see bench_settings)
        raise RuntimeError(f"{question.id} was answered from the answer cache")
    events = container.chat.stream(prepared)
    first_token = None
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            result: ChatResult | None = stop.value
            break
        if isinstance(event, Token) and first_token is None:
            first_token = time.perf_counter()
        if isinstance(event, Error):
            raise RuntimeError(f"{question.id}: the stream failed: {event.message}")
    finished = time.perf_counter()
    assert result is not None and first_token is not None, question.id
    answer = result.answer
    passages = prepared.request.passages
    return Outcome(
        question=question,
        answer="" if answer.abstained else normalize_space(MARKER.sub("", answer.text)),
        abstained=answer.abstained,
        cited=" ".join(citation.snippet for citation in answer.citations),
        top5=" ".join(passage.text for passage in passages[:5]),
        top5_paragraphs=tuple(owner.get(passage.chunk_id, "") for passage in passages[:5]),
        best_cosine=max((passage.score for passage in passages), default=float("-inf")),
        seconds=finished - started,
        first_token_seconds=first_token - started,
    )


@contextmanager
def answering_with(container: Container, threshold: float) -> Iterator[Container]:
    """A container on the same database whose chain is built with `answer_min_relevance = threshold`."""
    settings = container.settings.model_copy(update={"answer_min_relevance": threshold})
    rebuilt = build_container(settings, embedder=container.embedder)
    try:
        yield rebuilt
    finally:
        rebuilt.close()


def ask_half(container: Container, half: Half, owner: dict[int, str], label: str) -> list[Outcome]:
    principal = admin_principal(container)
    ask(container, principal, Question("warm-up", "What is this about?", "", ()), owner)  # loads the index
    return [
        ask(container, principal, question, owner)
        for question in tqdm(half.questions, desc=label, file=sys.stderr, mininterval=5, unit="q")
    ]


# ---------- calibration and figures (pure) ----------


def credit(outcome: Outcome, objective: str) -> float:
    """How right one outcome is, SQuAD 2.0 style: an abstention scores 1 on an unanswerable question and 0
    on an answerable one; an answer scores 0 on an unanswerable question, and on an answerable one either
    its token F1 (`"f1"`) or 1 when it contains a gold answer (`"accuracy"`)."""
    golds = outcome.question.answers
    if not golds or outcome.abstained:
        return float(outcome.abstained and not golds)
    return (
        token_f1(outcome.answer, golds) if objective == "f1" else float(contains_gold(outcome.answer, golds))
    )


def at_threshold(outcomes: list[Outcome], threshold: float) -> list[Outcome]:
    """The answers given with no threshold, with the chain's rule applied: a question whose best passage
    is below `threshold` abstains. (The real chain also withholds the weaker passages from the answerer,
    which may change an answer it still gives; half B is asked for real.)"""
    return [
        replace(o, answer="", abstained=True, cited="") if o.best_cosine < threshold else o for o in outcomes
    ]


def sweep(outcomes: list[Outcome], objective: str) -> dict[float, float]:
    """The mean credit at each candidate threshold."""
    answering = np.array([credit(o, objective) for o in outcomes])  # what each scores while not thresholded
    abstaining = np.array([float(not o.question.answers) for o in outcomes])
    cosine = np.array([o.best_cosine for o in outcomes])
    return {t: float(np.where(cosine < t, abstaining, answering).mean()) for t in THRESHOLDS}


def separation(outcomes: list[Outcome]) -> float | None:
    """How well the best passage's cosine tells answerable questions from unanswerable ones: the chance that
    a random answerable one scores above a random unanswerable one (ROC AUC; 0.5 is chance)."""
    answerable = np.array([o.best_cosine for o in outcomes if o.question.answers])
    unanswerable = np.sort([o.best_cosine for o in outcomes if not o.question.answers])
    if not len(answerable) or not len(unanswerable):
        return None
    below = np.searchsorted(unanswerable, answerable, side="left")
    not_above = np.searchsorted(unanswerable, answerable, side="right")
    return round(float(np.mean((below + not_above) / 2) / len(unanswerable)), 4)


def choose(objective: dict[float, float]) -> float:
    """The threshold with the best objective; on a tie, the lowest (it withholds the fewest passages)."""
    best = max(objective.values())
    return min(threshold for threshold, value in objective.items() if value == best)


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else 0.0


def _ms(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    p50, p95 = np.percentile(np.array(seconds) * 1000, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1)}


def figures(outcomes: list[Outcome], threshold: float, *, timed: bool = True) -> dict[str, Any]:
    """Every figure of one column; `timed=False` for simulated answers, whose timings mean nothing."""
    answerable = [o for o in outcomes if o.question.answers]
    unanswerable = [o for o in outcomes if not o.question.answers]
    answered = [o for o in answerable if not o.abstained]

    def share(test: Callable[[Outcome], bool], among: list[Outcome] = answerable) -> float:
        return _mean([float(test(o)) for o in among])

    return {
        "threshold": threshold,
        "questions": len(outcomes),
        "answerable": {
            "questions": len(answerable),
            "answered": share(lambda o: not o.abstained),
            "gold_in_answer": share(lambda o: contains_gold(o.answer, o.question.answers)),
            "gold_in_citations": share(lambda o: contains_gold(o.cited, o.question.answers)),
            "gold_in_top5": share(lambda o: contains_gold(o.top5, o.question.answers)),
            "gold_paragraph_at5": share(lambda o: o.question.paragraph in o.top5_paragraphs),
            "exact_match": _mean([exact_match(o.answer, o.question.answers) for o in answerable]),
            "f1": _mean([token_f1(o.answer, o.question.answers) for o in answerable]),
            "f1_when_answered": _mean([token_f1(o.answer, o.question.answers) for o in answered]),
        },
        "unanswerable": {
            "questions": len(unanswerable),
            "abstained": share(lambda o: o.abstained, unanswerable),
        },
        "answer_accuracy": _mean([credit(o, "accuracy") for o in outcomes]),
        "squad2_f1": _mean([credit(o, "f1") for o in outcomes]),
        "best_cosine_auroc": separation(outcomes),
        "latency_ms": _ms([o.seconds for o in outcomes]) if timed else None,
        "first_token_ms": _ms([o.first_token_seconds for o in outcomes]) if timed else None,
        # Abstaining on the threshold skips the answerer, so the answers proper are timed apart too.
        "answered_latency_ms": _ms([o.seconds for o in outcomes if not o.abstained]) if timed else None,
        "answered_first_token_ms": _ms([o.first_token_seconds for o in outcomes if not o.abstained])
        if timed
        else None,
    }


# ---------- the run ----------


def bench_settings(threads: int) -> Settings:
    """The default settings (DOCENT_* variables still apply) with the extractive answerer alone, no
    relevance threshold or confidence gate, and no answer cache: every question must be answered, and
    timed, for real."""
    return Settings(
        _env_file=None,
        env="development",
        llm_providers="extractive",
        embed_threads=threads,
        answer_min_relevance=NO_THRESHOLD,
        answer_min_confidence=0.0,
        answer_cache=False,
    )


def ingest(container: Container, documents: dict[str, str]) -> tuple[int, float]:
    container.embedder.embed(["warm up the model before the clock starts"])
    started = time.perf_counter()
    with tqdm(total=len(documents), desc="ingest", file=sys.stderr, mininterval=5, unit="doc") as bar:
        chunks = ingest_texts(
            container,
            ((f"{key}.txt", text) for key, text in documents.items()),
            lambda _stage, done, _total: bar.update(done - bar.n),
        )
    return chunks, round(time.perf_counter() - started, 1)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, list[Outcome]]]:
    """The figures, and the outcomes of the questions asked for real (half A unthresholded, half B)."""
    started = time.perf_counter()
    path = args.data / "dev-v2.0-subset.json"
    documents, (half_a, half_b) = read_squad(path, args.articles, args.paragraphs, args.limit)
    with throwaway_container(bench_settings(args.threads), None) as container:
        chunks, ingest_seconds = ingest(container, documents)
        owner = {chunk: name.removesuffix(".txt") for chunk, name in source_names(container).items()}
        unfiltered = ask_half(container, half_a, owner, "A, no threshold")
        objectives = {name: sweep(unfiltered, name) for name in ("accuracy", "f1")}
        threshold = choose(objectives["accuracy"])
        with answering_with(container, threshold) as calibrated:
            reported = ask_half(calibrated, half_b, owner, f"B, threshold {threshold:.2f}")
        settings = container.settings
        corpus = {
            "articles": len(half_a.articles) + len(half_b.articles),
            "documents": len(documents),
            "chunks": chunks,
            "ingest_seconds": ingest_seconds,
            "database": container.database.engine.dialect.name,
        }
    report = {
        "corpus": corpus,
        "settings": {
            "embedder": settings.embedder,
            "keyword_index": settings.keyword_index if settings.is_sqlite else "postgres",
            "answer_top_k": settings.answer_top_k,
            "embed_threads": args.threads,
            "limit_per_half": args.limit,
        },
        "halves": [
            {"name": h.name, "articles": list(h.articles), "questions": len(h.questions)}
            for h in (half_a, half_b)
        ],
        "calibration": {
            "objective": "accuracy",
            "threshold": threshold,
            "threshold_by_f1": choose(objectives["f1"]),
            "sweep": {
                name: {str(t): round(v, 4) for t, v in sweep.items()} for name, sweep in objectives.items()
            },
        },
        "figures": {
            "A_no_threshold": figures(unfiltered, NO_THRESHOLD),
            "A_calibrated": figures(at_threshold(unfiltered, threshold), threshold, timed=False),
            "B": figures(reported, threshold),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    return report, {"A_no_threshold": unfiltered, "B": reported}


def dump(outcomes: dict[str, list[Outcome]], path: Path) -> None:
    """One JSON line per question asked, for looking closer at what the figures sum up."""
    with path.open("w") as out:
        for column, asked in outcomes.items():
            for o in asked:
                golds = o.question.answers
                row = {
                    "column": column,
                    "id": o.question.id,
                    "question": o.question.text,
                    "paragraph": o.question.paragraph,
                    "gold": list(golds),
                    "answer": o.answer,
                    "abstained": o.abstained,
                    "best_cosine": o.best_cosine,
                    "f1": token_f1(o.answer, golds) if golds else None,
                    "gold_in_answer": contains_gold(o.answer, golds) if golds else None,
                    "gold_in_top5": contains_gold(o.top5, golds) if golds else None,
                    "gold_paragraph_at5": o.question.paragraph in o.top5_paragraphs,
                    "ms": round(o.seconds * 1000, 1),
                    "first_token_ms": round(o.first_token_seconds * 1000, 1),
                }
                out.write(json.dumps(row) + "\n")


# ---------- report ----------


def _pct(section: str, key: str) -> Callable[[dict[str, Any]], str]:
    return lambda column: f"{column[section][key]:.3f}"


def _timing(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda column: f"{column[key]['p50']:.0f} / {column[key]['p95']:.0f}" if column[key] else "-"


ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("  threshold (min cosine)", lambda column: f"{column['threshold']:.2f}"),
    ("answerable questions", lambda column: str(column["answerable"]["questions"])),
    ("  answered (did not abstain)", _pct("answerable", "answered")),
    ("  gold answer in the answer", _pct("answerable", "gold_in_answer")),
    ("  gold answer in cited snippets", _pct("answerable", "gold_in_citations")),
    ("  gold answer in top-5 passages", _pct("answerable", "gold_in_top5")),
    ("  gold paragraph in top 5", _pct("answerable", "gold_paragraph_at5")),
    ("  exact match", _pct("answerable", "exact_match")),
    ("  token F1", _pct("answerable", "f1")),
    ("  token F1 when answered", _pct("answerable", "f1_when_answered")),
    ("unanswerable questions", lambda column: str(column["unanswerable"]["questions"])),
    ("  abstained", _pct("unanswerable", "abstained")),
    ("all questions", lambda column: str(column["questions"])),
    ("  answer accuracy (the objective)", lambda column: f"{column['answer_accuracy']:.3f}"),
    ("  SQuAD 2.0 F1", lambda column: f"{column['squad2_f1']:.3f}"),
    ("  best cosine AUROC, ans. vs unans.", lambda column: f"{column['best_cosine_auroc'] or 0:.3f}"),
    ("  answer latency p50 / p95 ms", _timing("latency_ms")),
    ("  first token p50 / p95 ms", _timing("first_token_ms")),
    ("answered questions only", lambda column: ""),
    ("  answer latency p50 / p95 ms", _timing("answered_latency_ms")),
    ("  first token p50 / p95 ms", _timing("answered_first_token_ms")),
]
COLUMNS = [
    ("A_no_threshold", "A, no threshold"),
    ("A_calibrated", "A, calibrated*"),
    ("B", "B (report)"),
]


def print_report(report: dict[str, Any]) -> None:
    corpus, settings, calibration = report["corpus"], report["settings"], report["calibration"]
    sample = (
        f"; a sample of {settings['limit_per_half']} questions per half" if settings["limit_per_half"] else ""
    )
    print(
        f"SQuAD 2.0 dev subset: {corpus['articles']} articles, {corpus['documents']} paragraphs -> "
        f"{corpus['chunks']} chunks, ingested in {corpus['ingest_seconds']} s; {corpus['database']}; "
        f"{settings['embedder']}; keyword index {settings['keyword_index']}; extractive answerer; "
        f"answer_top_k {settings['answer_top_k']}; "
        f"{settings['embed_threads']} embedder threads{sample}"
    )
    for half in report["halves"]:
        print(f"half {half['name']} ({half['questions']} questions): {', '.join(half['articles'])}")
    print("threshold sweep on half A, objective answer accuracy:")
    for label, threshold in (
        ("no threshold", NO_THRESHOLD),
        ("the default", 0.2),
        ("chosen", calibration["threshold"]),
        ("best by SQuAD 2.0 F1", calibration["threshold_by_f1"]),
    ):
        accuracy, f1 = (calibration["sweep"][name][str(threshold)] for name in ("accuracy", "f1"))
        print(f"  {label:22} {threshold:5.2f}  accuracy {accuracy:.3f}  SQuAD 2.0 F1 {f1:.3f}")
    columns = report["figures"]
    print(f"{'':34}" + "".join(f"{title:>18}" for _, title in COLUMNS))
    for label, cell in ROWS:
        print(f"{label:34}" + "".join(f"{cell(columns[key]):>18}" for key, _ in COLUMNS))
    print(
        "* half A's answers given with no threshold, with the threshold's abstentions applied (what the\n"
        "  sweep scored); half B was asked again with DOCENT_ANSWER_MIN_RELEVANCE at the threshold.\n"
        "answer accuracy: an answer containing a gold answer, or an abstention on an unanswerable question."
    )
    print(f"wall time {report['wall_seconds']:.0f} s")


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the folder of dev-v2.0-subset.json")
    parser.add_argument("--limit", type=int, default=None, help="a fixed sample of N questions per half")
    parser.add_argument("--articles", type=int, default=None, help="only the first N articles by title")
    parser.add_argument("--paragraphs", type=int, default=None, help="only the first N paragraphs of each")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the embedder")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here as JSON")
    parser.add_argument("--outcomes", type=Path, default=None, help="write every question's outcome (JSONL)")
    args = parser.parse_args()
    report, outcomes = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.outcomes:
        dump(outcomes, args.outcomes)


if __name__ == "__main__":
    main()
