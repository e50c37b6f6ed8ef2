"""The `backprop-xl` command: small click commands over spec, engine and workbook.

Every error a user can cause ends as one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from . import __version__, export, kernels
from .errors import SpecError, Terminated, UserError
from .files import atomic_output, check_writable, output_stream, write_text
from .presets import PRESETS, preset
from .spec import GRADIENT_CHECK_LIMIT, Spec


def load_spec(source: str) -> tuple[Spec, str]:
    """The spec named by `source` (a preset or a TOML file) and a short name for its outputs."""
    path = Path(source)
    if source in PRESETS and not path.exists():
        return preset(source), source
    if path.is_dir():
        raise UserError(f"{source}: is a folder, not a spec file")
    if not path.exists():
        raise UserError(f"{source}: no such spec file or preset (presets: {', '.join(PRESETS)})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{source}: cannot read it as a spec: {error}") from None
    return Spec.from_toml(text, source=source), path.stem


def warn_overflow(step: int | None) -> None:
    """One warning line when a run's numbers overflow; the output is written all the same."""
    if step is not None:
        click.echo(f"backprop-xl: warning: step {step} is the first whose numbers overflow to inf "
                   f"or NaN (#NUM! in a workbook); try a smaller learning rate or inputs", err=True)


def overridden(spec: Spec, **overrides) -> Spec:
    try:
        return spec.with_overrides(**overrides)
    except SpecError as error:  # name the option the user typed, not the spec key
        raise UserError(f"--{error.key.replace('_', '-')}: {error.why}") from None


spec_argument = click.argument("spec", default="seed", metavar="[SPEC]")


# The options that override a run, each saying where the value comes from without it: `source`
# is "the spec" (generate, spec, trace) or "the workbook" (regenerate).
def steps_option(source: str):
    return click.option("--steps", type=int,
                        help=f"Training steps, one row each [default: as {source} says].")


def rate_option(source: str):
    return click.option("--learning-rate", type=float,
                        help=f"Learning rate r [default: as {source} says].")


def check_option(source: str):
    return click.option(
        "--gradient-check/--no-gradient-check", default=None,
        help=f"Finite-difference columns beside each gradient [default: as {source} says, "
             f"else on up to {GRADIENT_CHECK_LIMIT} parameters].")


class Command(click.Command):
    """A command that `backprop-xl --help` lists with the first sentence of its help whole
    (click's own cuts it to fit the terminal, mid-sentence)."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return super().get_short_help_str(limit=1_000)  # longer than any first sentence


class Group(click.Group):
    command_class = Command


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop-xl")
def cli():
    """Watch gradient descent one step at a time, in formula-backed Excel workbooks.

    Each command takes a SPEC: a preset name or a spec .toml file.
    """


@cli.command()
@spec_argument
@click.option("-o", "--output", type=click.Path(dir_okay=True, path_type=Path),
              metavar="OUT.xlsx",
              help="The workbook to write [default: SPEC's name + .xlsx, in this folder].")
@steps_option("the spec")
@rate_option("the spec")
@check_option("the spec")
@click.option("--force", is_flag=True, help="Overwrite OUT.xlsx if it exists.")
def generate(spec, output, steps, learning_rate, gradient_check, force):
    """Write the workbook of SPEC's run [default SPEC: seed].

    One row per training step; every computed cell is an Excel formula over the named parameter
    cells and the previous row, stored with the engine's value. An existing file is left alone
    unless --force.
    """
    run_spec, name = load_spec(spec)
    run_spec = overridden(run_spec, steps=steps, learning_rate=learning_rate,
                          gradient_check=gradient_check)
    output = output or Path(f"{name}.xlsx")
    check_writable(output, force)
    from . import workbook  # the writing, reading and checking modules load when used:
    overflow = workbook.write(run_spec, output, force=force)  # `trace`, `presets` start faster
    click.echo(f"wrote {output} ({run_spec.steps} steps)", err=True)
    warn_overflow(overflow)


def _numbers(text: str, option: str) -> list[float]:
    """The comma-separated numbers of an option; one line naming one that is not a number."""
    numbers = []
    for item in text.split(","):
        try:
            numbers.append(float(item))
        except ValueError:
            raise UserError(f"{option}: {item.strip()!r} is not a number") from None
    return numbers


@cli.command()
@spec_argument
@click.option("--learning-rates", "learning_rates", metavar="R1,R2,...",
              help="Learning rates to compare, comma-separated [default: the spec's].")
@click.option("--optimizers", metavar="NAME,...",
              help="Optimizers to compare: sgd, momentum, rmsprop, adagrad, adam [default: the "
                   "spec's].")
@click.option("-o", "--output", type=click.Path(dir_okay=True, path_type=Path),
              metavar="OUT.xlsx",
              help="The workbook to write [default: SPEC's name + -compare.xlsx, in this folder].")
@steps_option("the spec")
@check_option("the spec")
@click.option("--force", is_flag=True, help="Overwrite OUT.xlsx if it exists.")
def compare(spec, learning_rates, optimizers, output, steps, gradient_check, force):
    """Write one workbook that runs SPEC under every combination of learning rates and
    optimizers, side by side [default SPEC: seed].

    Each run gets a full live steps sheet; the first sheet overlays every run's cost by step in
    one chart, above a table of each run's settings (yellow: edit one and its run recalculates)
    and final cost. An optimizer the spec names keeps its settings; any other takes torch.optim's
    defaults (momentum: 0.9).
    """
    run_spec, name = load_spec(spec)
    run_spec = overridden(run_spec, steps=steps, gradient_check=gradient_check)
    rates = ([run_spec.learning_rate] if learning_rates is None else
             _numbers(learning_rates, "--learning-rates"))
    names = ([run_spec.optimizer.name] if optimizers is None else
             [name.strip().lower() for name in optimizers.split(",")])
    from . import comparison
    from .layout import run_sheet
    runs = comparison.runs(run_spec, rates, names)
    output = output or Path(f"{name}-compare.xlsx")
    check_writable(output, force)
    overflows = comparison.write(run_spec, runs, output, force=force)
    click.echo(f"wrote {output} ({len(runs)} runs of {run_spec.steps} steps)", err=True)
    for run, overflow in zip(runs, overflows):
        if overflow is not None:
            click.echo(f"backprop-xl: warning: {run_sheet(run)}: step {overflow} is the first "
                       "whose numbers overflow to inf or NaN (#NUM! in the workbook)", err=True)


@cli.command("spec")
@spec_argument
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="OUT.toml",
              help="Write the spec to OUT.toml, not stdout.")
@steps_option("the spec")
@rate_option("the spec")
@click.option("--force", is_flag=True, help="Overwrite OUT.toml if it exists.")
def spec_command(spec, output, steps, learning_rate, force):
    """Print SPEC as TOML, with any overrides applied: a starting point for your own spec
    [default SPEC: seed].

    Each key is followed by a comment saying what it means; README.md's section "The spec" has
    the whole table.
    """
    run_spec, _ = load_spec(spec)
    text = overridden(run_spec, steps=steps, learning_rate=learning_rate).to_toml()
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text(output, text, force=force)


@cli.command()
@spec_argument
@click.option("--format", "format_", type=click.Choice(export.FORMATS), default="csv",
              show_default=True, help="csv, or json for JSON Lines (one object per line).")
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the trace to FILE, not stdout.")
@steps_option("the spec")
@rate_option("the spec")
@click.option("--state", is_flag=True,
              help="Also write the optimizer's state after each step (velocity_<name>, m_<name>, "
              "...; none for sgd).")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def trace(spec, format_, output, steps, learning_rate, state, force):
    """Print the trace of SPEC's run, one record per step, without a workbook [default SPEC: seed].

    Each record holds step, loss (the step's cost), every trained parameter by its name (w1_1_1 is
    the weight from input 1 into neuron 1 of layer 1, b1_1 its bias) as it is at the start of the
    step, then grad_<name>, the gradient of the loss that the step uses to update it; with
    --state, then the optimizer's state after the step, per parameter (README.md, 'The spec').

    \b
    --format csv   a header row, then one row per step; numbers read back exactly.
    --format json  JSON Lines: one JSON object per step, one per line.

    Records are written as the steps run, so a long run needs no more memory than a short one.
    """
    run_spec, _ = load_spec(spec)
    run_spec = overridden(run_spec, steps=steps, learning_rate=learning_rate)
    if kernels.slow_without_numba(run_spec):
        click.echo("backprop-xl: note: numba is not installed, so this long run is computed in "
                   "Python, more slowly; pip install 'backprop_xl[fast]' compiles it", err=True)
    if output is None:
        # A reader that stops early (`| head`) closes the pipe: click catches the EPIPE, silences
        # the final flush and exits with status 1, no traceback, which is what we want too.
        warn_overflow(export.write(run_spec, sys.stdout.buffer, format_,
                                   progress_bar=not sys.stdout.isatty(), state=state))
        return
    with output_stream(output, force) as stream:
        overflow = export.write(run_spec, stream, format_, progress_bar=True, state=state)
    warn_overflow(overflow)


@cli.command("xlwings-setup")
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite the two files if they exist.")
def xlwings_setup_command(directory, force):
    """Get started with backprop_xl's functions in Excel (xlwings UDFs, Windows).

    Writes DIR/xlwings.conf, naming the UDF module backprop_xl.udfs (and, on Windows, this
    Python as the interpreter), and DIR/backprop_xl.xlsm, a macro-enabled workbook with xlwings'
    VBA and a sheet that calls every BP_ function on the seed lesson's numbers. DIR is created if
    its parent folder exists. Existing files are left alone unless --force. docs/excel.md has the
    steps in Excel. Needs xlwings: pip install 'backprop_xl[excel]'.
    """
    from . import xlwings_setup  # imports xlwings: only this command needs it

    conf, book = xlwings_setup.write(directory, force=force)
    click.echo(f"wrote {conf} and {book}", err=True)
    click.echo(f"next, in Excel on Windows: open {book.name}, enable macros, press Alt+F8 and run "
               f"ImportPythonUDFs (needs Trust access to the VBA project object model; "
               f"docs/excel.md says what to do where it is locked)", err=True)


@cli.command("libreoffice-setup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.oxt",
              help="Only write the extension to FILE.oxt, for Tools > Extension Manager or "
                   "`unopkg add`.")
@click.option("--remove", is_flag=True, help="Take the extension out of LibreOffice.")
@click.option("--profile", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="A LibreOffice user profile other than your own (-env:UserInstallation).")
@click.option("--demo", "demo_book", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE.xlsx", help="Only write a workbook calling every BP_ function on the "
                                        "seed lesson's numbers, for Calc; installs nothing.")
@click.option("--force", is_flag=True,
              help="With --output or --demo: overwrite the file if it exists.")
def libreoffice_setup_command(output, remove, profile, demo_book, force):
    """Call backprop_xl's functions from LibreOffice Calc cells (=BP_STEP(1.5; 0.8; 0.5; 0.1)).

    Builds a LibreOffice extension holding every BP_ function and adds it for you (again: it is
    replaced). Restart LibreOffice to use the functions. They run on LibreOffice's Python, which
    imports backprop_xl from this Python environment: keep it where it is, and run this command
    again from the new place if it moves. docs/libreoffice.md has the steps in Calc.

    --demo FILE.xlsx writes the sheet xlwings-setup's workbook has, for LibreOffice: every BP_
    function on the seed lesson's and Mazur's numbers, with the values backprop_xl computes.
    """
    if demo_book is not None:
        if output is not None or remove or profile is not None:
            raise UserError("--demo only writes the demo workbook: it takes no --output, "
                            "--remove or --profile")
        from . import demo

        demo.write_libreoffice(demo_book, force=force)
        click.echo(f"wrote {demo_book}; its BP_ cells need the functions: run backprop-xl "
                   f"libreoffice-setup, restart LibreOffice and open it", err=True)
        return
    from . import libreoffice_setup

    if output is not None:
        if remove or profile is not None:
            raise UserError("--output only writes the extension: it takes no --remove or "
                            "--profile")
        libreoffice_setup.write(output, force=force)
        click.echo(f"wrote {output}", err=True)
        return
    if remove:
        done = libreoffice_setup.remove(profile)
        click.echo("removed backprop_xl's functions from LibreOffice" if done["removed"] else
                   "backprop_xl's functions were not installed in LibreOffice", err=True)
        return
    libreoffice_setup.install(profile)
    click.echo(f"installed backprop_xl's functions in LibreOffice (version {__version__}); "
               f"restart LibreOffice and type =BP_STEP(1.5; 0.8; 0.5; 0.1) in a cell", err=True)
    problem = libreoffice_setup.check_imports()
    if problem:
        click.echo(f"backprop-xl: warning: LibreOffice's Python cannot import backprop_xl from "
                   f"this environment ({problem}); the cells will say so", err=True)


@cli.command("convert-functions")
@click.argument("book", metavar="BOOK", type=click.Path(path_type=Path))
@click.option("--to", "to", type=click.Choice(["libreoffice", "excel"]),
              help="The application that is to open the copy (required).")
@click.option("-o", "--output", type=click.Path(path_type=Path), metavar="OUT",
              help="The copy to write [default: BOOK's name + -libreoffice or -excel, beside it].")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def convert_functions_command(book, to, output, force):
    """Copy an .xlsx or .xlsm workbook with its BP_ calls spelled for LibreOffice or for Excel.

    LibreOffice and Excel name add-in functions differently in .xlsx: Excel (xlwings) saves
    BP_STEP(1.5,0.8,0.5,0.1), LibreOffice saves BACKPROP_XL.BP_STEP(1.5,0.8,0.5,0.1), and each
    shows #NAME? for the other's. `--to libreoffice` renames every BP_ call in the cells' formulas
    to LibreOffice's spelling, `--to excel` back to Excel's; nothing else in the workbook changes.
    BOOK itself is never changed.
    """
    if to is None:  # checked here: click's own message for a missing choice takes three lines
        raise UserError("convert-functions needs --to libreoffice or --to excel")
    from . import spelling

    output = output or book.with_name(f"{book.stem}-{to}{book.suffix}")
    converted = spelling.convert(book, output, libreoffice=to == "libreoffice", force=force)
    click.echo(f"converted {converted.formulas} formula(s) in {converted.cells} cell(s) to "
               f"{spelling.APPLICATION[to == 'libreoffice']}'s spelling: wrote {output}", err=True)


@cli.command("regenerate")
@click.argument("target", metavar="BOOK.xlsx|FOLDER", type=click.Path(path_type=Path))
@steps_option("the workbook")
@rate_option("the workbook")
@check_option("the workbook")
@click.option("--check", "check_only", is_flag=True,
              help="Change nothing, whatever the other options say; exit 1 if any workbook "
                   "differs from what the current backprop_xl writes for its spec.")
@click.option("--backup/--no-backup", default=True, show_default=True,
              help="Keep the old file as NAME.backup.xlsx.")
@click.option("--force", is_flag=True,
              help="Regenerate even if content you added would be lost (the backup keeps it, "
                   "unless --no-backup).")
def regenerate_command(target, steps, learning_rate, gradient_check, check_only, backup, force):
    """Rebuild a workbook from the spec it carries, with its parameter cells as you left them.

    Edit the learning rate, initial weights, inputs or targets in Excel, then regenerate, for
    example with more --steps. Content you added outside the generated ranges (cells, sheets,
    charts) is named and refused unless --force; the old file stays as NAME.backup.xlsx unless
    --no-backup. Given a FOLDER, every workbook in it is regenerated; with --check nothing
    changes, and the exit status is 1 if any workbook (or its NAME.toml) is stale.
    """
    from . import regenerate
    books = regenerate.workbooks_in(target) if target.is_dir() else [target]
    if not books:
        raise UserError(f"{target}: no workbooks (.xlsx) in this folder")
    if check_only:
        reasons = {book: regenerate.stale(book) for book in books}
        for reason in (reason for found in reasons.values() for reason in found):
            click.echo(f"stale: {reason}")
        current = sum(not found for found in reasons.values())
        click.echo(f"{current} of {len(books)} workbook(s) current", err=True)
        return 0 if current == len(books) else 1
    # Every workbook is checked before any is written: one refused, none changes.
    def change(spec: Spec) -> Spec:
        return overridden(spec, steps=steps, learning_rate=learning_rate,
                          gradient_check=gradient_check)

    plans = [(book, regenerate.prepare(book, change, force=force, backup=backup)) for book in books]
    for book, plan in plans:
        regenerate.rewrite(book, plan, backup=backup)
        new = plan.contents
        runs = "" if new.runs is None else f"{len(new.runs)} runs of "
        click.echo(f"regenerated {book} ({runs}{new.spec.steps} steps)", err=True)
    return 0


@cli.command("verify")
@click.argument("book", metavar="BOOK.xlsx", type=click.Path(path_type=Path))
@click.option("--libreoffice", is_flag=True,
              help="Also recompute the sampled rows in LibreOffice Calc.")
def verify_command(book, libreoffice):
    """Recompute a workbook independently and list every cell that disagrees.

    Each formula is checked against what the embedded spec lays out and each cached value against
    the engine rerun from the parameter cells as they stand now, row by row; 200 sampled rows are
    recomputed from the row before them by the `formulas` evaluator (and LibreOffice with
    --libreoffice). The first 100 disagreements of each kind are listed, all are counted. A
    workbook edited and recalculated in Excel verifies; a tampered value or formula does not; one
    saved by a program that does not calculate (no formula holds a value) is said to be so, in
    one line. Exit status 0 when all agree, 1 otherwise.
    """
    from . import verify
    report = verify.verify(book, libreoffice=libreoffice)
    if report.computed:  # else every formula cell disagrees: the summary says why, in one line
        for disagreement in report.shown:
            click.echo(str(disagreement))
        if report.unshown:
            click.echo(f"... and {report.unshown:,} more disagreement(s)")
    for skipped in report.skipped:  # a check this install leaves out, and how to add it
        click.echo(f"{book}: {skipped}", err=True)
    click.echo(f"{book}: {report.summary()}", err=True)
    return 0 if report.agrees else 1


@cli.command()
def presets():
    """List the built-in specs, one line each."""
    width = max(map(len, PRESETS))
    for name, (summary, _) in PRESETS.items():
        click.echo(f"{name:<{width}}  {summary}")


def _terminate(signal_number, frame):
    raise Terminated()


def _unraisable(unraisable) -> None:
    """A write that failed (a full disk) leaves file objects of the library that wrote (zipfile's)
    that fail again as they are collected: that failure was said in one line already."""
    if not isinstance(unraisable.exc_value, OSError):
        sys.__unraisablehook__(unraisable)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors become one line on stderr and exit status 2."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminate)
    sys.unraisablehook = _unraisable
    if hasattr(signal, "SIGXFSZ"):
        # Past the process's file-size limit (ulimit -f) a write then fails with EFBIG, which
        # files.py reports in one line, instead of the signal killing the process mid-write.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        result = cli.main(args=argv or ["--help"], prog_name="backprop-xl", standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C, SIGINT
        click.echo("backprop-xl: interrupted", err=True)
        return 130
    except Terminated:
        click.echo("backprop-xl: terminated", err=True)
        return 143
    except click.ClickException as error:  # bad options or arguments
        click.echo(f"backprop-xl: {error.format_message()}", err=True)
        return 2
    except UserError as error:
        click.echo(f"backprop-xl: {error}", err=True)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
