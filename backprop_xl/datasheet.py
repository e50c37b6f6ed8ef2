"""Where everything goes on the Data sheet, the samples of a run of several: one row per sample
(row 2 holds sample 1), its inputs and targets, and, where the targets are one-hot from a label
column (spec.labels), the sample's label in a column headed by that column's name (spec.label),
each target's header saying its class. Every input and target column is a defined name
(names.data_name: input_1, target, ...) over the samples' rows, which the steps' formulas read.

With standardized inputs (spec.standardize) the sheet keeps each input column as given, the
yellow cells a user edits (named input_{k}_raw), and below the samples their mean and population
standard deviation, =AVERAGE and =STDEVP over that column (the cells input_{k}_mean and
input_{k}_sd); beside them the standardized column, =(raw - mean) / sd on each sample's row, is
the one input_{k} names. So the steps' formulas are the same whether the inputs are standardized
or not, and editing a number as given recomputes its column's mean, deviation and standardized
values, and the steps. Every formula caches Python's number (datafile.statistics and
datafile.standardized, through the spec): the engine's. verify checks each formula's text and
cached value, and has `formulas` recompute some; reader.py reads the columns as given back
(names.raw_input_name).

workbook.write_data_sheet writes what DataSheet lists, row by row in order (XlsxWriter's
constant-memory mode writes each row once).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

from xlsxwriter.utility import xl_rowcol_to_cell

from . import names
from .layout import DATA_SHEET
from .spec import Spec

# The rows below the samples (0-based offsets after the last sample's row): a blank row, the
# means, the standard deviations and a line saying how the standardized columns are computed.
MEAN_OFFSET, SD_OFFSET, NOTE_OFFSET = 2, 3, 4
NO_LABEL_NAME = "label"  # the label column's header when the spec does not name the column

# What a cell is, for its style (workbook.py): a sample's number, a number as given (yellow,
# edited by the user), a computed number, text, a row's bold label, a hint.
SAMPLE, GIVEN, COMPUTED, TEXT, ROW_LABEL, HINT = ("sample", "given", "computed", "text",
                                                  "row label", "hint")
# And each column's header, by the phase colour it takes (workbook.PHASE_COLOURS)
HEADER_STEP, HEADER_DATA, HEADER_COMPUTED = "step", "parameters", "forward"


class DataColumn(NamedTuple):
    header: str
    header_style: str  # a phase of workbook.PHASE_COLOURS
    name: str | None  # the defined name of its samples' cells


class DataCell(NamedTuple):
    row: int  # 0-based, as XlsxWriter counts
    column: int
    value: float | str  # a constant, or a formula's cached value
    kind: str  # SAMPLE, GIVEN, COMPUTED, TEXT, ROW_LABEL or HINT
    formula: str | None = None  # with its "="
    quantity: str | None = None  # what a formula computes: a defined name (verify's reports)


class DataSheet:
    """The Data sheet of `spec` (a run of several samples)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        n_in, n_out = spec.layers[0], spec.layers[-1]
        self.n_in, self.n_out = n_in, n_out
        self.standardize = spec.standardize
        inputs = names.input_names(n_in)
        columns = [DataColumn("sample", HEADER_STEP, None)]
        if self.standardize:
            columns += [DataColumn(name, HEADER_DATA, name) for name in names.raw_input_names(n_in)]
            columns += [DataColumn(f"{name} (standardized)", HEADER_COMPUTED, name)
                        for name in inputs]
        else:
            columns += [DataColumn(name, HEADER_DATA, name) for name in inputs]
        labels = spec.labels
        columns += [DataColumn(name if labels is None else f"{name} ({labels[j]})", HEADER_DATA,
                               name)
                    for j, name in enumerate(names.target_names(n_out))]
        if labels is not None:
            columns.append(DataColumn(spec.label or NO_LABEL_NAME, HEADER_DATA, None))
        self.columns = columns
        self.raw_column = 1  # input k as given: column raw_column + k - 1
        self.input_column = 1 + (n_in if self.standardize else 0)  # what input_{k} names
        self.target_column = self.input_column + n_in
        self.label_column = self.target_column + n_out if labels is not None else None
        last = spec.n_samples  # the last sample's row, 0-based
        self.mean_row, self.sd_row = last + MEAN_OFFSET, last + SD_OFFSET
        self.note_row = last + NOTE_OFFSET

    # --- the defined names ------------------------------------------------------------------

    def names(self) -> dict[str, str]:
        """Each defined name of the sheet -> what it refers to (Data!$B$2:$B$5), in column order:
        every column's samples, then the means and standard deviations."""
        defined = {}
        for index, column in enumerate(self.columns):
            if column.name is not None:
                first = xl_rowcol_to_cell(1, index, row_abs=True, col_abs=True)
                last = xl_rowcol_to_cell(self.spec.n_samples, index, row_abs=True, col_abs=True)
                defined[column.name] = f"={DATA_SHEET}!{first}:{last}"
        if self.standardize:
            for k in range(1, self.n_in + 1):
                for name, row in ((names.input_mean_name(k, self.n_in), self.mean_row),
                                  (names.input_sd_name(k, self.n_in), self.sd_row)):
                    cell = xl_rowcol_to_cell(row, self.raw_column + k - 1, row_abs=True,
                                             col_abs=True)
                    defined[name] = f"={DATA_SHEET}!{cell}"
        return defined

    # --- the cells ----------------------------------------------------------------------------

    def rows(self) -> Iterator[tuple[int, list[DataCell]]]:
        """Every row below the header, in order: its number (0-based) and its cells."""
        spec = self.spec
        standardized = spec.training_inputs if self.standardize else None
        for sample, (given, targets) in enumerate(zip(spec.inputs, spec.targets), start=1):
            cells = [DataCell(sample, 0, sample, SAMPLE)]
            cells += [DataCell(sample, self.raw_column + k, float(value), GIVEN)
                      for k, value in enumerate(given)]
            if standardized is not None:
                cells += self._standardized(sample, standardized[sample - 1])
            cells += [DataCell(sample, self.target_column + j, float(value), GIVEN)
                      for j, value in enumerate(targets)]
            label = self.sample_label(targets)
            if label is not None:
                cells.append(DataCell(sample, self.label_column, label, TEXT))
            yield sample, cells
        if self.standardize:
            yield from self._statistics_rows()

    def sample_label(self, targets) -> str | None:
        """The label of a sample whose targets are one-hot (one 1, the rest 0), as a label column
        gives them; None where there are no labels or the targets are not one-hot (edited)."""
        labels = self.spec.labels
        if labels is None:
            return None
        ones = [j for j, value in enumerate(targets) if value == 1]
        if len(ones) != 1 or any(value != 0 for j, value in enumerate(targets) if j != ones[0]):
            return None
        return labels[ones[0]]

    def _standardized(self, sample: int, values) -> list[DataCell]:
        cells = []
        for k, value in enumerate(values, start=1):
            raw = xl_rowcol_to_cell(sample, self.raw_column + k - 1)
            mean, sd = names.input_mean_name(k, self.n_in), names.input_sd_name(k, self.n_in)
            cells.append(DataCell(sample, self.input_column + k - 1, float(value), COMPUTED,
                                  f"=({raw}-{mean})/{sd}", names.data_name("input", k, self.n_in)))
        return cells

    def _statistics_rows(self) -> Iterator[tuple[int, list[DataCell]]]:
        found = self.spec.input_statistics
        for row, label, function, name_of, field in (
                (self.mean_row, "mean", "AVERAGE", names.input_mean_name, "mean"),
                (self.sd_row, "standard deviation", "STDEVP", names.input_sd_name, "sd")):
            cells = [DataCell(row, 0, label, ROW_LABEL)]
            for k in range(1, self.n_in + 1):
                raw = names.raw_input_name(k, self.n_in)
                cells.append(DataCell(row, self.raw_column + k - 1,
                                      float(getattr(found[k - 1], field)), COMPUTED,
                                      f"={function}({raw})", name_of(k, self.n_in)))
            yield row, cells
        example = names.data_name("input", "k", self.n_in)  # input_k, or input alone
        yield self.note_row, [DataCell(
            self.note_row, 0,
            f"The steps read the standardized inputs: {example} = ({example}_raw - {example}_mean)"
            f" / {example}_sd, the mean (AVERAGE) and population standard deviation (STDEVP) of "
            f"the column as given. Edit the yellow numbers as given.", HINT)]
