import subprocess
import sys

import pytest

from a3lab import __version__
from a3lab.cli import AREAS, main


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"a3lab {__version__}"


def test_help_lists_every_area(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for area in AREAS:
        assert f"    {area}" in out


def test_unknown_area_is_one_line_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "invalid choice" in err[0]


def test_console_script_starts_without_importing_torch() -> None:
    code = "import sys, a3lab.cli; a3lab.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "a3lab --help must stay fast: no torch import at parser build time"


def test_python_dash_m_runs_the_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "a3lab", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout
