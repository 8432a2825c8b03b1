"""Calibrate the answer path's confidence (`docent.answer.confidence`) on one data set, report it on another.

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python -m bench.confidence [--signals F [--resignal]]

Two data sets from ../shared/data, each turned into covered and uncovered questions over documents a
`document_ids` filter makes readable (applied inside retrieval, as permissions are):

* SQuAD 2.0 dev subset: articles dealt into halves; over one half's paragraphs, that half's answerable
  questions are covered and the other half's are not (and the reverse);
* SciFact (BEIR): claims with relevance judgments (train and test) and a sample of the other abstracts;
  the claims are dealt into halves X and Y; with Y's cited abstracts hidden, X's claims are covered and Y's
  are not (and the reverse). Claims are statements, not questions, and the abstracts are biomedical: a
  data set unlike SQuAD, which is the point.

Both are loaded straight into the index, one chunk per paragraph or abstract (as bench/search.py does),
and asked through `ChatService.retrieve` (hybrid search with its cosines and the two rankings). The
logistic model is fitted on one data set (the calibration set, equal numbers of covered and uncovered
questions), its threshold chosen there (balanced accuracy), and both are then applied unchanged to the
other (held out). Printed: answered/declined on both, the gap, and the held-out reliability by
confidence decile (share of questions in the decile that the documents cover: what `confidence` claims).
Subsampled (`--per-set` questions of each kind per half, 150 by default) so it runs in minutes on a
loaded machine; `--signals F` keeps the measured signals and the first passages, so a second run only
fits, and with `--resignal` measures the signals again from those passages (no new retrieval). The rows
also keep the scores of both rankings (100 deep) and the corpus document frequency of the question's terms,
from which `bench/confidence_candidates.py` computes other signals; `--choose` picks among them by
cross-validation on each calibration set alone (never looking at the held-out set) and reports the pick
held out, so the figure read is one no choice was tuned on.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from bench.answers import DATA as SQUAD
from bench.answers import bench_settings, read_squad
from bench.confidence_candidates import candidates, sentences_of
from bench.search import EMAIL, fill
from docent.adapters import build_embedder
from docent.answer.confidence import FEATURES, Calibration, signals
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.types import Passage
from docent.auth.groups import scope_of
from docent.auth.policy import CredentialKind, Principal
from docent.db.tables import Chunk
from docent.evaluation import throwaway_container
from docent.search.retrieve import SearchMode
from docent.search.terms import analyze
from docent.types import Role, SearchFilters

SCIFACT = SQUAD.parent / "scifact"
SEED = 13
Rows = list[dict[str, Any]]  # {"set", "covered": bool, "signals": [...], "question", "passages"}
_RAW_PASSAGES = 8  # kept with the signals, so new signals can be studied without retrieving again
_CANDIDATES = 100  # how deep the vector and keyword rankings kept with them are (hybrid search's depth)


# ---------- measuring ----------


def measure(documents: dict[str, str], runs: list[tuple[list[str], list[str], bool]], name: str) -> Rows:
    """Load `documents` (key -> text) into the index, one chunk each (as bench/search.py does: the parsing
    and chunking pipeline is too slow on a shared machine, and SQuAD paragraphs fit in one chunk); for each
    run (readable keys, questions, covered) the signals of the passages hybrid search finds."""
    rows: Rows = []
    keys = list(documents)
    with throwaway_container(bench_settings(2), None) as container:
        bodies = [documents[key] for key in keys]
        print(f"{name}: embedding {len(bodies)} documents", file=sys.stderr)
        scope = fill(container, bodies, container.embedder.embed(bodies), len(bodies))
        with container.database.unit_of_work(write=False) as uow:
            found = uow.session.execute(select(Chunk.text_hash, Chunk.document_id))
            ids = {keys[int(number)]: document_id for number, document_id in found}
        principal = Principal(scope.user_id, scope.org_id, EMAIL, Role.ADMIN, CredentialKind.COMMAND_LINE)
        support = ExtractiveAnswerer(container.embedder).sentence_support
        retriever = container.retriever
        frequency = document_frequencies(bodies)
        for readable, questions, covered in runs:
            filters = SearchFilters(document_ids=tuple(ids[key] for key in readable))
            for question in questions:
                passages = container.chat.retrieve(principal, question, filters)
                measured = signals(question, passages, support(question, passages)).vector()
                raw = [[p.text, p.score, p.vector_rank, p.keyword_rank] for p in passages[:_RAW_PASSAGES]]
                with container.database.unit_of_work(write=False) as uow:
                    scope = scope_of(uow, principal)
                    rankings = {
                        mode.value: [
                            round(s.score, 5)
                            for s in retriever.rank(
                                uow, scope, question, mode=mode, top_k=_CANDIDATES, filters=filters
                            )
                        ]
                        for mode in (SearchMode.VECTOR, SearchMode.KEYWORD)
                    }
                terms = dict.fromkeys(analyze(question))
                rows.append(
                    {
                        "set": name,
                        "covered": covered,
                        "signals": measured,
                        "question": question,
                        "passages": raw,
                        # The scores of the vector and the keyword rankings (best first), and the document
                        # frequency of the question's terms among all chunks (as the keyword index counts).
                        "rankings": rankings,
                        "frequency": {term: frequency.get(term, 0) for term in terms},
                        "chunks": len(bodies),
                    }
                )
    return rows


def document_frequencies(bodies: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in bodies:
        for term in set(analyze(body)):
            counts[term] = counts.get(term, 0) + 1
    return counts


def squad_runs(per_set: int) -> tuple[dict[str, str], list[tuple[list[str], list[str], bool]]]:
    documents, halves = read_squad(SQUAD / "dev-v2.0-subset.json", None, None, None)
    rng = random.Random(SEED)
    asked = {
        h.name: [q.text for q in rng.sample([q for q in h.questions if q.answers], per_set)] for h in halves
    }
    runs = []
    for half, other in ((halves[0], halves[1]), (halves[1], halves[0])):
        keys = [key for key in documents if key.rsplit("-", 1)[0] in half.articles]
        runs += [(keys, asked[half.name], True), (keys, asked[other.name], False)]
    return documents, runs


def scifact_runs(per_set: int, others: int) -> tuple[dict[str, str], list[tuple[list[str], list[str], bool]]]:
    corpus = {
        row["_id"]: f"{row['title']}\n\n{row['text']}"
        for row in map(json.loads, (SCIFACT / "corpus.jsonl").open())
    }
    claims = {row["_id"]: row["text"] for row in map(json.loads, (SCIFACT / "queries.jsonl").open())}
    cited: dict[str, set[str]] = {}
    for split in ("train", "test"):
        for line in list((SCIFACT / "qrels" / f"{split}.tsv").open())[1:]:
            query, doc, _ = line.rstrip("\n").split("\t")
            cited.setdefault(query, set()).add(doc)
    rng = random.Random(SEED)
    chosen = rng.sample(sorted(cited), 2 * per_set)
    halves = (chosen[:per_set], chosen[per_set:])
    relevant = [set().union(*(cited[q] for q in half)) for half in halves]
    shared = relevant[0] & relevant[1]  # an abstract cited by claims of both halves would cover both
    halves = tuple([q for q in half if not cited[q] & shared] for half in halves)  # type: ignore[assignment]
    pool = sorted(set(corpus) - relevant[0] - relevant[1])
    distractors = rng.sample(pool, others)
    documents = {key: corpus[key] for key in sorted(relevant[0] | relevant[1] | set(distractors))}
    runs = []
    for mine, theirs, hidden in ((0, 1, relevant[1]), (1, 0, relevant[0])):
        readable = [key for key in documents if key not in hidden]
        runs += [
            (readable, [claims[q] for q in halves[mine]], True),
            (readable, [claims[q] for q in halves[theirs]], False),
        ]
    return documents, runs


def resignal(rows: Rows) -> Rows:
    """`rows` with their signals measured again from the passages kept with them (the first
    `_RAW_PASSAGES`), so a change to the signals needs no new retrieval."""
    support = ExtractiveAnswerer(build_embedder(bench_settings(2))).sentence_support
    again = []
    for row in rows:
        passages = [
            Passage(n, uuid.UUID(int=n), "", 1, None, (), text, score, vector_rank, keyword_rank)
            for n, (text, score, vector_rank, keyword_rank) in enumerate(row["passages"], start=1)
        ]
        found = signals(row["question"], passages, support(row["question"], passages))
        again.append({**row, "signals": found.vector()})
    return again


# ---------- fitting and reporting ----------


def fit(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2, steps: int = 50) -> tuple[float, np.ndarray]:
    """Logistic regression by Newton's method (a small L2 penalty keeps it finite on separable data)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + ridge * np.r_[0, w[1:]]
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge * np.diag(
            np.r_[0, np.ones(len(w) - 1)]
        )
        w -= np.linalg.solve(hessian, gradient)
    return float(w[0]), w[1:]


def rates(model: Calibration, rows: Rows) -> tuple[float, float]:
    conf = np.array([model.confidence_of(r["signals"]) for r in rows])
    covered = np.array([r["covered"] for r in rows])
    answered = conf >= model.threshold
    return float(answered[covered].mean()), float((~answered[~covered]).mean())


_THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.005), 3)


def choose_threshold(model: Calibration, rows: Rows) -> float:
    best = max(
        (float(t) for t in _THRESHOLDS),
        key=lambda t: (sum(rates(Calibration(model.intercept, model.coefficients, t), rows)), -t),
    )
    return float(best)


def reliability(model: Calibration, rows: Rows) -> list[str]:
    lines = []
    conf = np.array([model.confidence_of(r["signals"]) for r in rows])
    covered = np.array([r["covered"] for r in rows])
    for decile in range(10):
        low, high = decile / 10, (decile + 1) / 10
        inside = (conf >= low) & ((conf < high) if decile < 9 else (conf <= high))
        if inside.any():
            lines.append(
                f"  {low:.1f}-{high:.1f}: {int(inside.sum()):4d} questions, mean confidence "
                f"{conf[inside].mean():.3f}, covered {covered[inside].mean():.3f}"
            )
    return lines


def report(calibration: Rows, held_out: Rows, names: tuple[str, ...] = FEATURES) -> Calibration:
    x = np.array([r["signals"] for r in calibration])
    y = np.array([float(r["covered"]) for r in calibration])
    intercept, coefficients = fit(x, y)
    model = Calibration(round(intercept, 3), tuple(round(float(c), 3) for c in coefficients), 0.5)
    model = Calibration(model.intercept, model.coefficients, choose_threshold(model, calibration))
    name, other = calibration[0]["set"], held_out[0]["set"]
    print(f"\ncalibrated on {name} ({len(calibration)} questions), held out: {other} ({len(held_out)})")
    print(f"  {model}  features {names}")
    answered_c, declined_c = rates(model, calibration)
    answered_h, declined_h = rates(model, held_out)
    print(f"  {name} (calibration): covered answered {answered_c:.3f}, uncovered declined {declined_c:.3f}")
    print(f"  {other} (held out):   covered answered {answered_h:.3f}, uncovered declined {declined_h:.3f}")
    gaps = abs(answered_c - answered_h) * 100, abs(declined_c - declined_h) * 100
    print(f"  gap: answered {gaps[0]:.1f} points, declined {gaps[1]:.1f} points")
    print(f"  trade-off on {other} (held out), by threshold: covered answered / uncovered declined")
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        answered, declined = rates(Calibration(model.intercept, model.coefficients, threshold), held_out)
        print(f"    {threshold:.1f}: {answered:.3f} / {declined:.3f}")
    print(f"  reliability on {other} (held out), by confidence decile:")
    print("\n".join(reliability(model, held_out)))
    return model


# ---------- choosing signals on the calibration side only ----------


def balanced_cv(x: np.ndarray, y: np.ndarray, repeats: int = 5, folds: int = 5) -> float:
    """Mean balanced accuracy (covered answered + uncovered declined, halved) of the logistic model over
    `x` in repeated stratified k-fold cross-validation, the threshold chosen on each training fold."""
    scores = []
    for repeat in range(repeats):
        rng = np.random.default_rng(repeat)
        fold = np.empty(len(y), dtype=int)
        for label in (0.0, 1.0):
            members = rng.permutation(np.flatnonzero(y == label))
            fold[members] = np.arange(len(members)) % folds
        for k in range(folds):
            train, test = fold != k, fold == k
            intercept, coefficients = fit(x[train], y[train])
            score = intercept + x @ coefficients
            # choose_threshold's rule (balanced accuracy on the training folds), on the logit scale
            cuts = np.log(_THRESHOLDS / (1 - _THRESHOLDS))
            answered = score[train][:, None] >= cuts[None, :]
            covered = y[train] == 1
            balanced = answered[covered].mean(axis=0) + (~answered[~covered]).mean(axis=0)
            cut = cuts[int(np.flatnonzero(balanced == balanced.max())[0])]
            held = score[test] >= cut
            scores.append((held[y[test] == 1].mean() + (~held[y[test] == 0]).mean()) / 2)
    return float(np.mean(scores))


def choose_signals(rows: Rows, most: int = 3, least_gain: float = 0.005) -> tuple[str, ...]:
    """Forward selection over the candidate signals, judged only by cross-validation within `rows` (the
    calibration set): add the candidate that raises `balanced_cv` most, while it raises it by
    `least_gain` or more, up to `most` signals."""
    table = [candidates(r, r.get("sentence_cosines")) for r in rows]
    names = list(table[0])
    x = np.array([[t[n] for n in names] for t in table])
    y = np.array([float(r["covered"]) for r in rows])
    chosen: list[int] = []
    best = 0.0
    while len(chosen) < most:
        trial = {j: balanced_cv(x[:, [*chosen, j]], y) for j in range(len(names)) if j not in chosen}
        pick = max(trial, key=lambda j: trial[j])
        ranked = sorted(trial, key=lambda j: -trial[j])[:5]
        print(
            f"  {rows[0]['set']}, step {len(chosen) + 1}: "
            + ", ".join(f"{names[j]} {trial[j]:.3f}" for j in ranked)
        )
        if trial[pick] < best + least_gain:
            break
        chosen.append(pick)
        best = trial[pick]
    return tuple(names[j] for j in chosen)


def with_candidates(rows: Rows, names: tuple[str, ...]) -> Rows:
    """`rows` with `signals` replaced by the named candidate signals."""
    return [{**r, "signals": [candidates(r, r.get("sentence_cosines"))[n] for n in names]} for r in rows]


def add_sentence_cosines(rows: Rows) -> bool:
    """Each row's cosines of its sentences (those `sentence_support` reads) to its question, once."""
    missing = [r for r in rows if "sentence_cosines" not in r]
    if missing:
        embedder = build_embedder(bench_settings(2))
        texts = list(dict.fromkeys(t for r in missing for t in [r["question"], *sentences_of(r["passages"])]))
        print(f"embedding {len(texts)} questions and sentences", file=sys.stderr)
        vectors = dict(zip(texts, embedder.embed(texts), strict=True))  # each text once: rows share many
        for row in missing:
            question = vectors[row["question"]]
            cosines = [float(vectors[t] @ question) for t in sentences_of(row["passages"])]
            row["sentence_cosines"] = [round(c, 5) for c in cosines]
    return bool(missing)


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-set", type=int, default=150, help="questions of each kind per half")
    parser.add_argument(
        "--distractors", type=int, default=600, help="SciFact abstracts cited by no claim asked"
    )
    parser.add_argument("--signals", type=Path, help="keep the measured signals here, and reuse them")
    parser.add_argument(
        "--resignal", action="store_true", help="measure the kept rows' signals again from their passages"
    )
    parser.add_argument(
        "--choose",
        action="store_true",
        help="choose signals among bench/confidence_candidates.py's by cross-validation on each "
        "calibration set alone, then report them held out (needs rows kept by --signals)",
    )
    args = parser.parse_args()
    if args.signals and args.signals.exists():
        rows = json.loads(args.signals.read_text())
        if args.resignal:
            rows = resignal(rows)
            args.signals.write_text(json.dumps(rows))
    else:
        rows = measure(*squad_runs(args.per_set), "squad") + measure(
            *scifact_runs(args.per_set, args.distractors), "scifact"
        )
        if args.signals:
            args.signals.write_text(json.dumps(rows))
    if args.choose and add_sentence_cosines(rows) and args.signals:
        args.signals.write_text(json.dumps(rows))
    squad = [r for r in rows if r["set"] == "squad"]
    scifact = [r for r in rows if r["set"] == "scifact"]
    for calibration, held_out in ((squad, scifact), (scifact, squad)):
        if args.choose:
            names = choose_signals(calibration)
            report(with_candidates(calibration, names), with_candidates(held_out, names), names)
        else:
            report(calibration, held_out)


if __name__ == "__main__":
    main()
