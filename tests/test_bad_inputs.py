"""Bad inputs of issue 27: each ends in one line naming the flag and what to change, exit 2, no traceback."""

from vtl.cli import main


def test_vicl_run_out_under_a_file_names_the_flag(capsys):
    assert main(["vicl", "run", "--out", "/dev/null/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out /dev/null/x" in err and "writable directory" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
