"""Every command that writes goes through `a3lab.runs`: one holder per folder (readers that write beside a run
too), no folder of another kind or of the user's written into, paths and caches checked before any work, and
SIGTERM handled as Ctrl-C. The work itself is replaced by a stand-in: these cases are about the folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from a3lab import cli
from a3lab.classifiers.captions.config import RUN_FOLDER as CAPTIONS
from a3lab.classifiers.config import experiment_folder
from a3lab.gan.folder import RUN
from a3lab.report import FOLDER as REPORT
from a3lab.runs import LOCK_NAME, MARKER, open_run


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.fixture(autouse=True)
def progress_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """`a3lab report` sets A3LAB_PROGRESS for the process: keep it from reaching the next tests."""
    monkeypatch.setenv("A3LAB_PROGRESS", "0")


def never(*args, **kwargs):
    raise AssertionError("the work ran before the path was checked")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The experiments, training and the report fail the test if they start."""
    import a3lab.classifiers.captions as captions
    import a3lab.classifiers.video as video
    import a3lab.gan as gan
    import a3lab.gan.evaluate as evaluate
    import a3lab.report as report

    for module, name in ((captions, "run_captions"), (video, "run_video"), (gan, "train"), (report, "build_report")):
        monkeypatch.setattr(module, name, never)
    monkeypatch.setattr(evaluate, "evaluate_run", never)
    import a3lab.gan.sampling as sampling

    monkeypatch.setattr(sampling, "sample_to_file", never)


@pytest.fixture
def captions_run(tmp_path: Path) -> Path:
    folder = tmp_path / "capt_run"
    with open_run(folder, CAPTIONS):
        (folder / "results.json").write_text('{"models": "every model"}\n')
        (folder / "run.json").write_text("{}\n")
    return folder


# ----------------------------------------------------------------------------- one holder


@pytest.mark.parametrize(
    "argv,kind",
    [
        (["classify", "video", "--out", "{out}"], experiment_folder("video")),
        (["classify", "captions", "train", "--out", "{out}"], CAPTIONS),
        (["classify", "captions", "train", "--out", "{out}", "--force"], REPORT),
        (["gan", "eval", "{out}"], RUN),
        (["gan", "sample", "{out}", "--n", "4", "--out", "{out}/grid.png"], RUN),
        (["gan", "train", "--resume", "{out}"], RUN),
        (["report", "--only", "rnn", "--out", "{out}"], REPORT),
    ],
    ids=["video twice", "captions twice", "captions --force into a running report", "gan eval beside train",
         "gan sample into a training run", "gan train twice", "report twice"],
)  # fmt: skip
def test_a_held_folder_is_refused(tmp_path: Path, capsys, no_work, argv: list[str], kind) -> None:
    out = tmp_path / "run"
    with open_run(out, kind):
        (out / "config.json").write_text("{}\n")  # a gan run's, for gan eval
        code, err = run_main([a.format(out=out) for a in argv], capsys)
    assert code == 2 and f"in use by another a3lab process (pid {os.getpid()})" in err, err
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- no data loss


def test_report_never_replaces_a_folder_it_did_not_write(tmp_path: Path, capsys, no_work) -> None:
    site = tmp_path / "website"
    site.mkdir()
    (site / "index.html").write_text("<p>my site</p>")
    (site / "report.md").write_text("my notes")
    for force in ([], ["--force"]):
        code, err = run_main(["report", "--only", "rnn", "--out", site, *force], capsys)
        assert code == 2 and "files a3lab did not write" in err, err
    assert sorted(p.name for p in site.iterdir()) == ["index.html", "report.md"]
    assert (site / "index.html").read_text() == "<p>my site</p>"


def test_resuming_a_folder_of_foreign_files_advises_a_new_folder_not_force(tmp_path: Path, capsys) -> None:
    (tmp_path / "results.json").write_text("{}")
    code, err = run_main(["gan", "train", "--resume", tmp_path], capsys)
    assert code == 2 and "nothing to resume" in err and "--force" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--only", "rnn", "--out", "{run}"],
        ["report", "--only", "rnn", "--out", "{run}", "--force"],
        ["classify", "video", "--out", "{run}", "--force"],
        ["gan", "train", "--resume", "{run}"],
        ["gan", "train", "--out", "{run}", "--force"],
        ["attention", "train", "--task", "pixel-mnist", "--out", "{run}", "--force"],
    ],
)
def test_a_run_folder_of_another_kind_is_refused(captions_run: Path, capsys, no_work, argv: list[str]) -> None:
    code, err = run_main([a.format(run=captions_run) for a in argv], capsys)
    assert code == 2 and "holds an `a3lab classify captions train` run" in err, err
    assert "--force" not in err.split(";")[-1], "the advice must not be to write over it"
    assert (captions_run / "results.json").read_text() == '{"models": "every model"}\n'


# ----------------------------------------------------------------------------- checked before any work


def test_an_unwritable_out_is_refused_before_training(capsys, no_work) -> None:
    code, err = run_main(["classify", "captions", "train", "--out", "/proc/a3lab-test/x"], capsys)
    assert code == 2 and "--out" in err and "cannot write in /proc" in err


def test_an_unwritable_a3lab_home_is_refused_before_gan_eval_trains_anything(
    tmp_path: Path, capsys, no_work, monkeypatch
) -> None:
    blocker = tmp_path / "home_is_a_file"
    blocker.write_text("x")
    monkeypatch.setenv("A3LAB_HOME", str(blocker))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"dataset": "mnist"}\n')
    code, err = run_main(["gan", "eval", run], capsys)
    assert code == 2 and f"A3LAB_HOME={blocker}" in err and "writable folder" in err, err
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_browser_check_without_chromium_is_refused_before_any_section(tmp_path: Path, capsys, no_work, monkeypatch):
    import a3lab.report.browser as browser

    monkeypatch.setattr(browser, "find_chromium", lambda: None)  # where require_chromium looks it up
    code, err = run_main(["report", "--only", "rnn", "--browser-check", "--out", tmp_path / "r"], capsys)
    assert code == 2 and "--browser-check needs chromium" in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "files,words",
    [
        (["--out", "{d}/le2.json", "--plot", "{d}/le2.json"], ["--out and --plot name the same file"]),
        (["--out", "{d}/le.json", "--plot", "{d}/./le.json"], ["same file"]),
        (["--plot", "{d}/le.jpg"], ["--plot must end in .png"]),
        (["--out", "{d}/le.png"], ["--out must end in .json"]),
    ],
)
def test_linformer_error_outputs_are_checked_first(tmp_path: Path, capsys, files, words) -> None:
    code, err = run_main(["attention", "linformer-error", *(f.format(d=tmp_path) for f in files)], capsys)
    assert code == 2 and all(w in err for w in words), err
    assert list(tmp_path.iterdir()) == []


def test_rnn_learn_writes_json_only(tmp_path: Path, capsys) -> None:
    code, err = run_main(["rnn", "learn", "--out", tmp_path / "learn.txt"], capsys)
    assert code == 2 and "--out must end in .json" in err


# ----------------------------------------------------------------------------- SIGTERM, in real processes

HANG = """
import sys, time
from pathlib import Path

def hang(*args, **kwargs):
    for arg in [*args, *kwargs.values()]:  # a folder the work would write in
        if isinstance(arg, (str, Path)) and Path(arg).name == "rnn":
            Path(arg).mkdir(parents=True, exist_ok=True)
    print("working", flush=True)
    time.sleep(120)

{patch}
from a3lab import cli
sys.exit(cli.main(sys.argv[1:]))
"""
PATCHES = {
    "classify video": "import a3lab.classifiers.video as m; m.run_video = hang",
    "classify captions train": "import a3lab.classifiers.captions as m; m.run_captions = hang",
    "gan train": "import a3lab.gan as m; m.train = hang",
    "report": "import a3lab.report.build as m; m.run_sections = lambda s, todo, args, jobs, log: hang(args[1] / 'rnn')",
}
ARGS = {
    "classify video": ["--out", "{out}"],
    "classify captions train": ["--out", "{out}"],
    "gan train": ["--out", "{out}", "--arch", "mlp"],
    "report": ["--only", "rnn", "--out", "{out}"],
}


@pytest.mark.parametrize("command", list(PATCHES))
def test_sigterm_is_one_line_exit_130_and_leaves_no_started_folder(tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    script = tmp_path / "hang.py"
    script.write_text(textwrap.dedent(HANG).replace("{patch}", PATCHES[command]))
    argv = [*command.split(), *(a.format(out=out) for a in ARGS[command])]
    env = {**os.environ, "A3LAB_PROGRESS": "0"}
    if command == "report":  # an existing report folder: a cache that must survive
        with open_run(out, REPORT):
            pass
    child = subprocess.Popen([sys.executable, str(script), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "working", child.stderr.read()
        assert (out / LOCK_NAME).exists()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "a3lab: interrupted by SIGTERM" and "Traceback" not in err, err
    if command == "report":  # the cache stays, less what the interrupted run created in it (an empty rnn/)
        assert sorted(p.name for p in out.iterdir()) == [MARKER]
    else:
        assert not out.exists(), "a failed start removes the folder it created"


def sleeping_section(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    """A report section that outlasts the test (run in the report's worker processes)."""
    import time

    time.sleep(120)
    return {}


def no_blocks(result: dict) -> list:
    return []


def test_sigterm_during_a_report_with_jobs_ends_its_workers(tmp_path: Path) -> None:
    import threading
    import time

    from a3lab.report.run import run_sections
    from a3lab.runs import Terminated, sigterm_as_interrupt
    from a3lab.section import Section

    sections = [Section(f"s{i}", f"section {i}", sleeping_section, no_blocks, dict) for i in range(2)]
    args = ("quick", tmp_path, "cpu", 0, False, 1)
    children_before = set(_children())
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGTERM))
    t0 = time.monotonic()
    with pytest.raises(Terminated), sigterm_as_interrupt():
        timer.start()
        list(run_sections(sections, sections, args, jobs=2, log=lambda line: None))
    assert time.monotonic() - t0 < 30, "the report waited for its sections instead of stopping them"
    deadline = time.monotonic() + 10
    while set(_children()) - children_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(_children()) - children_before, "a worker outlived the interrupted report"


def _children() -> list[int]:
    import multiprocessing

    return [p.pid for p in multiprocessing.active_children()]
