"""One base class for every error a user can fix by changing an input, a flag or a file.

`vtl` prints a `VtlError` once, as one line on stderr, and exits with code 2; anything else is a bug and keeps its
traceback. `--debug` (or VTL_DEBUG=1) shows the traceback of user errors too.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class VtlError(Exception):
    """A problem with the user's input; the message names the file, row, field or flag and what to change."""
