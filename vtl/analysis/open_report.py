"""`vtl report open [PATH]`: the file:// address of a transfer explorer (report.html), opened where there is a
display. Headless machines (and tests) only get the address printed; no browser is ever launched there."""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path

from vtl.analysis.explorer import REPORT_FILE, read_payload
from vtl.errors import VtlError


def open_report(path: str, *, print_only: bool = False) -> int:
    """Open the transfer explorer of an analysis in the default browser, or print its file:// address.

    Args:
        path: A report.html, or the directory `vtl analyze --out DIR` (or `vtl demo`) wrote it to.
        print_only: Only print the address (what happens anyway on a machine without a display, or with
            VTL_NO_BROWSER=1).
    """
    page = Path(path)
    page = page / REPORT_FILE if page.is_dir() else page
    if not page.is_file():
        raise VtlError(f"{page}: no such file; write it with `vtl analyze INPUT... --out {Path(path)}` "
                       "(report.html is on by default)")
    try:
        read_payload(page)
    except (ValueError, OSError) as exc:
        raise VtlError(f"{exc}; give the report.html that vtl analyze wrote") from None
    uri = page.resolve().as_uri()
    print(uri)
    if print_only or not has_display():
        if not print_only:
            print("no display here: open the address above in a browser on this machine, or copy the file (it is "
                  "self-contained) to one", file=sys.stderr)
        return 0
    webbrowser.open(uri)
    return 0


def has_display() -> bool:
    if os.environ.get("VTL_NO_BROWSER", "") not in ("", "0"):
        return False
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
