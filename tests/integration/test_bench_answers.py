"""`bench.answers` end to end on a small slice of the SQuAD 2.0 subset: two articles of six paragraphs,
ingested through the real pipeline and asked through the chat service. The figures must be well formed,
and retrieval must find the questions' own paragraphs far more often than chance (5 of 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "squad2-dev-subset"


@pytest.mark.skipif(not (DATA / "dev-v2.0-subset.json").is_file(), reason="no SQuAD 2.0 subset in ../shared")
def test_answers_bench_on_a_slice(tmp_path: Path) -> None:
    output, outcomes = tmp_path / "figures.json", tmp_path / "outcomes.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))  # `bench` itself
    args = ["--articles", "2", "--paragraphs", "6", "--limit", "12", "--threads", "1"]
    args += ["--json", str(output), "--outcomes", str(outcomes)]
    result = subprocess.run(
        [sys.executable, "-m", "bench.answers", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "B (report)" in result.stdout

    report = json.loads(output.read_text())
    assert report["corpus"]["documents"] == 12
    assert report["corpus"]["chunks"] >= 12
    assert [h["questions"] for h in report["halves"]] == [12, 12]
    calibration = report["calibration"]
    threshold, sweep = calibration["threshold"], calibration["sweep"]
    assert -1 <= threshold <= 1
    assert sweep["accuracy"][str(threshold)] == max(sweep["accuracy"].values())
    assert sweep["f1"][str(calibration["threshold_by_f1"])] == max(sweep["f1"].values())
    assert set(report["figures"]) == {"A_no_threshold", "A_calibrated", "B"}
    for name, column in report["figures"].items():
        answerable, unanswerable = column["answerable"], column["unanswerable"]
        assert answerable["questions"] + unanswerable["questions"] == 12, name
        rates = [value for key, value in answerable.items() if key != "questions"]
        overall = [unanswerable["abstained"], column["answer_accuracy"], column["squad2_f1"]]
        assert all(0 <= rate <= 1 for rate in [*rates, *overall]), name
        if answerable["questions"]:
            assert answerable["gold_paragraph_at5"] >= 0.8, name
            assert answerable["gold_in_top5"] > 0, name
        assert answerable["exact_match"] <= answerable["f1"] + 1e-9, name
    for name in ("A_no_threshold", "B"):
        timings = report["figures"][name]
        assert 0 < timings["first_token_ms"]["p50"] <= timings["latency_ms"]["p50"], name
        assert timings["latency_ms"]["p50"] <= timings["latency_ms"]["p95"], name
    assert report["figures"]["A_calibrated"]["latency_ms"] is None
    # Half A asked with no threshold: only the answerer's own bar can make it abstain, and it answers.
    assert report["figures"]["A_no_threshold"]["answerable"]["answered"] > 0
    rows = [json.loads(line) for line in outcomes.read_text().splitlines()]
    assert [row["column"] for row in rows] == ["A_no_threshold"] * 12 + ["B"] * 12
