"""The README's commands, replayed as written from a fresh home directory; its Python example, executed.

`make demo` is replayed as its Makefile recipe (the etfflow commands it runs); `make test` is this
suite. Blocks that need the network (`etfflow update`) and synopsis lines (`[--option]`) are skipped
by name below. Every other command line of a ```bash block must exit 0, in README order, in one home.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etfflow.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()

#: blocks that are not replayed: they need the network (`etfflow update` and the commands that read
#: the warehouse it fills, ~/etf.duckdb, in a block that does not import into it first)
NETWORK = ("etfflow update", "export ")


#: README commands known to fail for reasons outside this test (none at present); listed by exact
#: text, so that a changed command is replayed again
KNOWN_BROKEN: set[str] = set()


def _offline(block: str) -> bool:
    if any(n in block for n in NETWORK):
        return False
    return "~/etf.duckdb" not in block or "etfflow import" in block


def bash_commands() -> list[str]:
    """Every command line of the README's bash blocks: comments stripped, continuations joined,
    simple ``VAR=value`` lines applied to later ``$VAR``s of the block."""
    out: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        if not _offline(block):
            continue
        vars_: dict[str, str] = {}
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split("  #")[0].strip()
            if not line or line.startswith("#") or "[" in line:
                continue  # comments and synopsis lines such as `etfflow report [--as-of ...]`
            m = re.fullmatch(r"([A-Z_]+)=(\S+)", line)
            if m:
                vars_[m.group(1)] = m.group(2)
                continue
            for k, v in vars_.items():
                line = line.replace(f"${k}", v)
            if line not in KNOWN_BROKEN:
                out.append(line)
    return out


def make_demo_commands() -> list[list[str]]:
    """The etfflow commands of the Makefile's `demo` recipe, with its variables filled in."""
    text = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", text, re.M)
    assert recipe, "Makefile has no demo target"
    cmds = []
    for raw in recipe.group(1).splitlines():
        line = raw.strip().replace("$(DEMO_DB)", "~/.etfflow/demo.duckdb")
        assert line.startswith("$(BIN)/etfflow "), line
        cmds.append(shlex.split(line)[1:])
    return cmds


def argv(line: str) -> list[str]:
    words = shlex.split(line)
    assert words[0] in ("etfflow", ".venv/bin/etfflow"), f"not an etfflow command: {line}"
    return [str(Path(w).expanduser()) if w.startswith("~") else w for w in words[1:]]


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A new HOME and a working directory beside which ../shared/data is found, as in the repo."""
    base = tmp_path_factory.mktemp("readme")
    (base / "shared").symlink_to(shared_data.parent)
    (base / "home").mkdir()
    (base / "work").mkdir()
    return base


@pytest.fixture()
def in_fresh_home(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = Path.home() / ".cache"  # the NYSE session cache only saves time; it holds no state
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("HOME", str(fresh_home / "home"))
    monkeypatch.delenv("ETFFLOW_DB", raising=False)
    monkeypatch.chdir(fresh_home / "work")
    return fresh_home


def test_readme_lists_the_commands_we_replay() -> None:
    cmds = bash_commands()
    assert any(c.startswith("make demo") for c in cmds)
    assert any("backtest --list" in c for c in cmds)
    assert any("--grid window=52,104,156" in c for c in cmds)
    assert sum(c.startswith(("etfflow", ".venv/bin/etfflow")) for c in cmds) >= 12


@pytest.mark.slow  # about 30 s quiet: the README imports the whole vendor file twice
def test_every_readme_command_exits_0_from_a_fresh_home(in_fresh_home: Path) -> None:
    home = in_fresh_home / "home"
    assert not (home / ".etfflow").exists()
    ran = []
    for line in bash_commands():
        if line.startswith("make test"):
            continue  # the test suite itself
        calls = make_demo_commands() if line.startswith("make demo") else [argv(line)]
        for args in calls:
            t0 = time.perf_counter()
            res = runner.invoke(app, args)
            print(f"{time.perf_counter() - t0:6.2f} s  {line}")
            assert res.exit_code == 0, f"`{line}` -> {args} exited {res.exit_code}:\n{res.output}"
            ran.append(args[0])
    assert (home / ".etfflow" / "demo.duckdb").exists()
    assert not (home / ".etfflow" / "etfflow.duckdb").exists()  # the demo warehouse served the reads
    assert {"demo", "report", "top", "sectors", "flows", "quality", "import", "backtest"} <= set(ran)
    # the 4 x 3 grid's 12 runs are checked in tests/test_cli_dates.py


def test_python_api_example_runs_and_prints_what_the_readme_shows(in_fresh_home: Path) -> None:
    if not (in_fresh_home / "home" / ".etfflow" / "demo.duckdb").exists():
        for args in make_demo_commands()[:1]:
            assert runner.invoke(app, args).exit_code == 0
    section = README.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    shown = re.search(r"```text\n(.*?)```", section, re.S)
    assert code and shown
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code.group(1), "README.md", "exec"), {})
    assert buf.getvalue() == shown.group(1)
