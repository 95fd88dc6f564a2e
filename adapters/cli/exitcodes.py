"""One exit-code convention for every command, in the spirit of promtool and sysexits.

A script or a CI job that calls graysignal needs to tell "the answer is no" apart from
"you called me wrong" apart from "I could not reach the data" apart from "I broke":

| code | name        | meaning                                                                 |
| ---: | ----------- | ----------------------------------------------------------------------- |
|    0 | OK          | the command did what was asked and has nothing negative to report       |
|    1 | PROBLEMS    | it ran and its verdict is negative: ``check`` found problems in the     |
|      |             | files, ``backtest`` regressed against its baseline, a post was refused  |
|    2 | USAGE       | nothing was evaluated: a bad flag, a path that does not exist or cannot |
|      |             | be read, input that cannot be used or is over a stated limit, settings  |
|      |             | that do not validate                                                    |
|    3 | UNAVAILABLE | the input was fine but the data was not: no rule could read its source  |
|   70 | SOFTWARE    | an unexpected internal error (a bug): a one-line message, traceback     |
|      |             | only with ``--debug``                                                   |

``check`` is the one command whose job is to judge files, so a rule file it can read
but finds wrong is its verdict (1); a file it cannot read at all is still 2.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    PROBLEMS = 1
    USAGE = 2
    UNAVAILABLE = 3
    SOFTWARE = 70
