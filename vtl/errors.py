"""One base class for every error a user can fix by changing an input, a flag or a file.

`vtl` prints a `VtlError` once, as one line on stderr, and exits with code 2; anything else is a bug and keeps its
traceback. `--debug` (or VTL_DEBUG=1) shows the traceback of user errors too.
"""

from __future__ import annotations

import difflib
import re

EXIT_USER_ERROR = 2


class VtlError(Exception):
    """A problem with the user's input; the message names the file, row, field or flag and what to change."""


class UsageError(VtlError):
    """A command line or config file that does not fit the command's parameters."""


def user_cause(err: BaseException | None) -> VtlError | None:
    """The VtlError in `err`'s chain of causes (jsonargparse and Lightning wrap errors raised in constructors)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, VtlError):
            return err
        err = err.__cause__ or err.__context__
    return None


def one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def explain_parse_error(parser, message: str) -> str:
    """The parse error in one line, with the valid keys closest to an unknown one."""
    keys = sorted({a.dest for a in parser._actions if a.dest not in ("help", "config", "print_config")})
    flags = sorted({s for a in parser._actions for s in a.option_strings
                    if s.startswith("--") and s not in ("--help", "--print_shtab")})
    unknown = re.findall(r"(--[\w.\-]+)", message) if "nrecognized arguments" in message else []
    unknown_key = re.findall(r"Option '([\w.\-]+)' is not accepted", message) or re.findall(
        r"[Kk]ey \"?([\w.\-]+)\"? is not expected", message)
    text = one_line(message)
    hints = []
    for flag in unknown:
        close = difflib.get_close_matches(flag.replace("-", "_").replace("__", "--", 1), flags, n=3, cutoff=0.5)
        hints.append(f"{flag}: did you mean {' or '.join(close)}?" if close else f"{flag}: not an option")
    for key in unknown_key:
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
        hints.append(f"{key!r}: did you mean {' or '.join(map(repr, close))}?" if close else f"{key!r}: unknown key")
    if unknown or unknown_key:
        text = "; ".join(hints) + f" (valid: {', '.join(flags if unknown else keys)})"
    elif "required" in message:
        text += f" (see {parser.prog} --help)"
    return text
