"""Progress on long work: a bar on a terminal, one line per finished unit (with time left) in a log."""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Progress:
    """Counts finished units of a stage (models, datasets) and reports them.

    On a terminal (``stream.isatty()``, stderr by default) it draws a tqdm bar there; otherwise (a log file,
    CI, a pipe) it writes one plain line per finished unit through ``log`` (default: print to ``stream``):
    ``training: 5/27 models (gru-r0.1-s1 in 41 s); 3 min 12 s elapsed, about 8 min 40 s left``, with no
    carriage returns.
    What remains is estimated from the units' own measured times (``seconds`` of :meth:`update`): their mean
    times the units left, divided among the ``parallel`` workers (without times: the elapsed time per finished
    unit). Until a first round of ``parallel`` units (and at least two) has finished it is a first guess, and
    the line says so ('roughly ... (first guess)'); after that it says 'about'.
    """

    def __init__(self, what: str, total: int, *, unit: str = "models", stream: TextIO | None = None,
                 log: Callable[[str], None] | None = None, disable: bool = False, parallel: int = 1):
        self.what, self.total, self.unit = what, total, unit
        self.parallel = max(1, int(parallel))
        self.done = 0
        self.times: list[float] = []        # the finished units' own times (seconds)
        self.started = time.perf_counter()
        stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.disable = disable
        self._log = log or (lambda line: print(line, file=stream, flush=True))
        self.bar = None
        if self.tty and not disable:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit.rstrip("s") or unit, file=stream, dynamic_ncols=True,
                            disable=False)    # this class decided already: a terminal gets a bar

    def update(self, name: str = "", seconds: float | None = None) -> None:
        """One unit finished: ``name`` and its own time are shown in the line when given."""
        self.done += 1
        if seconds is not None:
            self.times.append(float(seconds))
        if self.disable:
            return
        if self.bar is not None:
            self.bar.update(1)
            return
        elapsed = time.perf_counter() - self.started
        rest = ""
        if self.done < self.total:
            secs, rough = self.time_left(elapsed)
            rest = f", roughly {duration(secs)} left (first guess)" if rough else f", about {duration(secs)} left"
        own = f" in {duration(seconds)}" if seconds is not None else ""
        label = f" ({name}{own})" if name else ""
        self._log(f"{self.what}: {self.done}/{self.total} {self.unit}{label}; {duration(elapsed)} elapsed{rest}")

    def time_left(self, elapsed: float) -> tuple[float, bool]:
        """(estimated seconds until the last unit finishes, whether it is only a first guess)."""
        left = self.total - self.done
        if left <= 0:
            return 0.0, False
        if self.times:
            per_unit = sum(self.times) / len(self.times)
            secs = per_unit * left / min(self.parallel, left)
        else:
            secs = elapsed / self.done * left
        return secs, self.done < max(2, min(self.parallel, self.total))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
