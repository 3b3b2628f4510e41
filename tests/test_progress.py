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
    assert lines[0].startswith("training: 1/3 models (srn-s0 in 12 s); ") and "about" in lines[0] and "left" in lines[0]
    assert lines[1].startswith("training: 2/3 models (gru-s0); ")
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
