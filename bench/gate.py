"""The retrieval regression gate's figures: nDCG@10 of each mode on a fixed slice of SciFact, through the
real pipeline (parse, chunk, embed with the real local model, index) on SQLite.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.gate            # measure and compare with the record
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.gate --record   # measure and write the record

The slice (the first `limit` corpus documents, and the queries of `split` all of whose relevant documents
they hold) and the tolerance are read from `tests/retrieval_gate.json`; `--record` writes the figures back
there. `tests/integration/test_retrieval_gate.py` runs the same evaluation in `make test` and fails when a
mode's nDCG@10 is more than the tolerance below its recorded figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from docent.config import Settings
from docent.evaluation import run_evaluation, throwaway_container
from docent.search.retrieve import SearchMode

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "retrieval_gate.json"
DATA = ROOT.parent / "shared" / "data" / "scifact"
COMMAND = "HF_HUB_OFFLINE=1 .venv/bin/python -m bench.gate --record"


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--record", action="store_true", help=f"write the figures to {RECORD.name}")
    args = parser.parse_args()
    record = json.loads(RECORD.read_text())
    base = Settings(_env_file=None, env="development")  # type: ignore[call-arg]
    with throwaway_container(base, None) as container:
        report = run_evaluation(
            container, DATA, modes=list(SearchMode), split=record["split"], limit=record["limit"]
        )
    print(
        f"scifact ({report.split}): {report.documents} documents, {report.chunks} chunks, "
        f"{report.queries} queries; ingested in {report.ingest_seconds} s"
    )
    for mode, figures in report.modes.items():
        recorded = record["ndcg@10"].get(mode)
        print(f"  {mode:8s} nDCG@10 {figures['ndcg@10']:.4f} (recorded {recorded})")
    if args.record:
        record.update(
            command=COMMAND,
            documents=report.documents,
            queries=report.queries,
            **{"ndcg@10": {mode: round(f["ndcg@10"], 4) for mode, f in report.modes.items()}},
        )
        RECORD.write_text(json.dumps(record, indent=2) + "\n")
        print(f"recorded in {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
