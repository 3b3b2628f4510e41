"""Progress: plain lines with time left when not on a terminal, a bar (and no lines) on one."""
import io

from probe.core.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_lines_in_a_log():
    lines, stream = [], io.StringIO()
    with Progress("training", 3, stream=stream, log=lines.append) as p:
        p.update("srn-s0", seconds=12.0)
        p.update("gru-s0")
        p.update()
    assert len(lines) == 3 and "\r" not in "".join(lines) and stream.getvalue() == ""
    assert lines[0].startswith("training: 1/3 models (srn-s0 in 12 s); ") and "left (first guess)" in lines[0]
    assert lines[1].startswith("training: 2/3 models (gru-s0); ") and lines[1].endswith("about 12 s left")
    assert lines[2].startswith("training: 3/3 models; ") and "left" not in lines[2]


def test_bar_on_a_terminal():
    lines, term = [], FakeTerminal()
    with Progress("training", 2, stream=term, log=lines.append) as p:
        p.update("a")
        p.update("b")
    assert lines == [] and "training" in term.getvalue() and "2/2" in term.getvalue()


def test_default_writer_prints_to_the_stream():
    stream = io.StringIO()
    Progress("eval", 1, unit="datasets", stream=stream).update("blimp")
    assert stream.getvalue().startswith("eval: 1/1 datasets (blimp); ")


def test_time_left_comes_from_the_models_own_times_shared_among_the_workers():
    """27 models on 2 processes, the first done in 38 s: 26 more take about 13 rounds of 38 s, not 26 (the
    elapsed time per finished model counts each round once per process). The estimate is labelled a first
    guess until a round of 2 has finished, then 'about'."""
    lines = []
    p = Progress("training", 27, stream=io.StringIO(), log=lines.append, parallel=2)
    p.update("srn-s0", seconds=38.0)
    assert lines[-1].endswith("roughly 8 min 14 s left (first guess)")        # 38 s x 26 / 2
    p.update("srn-s1", seconds=42.0)
    assert lines[-1].endswith("about 8 min 20 s left")                        # 40 s x 25 / 2
    p.done = 26
    p.update("lstm-s2", seconds=40.0)       # the last one: nothing left to estimate
    assert "left" not in lines[-1]
