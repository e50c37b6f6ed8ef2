"""The `backprop-xl` command as a user runs it: outputs, overrides, refusals, and bad input that
ends in one clear line and exit status 2 with no file created or changed."""

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import openpyxl
import pytest

from backprop_xl import engine
from backprop_xl.cli import cli, main
from backprop_xl.presets import preset
from backprop_xl.regenerate import same_package
from helpers import run, snapshot


def first_row(path):
    sheet = openpyxl.load_workbook(path, data_only=True)["Steps"]
    return [sheet.cell(2, column).value for column in range(1, 11)]


def steps_in(path):
    sheet = openpyxl.load_workbook(path)["Steps"]
    return [cell.value for cell in sheet["A"][1:] if cell.value is not None]


def test_generate_with_no_arguments_writes_seed_xlsx_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "generate")
    assert status == 0
    assert [round(v, 6) for v in first_row(tmp_path / "seed.xlsx")] == [
        1, 0.8, 1.2, 0.768525, 0.072106, 0.537050, 0.177894, 1.5, 0.143307, 0.785669]
    assert steps_in(tmp_path / "seed.xlsx") == list(range(1, 301))
    assert "seed.xlsx" in err


def test_generate_from_a_spec_file_with_overrides(tmp_path, capsys):
    spec_file, out_file = tmp_path / "mine.toml", tmp_path / "out.xlsx"
    assert run(capsys, "spec", "seed", "-o", str(spec_file))[0] == 0
    status, _, _ = run(capsys, "generate", str(spec_file), "-o", str(out_file), "--steps", "12",
                       "--learning-rate", "0.5")
    assert status == 0
    sheet = openpyxl.load_workbook(out_file, data_only=True)["Steps"]
    assert steps_in(out_file) == list(range(1, 13))
    expected = engine.trace(preset("seed").with_overrides(steps=12, learning_rate=0.5))
    assert sheet["J13"].value == pytest.approx(expected["new_w1_1_1"][-1], rel=1e-12)


def test_spec_prints_toml_that_loads_back(capsys):
    status, out, _ = run(capsys, "spec", "seed", "--steps", "5")
    assert status == 0
    from backprop_xl.spec import Spec
    assert Spec.from_toml(out) == preset("seed").with_overrides(steps=5)


def test_presets_lists_one_line_each(capsys):
    status, out, _ = run(capsys, "presets")
    assert status == 0
    assert out.splitlines()[0].startswith("seed ")


def test_existing_file_is_refused_unless_force(tmp_path, capsys):
    target = tmp_path / "book.xlsx"
    target.write_bytes(b"precious")
    status, _, err = run(capsys, "generate", "-o", str(target), "--steps", "3")
    assert status == 2 and "--force" in err
    assert target.read_bytes() == b"precious"
    assert run(capsys, "generate", "-o", str(target), "--steps", "3", "--force")[0] == 0
    assert steps_in(target) == [1, 2, 3]
    assert snapshot(tmp_path).keys() == {"book.xlsx"}  # no temporary file left behind


def test_a_failure_mid_write_leaves_the_old_file_whole(tmp_path, capsys, monkeypatch):
    target = tmp_path / "book.xlsx"
    target.write_bytes(b"precious")
    before = snapshot(tmp_path)

    real_rows = engine.rows

    def broken(spec, *arguments):
        yield from list(real_rows(spec.with_overrides(steps=2), *arguments))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine, "rows", broken)
    with pytest.raises(RuntimeError):
        main(["generate", "-o", str(target), "--force"])
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [[], ["generate"], ["spec"], ["presets"]])
def test_every_command_explains_itself(capsys, command):
    status, out, _ = run(capsys, *command, "--help")
    assert status == 0
    assert "Usage: backprop-xl" in out and len(out.splitlines()) > 3


def listed_commands(out: str) -> dict[str, str]:
    """The commands `backprop-xl --help` lists, each with its summary, lines joined."""
    listed, name = {}, None
    for line in out.split("Commands:\n", 1)[1].splitlines():
        first, _, rest = line.strip().partition(" ")
        if line.startswith("  ") and not line.startswith("   "):  # a new command's line
            name, listed[first] = first, rest.strip()
        elif name:
            listed[name] += " " + line.strip()
    return listed


@pytest.mark.parametrize("columns", ["50", "200"])
def test_the_command_list_shows_each_summary_whole(capsys, monkeypatch, columns):
    """However narrow the terminal, each command's summary is its own help's first sentence,
    whole, never cut off with "..."."""
    monkeypatch.setenv("COLUMNS", columns)
    status, out, _ = run(capsys, "--help")
    assert status == 0
    listed = listed_commands(out)
    assert sorted(listed) == sorted(cli.commands)
    for name, summary in listed.items():
        own = " ".join(run(capsys, name, "--help")[1].split())
        assert not summary.endswith("...") and summary.endswith(".") and summary in own, (
            name, summary)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_what_an_option_overwrites_is_the_commands_own(name):
    """An option saying it overwrites OUT (or FILE, ...) belongs to a command that has one."""
    command = cli.commands[name]
    context = click.Context(command)
    options = [param.get_help_record(context) for param in command.params
               if isinstance(param, click.Option)]
    shown = " ".join(declared for declared, _ in options).split() + [
        param.metavar or param.name.upper() for param in command.params
        if isinstance(param, click.Argument)]
    for _, help_text in options:
        for target in re.findall(r"[Oo]verwrite ([A-Z][\w.]*)", help_text):
            assert target in shown, (name, help_text)


def test_the_readme_spec_example_is_what_spec_seed_prints(capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The spec", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    status, out, _ = run(capsys, "spec", "seed")
    assert status == 0 and out == example


def write(folder, name, content):
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


SEED_TOML = preset("seed").to_toml()


def seed_edited(*replacements):
    """Arguments that generate from the seed spec with text replaced, written to a file."""
    def make(folder):
        text = SEED_TOML
        for old, new in replacements:
            assert old in text
            text = text.replace(old, new)
        return ["generate", write(folder, "edited.toml", text)]
    return make

BAD_INPUT = [
    ("zero steps", lambda d: ["generate", "--steps", "0"], "--steps"),
    ("negative steps", lambda d: ["generate", "--steps", "-3"], "--steps"),
    ("steps not a number", lambda d: ["generate", "--steps", "abc"], "--steps"),
    ("more steps than rows", lambda d: ["generate", "--steps", "1048576"], "1,048,575"),
    ("zero learning rate", lambda d: ["generate", "--learning-rate", "0"], "--learning-rate"),
    ("nan learning rate", lambda d: ["generate", "--learning-rate", "nan"], "--learning-rate"),
    ("inf learning rate", lambda d: ["generate", "--learning-rate", "inf"], "--learning-rate"),
    ("unknown preset", lambda d: ["generate", "sed"], "sed"),
    ("folder as spec", lambda d: ["generate", str(d)], "folder"),
    ("malformed toml", lambda d: ["generate", write(d, "bad.toml", "steps = [")], "TOML"),
    ("not text", lambda d: ["generate", write(d, "bin.toml", b"\xff\xfe\x00junk")], "bin.toml"),
    ("unknown key", lambda d: ["generate", write(d, "k.toml", "stepz = 3\n" + SEED_TOML)], "stepz"),
    ("unknown activation", seed_edited(('"sigmoid"', '"sigmod"')), "sigmod"),
    ("unknown loss", seed_edited(('"squared_error"', '"mse"')), "mse"),
    ("nan weight", seed_edited(("[[[0.8]]]", "[[[nan]]]")), "network.weights"),
    ("inputs against layers", seed_edited(("[[1.5]]", "[[1.5, 2.0]]")), "data.inputs"),
    ("network too wide for Excel's columns",
     seed_edited(("[1, 1]", "[1, 5000]"), ("weights = [[[0.8]]]", "init = { seed = 1 }"),
                 ("[[0.5]]", "[[" + ", ".join(["0.5"] * 5000) + "]]")), "16,384"),
    ("output folder missing", lambda d: ["generate", "-o", str(d / "nope" / "x.xlsx")], "nope"),
    ("output is a folder", lambda d: ["generate", "-o", str(d)], "folder"),
    ("output under a file", lambda d: ["generate", "-o", write(d, "f", "x") + "/x.xlsx"], "f"),
    ("output exists", lambda d: ["generate", "-o", write(d, "old.xlsx", "keep me")], "--force"),
    ("spec output exists", lambda d: ["spec", "-o", write(d, "old.toml", "keep me")], "--force"),
    ("unknown command", lambda d: ["bogus"], "bogus"),
    ("unknown option", lambda d: ["generate", "--stepz", "3"], "--stepz"),
]


@pytest.mark.parametrize("make_args, hint", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_one_line_status_2_and_touches_nothing(tmp_path, monkeypatch, capsys,
                                                           make_args, hint):
    monkeypatch.chdir(tmp_path)
    args = make_args(tmp_path)
    before = snapshot(tmp_path)
    status, out, err = run(capsys, *args)
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("backprop-xl: "), err
    assert hint in err
    assert snapshot(tmp_path) == before


def test_the_installed_command_reports_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "backprop_xl", "generate", "--steps", "-1"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "backprop-xl: --steps: must be at least 1, got -1"
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


EXAMPLES = Path(__file__).resolve().parent.parent / "workbooks"


@pytest.mark.parametrize("spec_file", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_committed_example_workbooks_are_current(tmp_path, capsys, spec_file):
    fresh = tmp_path / "fresh.xlsx"
    assert run(capsys, "generate", str(spec_file), "-o", str(fresh))[0] == 0
    # byte for byte but for the last digits of cached values, which differ between CPUs
    assert same_package(fresh, spec_file.with_suffix(".xlsx")), (
        f"{spec_file.with_suffix('.xlsx').name} is stale: backprop-xl generate {spec_file} "
        f"-o {spec_file.with_suffix('.xlsx')} --force")
