"""The README: every number its findings state comes from the committed report they cite."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- findings from results/seeds", "<!-- end of findings -->"
# numbers a report prints: decimals with three places or more, counts with thousands separators
NUMBER = re.compile(r"(?<![\d.])(\d+\.\d{3,}|\d{1,3}(?:,\d{3})+)(?![\d])")


def findings() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert START in text and END in text, "the README's findings block lost its markers"
    return text[text.index(START):text.index(END)]


def test_findings_numbers_appear_in_the_cited_report():
    block = findings()
    report = (REPO / "results" / "seeds" / "report.md").read_text(encoding="utf-8")
    numbers = NUMBER.findall(block)
    assert len(numbers) >= 20, "the findings block states fewer numbers than expected: did the pattern break?"
    missing = sorted({n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?!\d)", report)})
    assert not missing, f"README findings numbers not in results/seeds/report.md: {missing}"


def test_the_pattern_reads_intervals_and_counts():
    assert NUMBER.findall("0.675 [0.608, 0.741] over 1,268 and 57, 3.2") == ["0.675", "0.608", "0.741", "1,268"]
