"""The README: every number its findings state comes from the committed report they cite."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
END = "<!-- end of findings -->"
# numbers a report prints: decimals with three places or more, counts with thousands separators
NUMBER = re.compile(r"(?<![\d.])(\d+\.\d{3,}|\d{1,3}(?:,\d{3})+)(?![\d])")


def findings(run: str) -> str:
    """The README's block of findings copied from results/RUN/report.md (between its markers)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = f"<!-- findings from results/{run}"
    assert start in text, f"the README's findings block for results/{run} lost its opening marker"
    begin = text.index(start)
    assert END in text[begin:], f"the README's findings block for results/{run} lost its closing marker"
    return text[begin:text.index(END, begin)]


@pytest.mark.parametrize("run, at_least", [("seeds", 20), ("ptb", 8)])
def test_findings_numbers_appear_in_the_cited_report(run, at_least):
    block = findings(run)
    report = (REPO / "results" / run / "report.md").read_text(encoding="utf-8")
    numbers = NUMBER.findall(block)
    assert len(numbers) >= at_least, "the findings block states fewer numbers than expected: did the pattern break?"
    missing = sorted({n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?!\d)", report)})
    assert not missing, f"README findings numbers not in results/{run}/report.md: {missing}"


def test_the_pattern_reads_intervals_and_counts():
    assert NUMBER.findall("0.675 [0.608, 0.741] over 1,268 and 57, 3.2") == ["0.675", "0.608", "0.741", "1,268"]
