"""The picture of the network beside the charts: the layers as nodes, inputs on the left and
outputs on the right, each weight an edge labelled with its value at the step the user picks in
the yellow cell PICTURE_STEP_NAME (the last step unless edited), each bias under its neuron.

It owns the picture's geometry (where each node, edge and label sits), its live table on the
sheet NETWORK_SHEET and its chart; workbook.py places the yellow cell and the chart.

The chart is a scatter chart of what Excel and LibreOffice both draw. Each edge is a series of
three points, its source, the point its label sits on and its target, joined by straight lines
without markers; the nodes are a series per kind (inputs, hidden, outputs) with round markers,
their names as labels. Whatever changes with the step is a formula of the table: each weight is
INDEX(its column on the steps sheet, the step), its label the name and the value rounded, and each
edge's y's are #N/A unless the weight's sign is the series' own, so that one of two series draws
the edge, blue for a weight of 0 or more, red for a negative one, and the colour stays live.

An edge's label is the text of its label cell twice over: as the series' name shown on the middle
point (LibreOffice 7.4 draws that, and redraws it when the cell changes, but ignores a custom
label's text from a cell) and as that point's custom data label whose value is the cell (which
Excel draws in its place).

The table caches the engine's numbers at the chosen step (Picture.see watches the rows the
workbook writes) and the chart caches its points and labels, so a viewer that does not
recalculate shows the right picture. verify checks the steps table, not this one; the tests hold
this one to the engine.

Not drawn: a network of more than MAX_WEIGHTS weights or MAX_NODES nodes a layer, where labels
and nodes crowd into a tangle, and the runs of a comparison (comparison.py), whose networks are
one and the same.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from xlsxwriter.utility import quote_sheetname, xl_col_to_name, xl_rowcol_to_cell

from . import names
from .layout import HEADER_ROW, QUANTITY_FORMAT, SHEET, Layout
from .names import OVERFLOW

NETWORK_SHEET = "Network"
PICTURE_STEP_NAME = "picture_step"  # the yellow cell: the step whose weights the picture shows
# The chart's title; below the network, its caption names the step, live, and short: LibreOffice
# wraps a data label wider than a fifth of the chart's width or height (WRAP_PARTS).
PICTURE_TITLE = "The network's weights at the start of a step"
MAX_WEIGHTS = 60
MAX_NODES = 16  # in a layer: past this the picture, at most MOST_HEIGHT tall, crowds its nodes

# Where the label of an edge sits, as a fraction of the way from its source: the first of these
# that spaces the labels of a layer's edges (all on one vertical line) LABEL_SPACING units of y
# apart or more, else of every hundredth from 0.28 to 0.45 the one that spaces them farthest
# apart. Halfway suits edges that do not cross; crossing edges take their labels nearer their
# sources, as Mazur's picture does; none nearer than 0.28, where the gap between the layers is
# wide enough (gap_pixels) for a label to clear the node.
LABEL_FRACTIONS = (0.5, 0.35, 0.3, 0.4)
MORE_FRACTIONS = tuple(t / 100 for t in range(28, 46))
LABEL_SPACING = 0.25
BIAS_OFFSET = (-0.06, -0.34)  # a bias's label from its neuron (x, y), a little left of the
#                              labels of the edges that leave it
# Sizes in pixels: a layer gap's width, the least height of a unit of y (one node to the next),
# the room a label needs, the chart's title and margins, and the least size (a default chart's
# width and height times the other charts' scales).
GAP_PIXELS = 190
LABEL_CHARACTER_PIXELS = 4.5  # a character of a label, about (LABEL_FONT)
UNIT_PIXELS = 110
LABEL_PIXELS = 18
CHROME_PIXELS = (40, 80)
LEAST_PIXELS = (576, 200)
MOST_HEIGHT = 1200  # past this, a large layer's labels may touch
WRAP_PARTS = 5.2  # LibreOffice wraps a label wider than a fifth of the chart's smaller side
ROW_PIXELS = 20  # a row of the default height

POSITIVE, NEGATIVE = "#0072B2", "#C00000"  # the parameter charts' blue, the cost's red
GREY = "#404040"  # the biases' labels, the caption and the nodes' rims
NODE_COLOURS = {"input": "#9DC3E6", "hidden": "#A9D18E", "output": "#F4B183"}  # Office's
NODE_SIZE = 26  # the marker's size, in points
NODE_RADIUS_PIXELS = 17  # an edge ends this far from a node's centre, outside its marker: where
#                          a line crosses a marker, LibreOffice draws the line on top
LABEL_FONT = {"size": 8}

# The table, on NETWORK_SHEET: the step shown and the caption, then a row per edge, per bias and
# per node. An edge's columns: what it is, its weight, its label, the x of its three points, their
# y where the weight is positive or 0, and where it is negative.
STEP_ROW, CAPTION_ROW, TABLE_ROW = 3, 4, 6
VALUE, LABEL, X, Y_POSITIVE, Y_NEGATIVE = 1, 2, 3, 6, 9


def shown_step(value: float, steps: int) -> int:
    """The step the picture shows for the yellow cell's `value`, as the step cell's formula
    (step_formula) computes it: its whole part, within the run's 1 to `steps`."""
    return min(max(1, math.floor(value)), steps)


def step_formula(steps: int) -> str:
    return f"=MIN(MAX(1,INT({PICTURE_STEP_NAME})),{steps})"


class Node(NamedTuple):
    name: str  # as the picture shows it: i1, h1, o1
    kind: str  # input, hidden, output (NODE_COLOURS)
    x: float  # its layer: 0 for the inputs
    y: float


class Label(NamedTuple):
    """A parameter's label: whose it is, what it calls it, where it sits."""

    place: names.Parameter  # the weight's or bias's layer and neuron (and source)
    shown: str  # its name in the label: Mazur's where he has one
    x: float
    y: float

    @property
    def parameter(self) -> str:
        return self.place.name  # its machine name, the key of its column


class Edge(NamedTuple):
    """A weight's line: from its source's rim through its label's point to its target's rim."""

    source: Node
    target: Node
    label: Label
    trim: float  # the fraction of the way from one node's centre to the other's in its marker

    def xs(self) -> list[float]:
        return [_at(self.source.x, self.target.x, self.trim), self.label.x,
                _at(self.target.x, self.source.x, self.trim)]

    def ys(self) -> list[float]:
        return [_at(self.source.y, self.target.y, self.trim), self.label.y,
                _at(self.target.y, self.source.y, self.trim)]


def drawn(layout: Layout) -> bool:
    """Whether a run's workbook gets the picture: a network of at most MAX_WEIGHTS weights and
    MAX_NODES nodes a layer."""
    sizes = layout.spec.layers
    weights = sum(layer.inputs * layer.neurons for layer in names.layers(sizes))
    return weights <= MAX_WEIGHTS and max(sizes) <= MAX_NODES


def nodes(layout: Layout) -> list[list[Node]]:
    """Each layer's nodes, inputs first, each layer's first neuron on top, every layer centred
    on y = 0: inputs i1, i2, ...; hidden neurons h1, h2, ... (h{layer}_{neuron} where there are
    several hidden layers); outputs o1, o2, ... (one alone is i or o; the lesson's neuron is a)."""
    sizes, depth = layout.spec.layers, layout.depth

    def name(layer: int, j: int) -> str:
        if layer == 0:
            return "i" + (str(j) if sizes[0] > 1 else "")
        if layer == depth:
            return "a" if layout.single_neuron else "o" + (str(j) if sizes[-1] > 1 else "")
        return f"h{j}" if depth == 2 else f"h{names.neuron_name(layer, j)}"

    kinds = ["input"] + ["hidden"] * (depth - 1) + ["output"]
    return [[Node(name(layer, j), kinds[layer], float(layer), (size - 1) / 2 - (j - 1))
             for j in range(1, size + 1)] for layer, size in enumerate(sizes)]


def shown_name(layout: Layout, parameter: str) -> str:
    """A parameter's name in its label: Mazur's (w5, b1), the lesson's w, else the machine name."""
    if parameter in layout.mazur_names:
        return layout.mazur_names[parameter]
    return "w" if layout.single_neuron else parameter


def label_fraction(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Where on the edges from y0 to y1 (`pairs`) their labels go (LABEL_FRACTIONS), and how far
    apart that spaces them (in units of y; inf for a lone edge)."""
    def spacing(t: float) -> float:
        ys = sorted(y0 + t * (y1 - y0) for y0, y1 in pairs)
        return min((b - a for a, b in zip(ys, ys[1:])), default=math.inf)

    wide = [t for t in LABEL_FRACTIONS if spacing(t) >= LABEL_SPACING]
    best = wide[0] if wide else max(MORE_FRACTIONS, key=spacing)  # max: the first of equals
    return best, spacing(best)


class Picture:
    """The picture of one run's network: its geometry, its table and its chart.

    `step_value`: the yellow cell's value, the run's last step unless the user chose another
    (regenerate keeps it); the picture shows shown_step of it. `positions`: each steps-table
    column's index, by key."""

    def __init__(self, layout: Layout, positions: dict[str, int], step_value: float | None = None):
        spec = self.spec = layout.spec
        self.layout, self.positions = layout, positions
        self.step_value = spec.steps if step_value is None else step_value
        self.step = shown_step(self.step_value, spec.steps)
        self.nodes = nodes(layout)
        gaps = [(self.nodes[layer.number - 1], self.nodes[layer.number])
                for layer in names.layers(spec.layers)]
        fractions = [label_fraction([(s.y, n.y) for n in targets for s in sources])
                     for sources, targets in gaps]
        # the axes: every node with a margin, room for the biases' labels and the caption below;
        # a unit of y tall enough for the labels of each layer's edges
        half = (max(spec.layers) - 1) / 2
        self.x_range = (-0.35, layout.depth + 0.35)
        self.caption_y = -half - (0.8 if spec.has_biases else 0.55)
        self.y_range = (self.caption_y - 0.2, half + 0.4)
        unit = max(UNIT_PIXELS, LABEL_PIXELS / min(spacing for _, spacing in fractions))
        self.width = max(LEAST_PIXELS[0], round(self.gap_pixels() * _span(self.x_range)
                                                + CHROME_PIXELS[0]))
        self.height = min(MOST_HEIGHT, max(LEAST_PIXELS[1], round(
            unit * _span(self.y_range) + CHROME_PIXELS[1]), WRAP_PARTS * self.label_pixels()))
        self.rows = math.ceil(self.height / ROW_PIXELS) + 2  # the sheet rows it covers, and a gap
        scale = ((self.width - CHROME_PIXELS[0]) / _span(self.x_range),  # pixels per unit
                 (self.height - CHROME_PIXELS[1]) / _span(self.y_range))
        self.edges: list[Edge] = []
        for (layer, (sources, targets)), (t, _) in zip(enumerate(gaps, start=1), fractions):
            for j, target in enumerate(targets, start=1):
                for k, source in enumerate(sources, start=1):
                    place = names.Parameter(layer, j, k)
                    length = math.hypot((target.x - source.x) * scale[0],
                                        (target.y - source.y) * scale[1])
                    self.edges.append(Edge(source, target, Label(
                        place, shown_name(layout, place.name), _at(source.x, target.x, t),
                        _at(source.y, target.y, t)), NODE_RADIUS_PIXELS / length))
        self.biases: list[Label] = []
        if spec.has_biases:
            for layer, (_, targets) in enumerate(gaps, start=1):
                for j, node in enumerate(targets, start=1):
                    place = names.Parameter(layer, j, None)
                    self.biases.append(Label(place, shown_name(layout, place.name),
                                             round(node.x + BIAS_OFFSET[0], 4),
                                             round(node.y + BIAS_OFFSET[1], 4)))
        self.values: dict[str, float] | None = None  # the parameters at the step, once seen
        self.seen = 0

    def label_pixels(self) -> float:
        """The width of the longest label, about: "w1_2_1 = -0.123"."""
        longest = max(len(shown_name(self.layout, place.name))
                      for place in names.parameters(self.spec.layers, self.spec.has_biases))
        return (longest + len(" = -0.000")) * LABEL_CHARACTER_PIXELS

    def gap_pixels(self) -> int:
        """The width of a gap between layers: GAP_PIXELS, or wide enough that the longest label
        centred MORE_FRACTIONS[0] of the way along clears the node."""
        return max(GAP_PIXELS, math.ceil((self.label_pixels() / 2 + NODE_RADIUS_PIXELS + 4)
                                         / MORE_FRACTIONS[0]))

    # --- the engine's numbers -----------------------------------------------------------------

    def see(self, values) -> None:
        """One row of the steps table as written (the values of its columns in order): keeps
        the parameters of the row of the step shown."""
        self.seen += 1
        if self.seen == self.step:
            self.values = {label.parameter: values[self.positions[label.parameter]]
                           for label in self.labels() if label.parameter in self.positions}

    def labels(self) -> list[Label]:
        return [edge.label for edge in self.edges] + self.biases

    def value(self, label: Label):
        """The parameter's number at the step shown (a fixed bias's initial value), as its cell
        caches it: OVERFLOW where it is not finite."""
        if label.parameter in self.positions:
            value = self.values[label.parameter]
        else:  # a bias that is not trained: its initial value, the same at every step
            value = float(self.spec.initial_biases()[label.place.layer - 1][label.place.neuron - 1])
        return value if math.isfinite(value) else OVERFLOW

    def text(self, label: Label) -> str:
        """The label's text as its cell's formula computes it: name = value to 3 decimals."""
        value = self.value(label)
        return OVERFLOW if value == OVERFLOW else f"{label.shown} = {value:.3f}"

    def caption(self) -> str:
        return f"step {self.step}"

    def notes(self) -> str:
        """What the picture shows, in words (one paragraph of the notes)."""
        biases = ", each bias under its neuron" if self.biases else ""
        return (f"The chart \"{PICTURE_TITLE}\" draws the network, its inputs on the left and "
                f"its outputs on the right, each weight a line labelled with its value, blue where "
                f"it is 0 or more and red where it is negative{biases}. The values are those at "
                f"the start of the step in the yellow cell {PICTURE_STEP_NAME}, the last step "
                f"unless you type another: the labels and colours follow. Its table of live "
                f"formulas is on the sheet \"{NETWORK_SHEET}\".")

    # --- the table ----------------------------------------------------------------------------

    @property
    def bias_row(self) -> int:
        """The header row of the biases' part of the table (after the edges' and a gap)."""
        return TABLE_ROW + len(self.edges) + 2

    @property
    def node_row(self) -> int:
        """The header row of the nodes' part (after the biases', if any, and a gap)."""
        return self.bias_row + (len(self.biases) + 2 if self.biases else 0)

    def value_formula(self, label: Label, step: str) -> str:
        """The parameter at the step: INDEX of its column of the steps table; a fixed bias's
        defined name."""
        if label.parameter not in self.positions:
            return "=" + names.initial_name(label.parameter)
        column = xl_col_to_name(self.positions[label.parameter])
        first, last = HEADER_ROW + 2, HEADER_ROW + 1 + self.spec.steps  # Excel's row numbers
        return f"=INDEX({quote_sheetname(SHEET)}!${column}${first}:${column}${last},{step})"

    def write_sheet(self, book, styles, check) -> None:
        """The picture's table on its own sheet: live formulas with the engine's numbers cached.
        `check`: workbook.check, which refuses a cell XlsxWriter cannot place."""
        sheet = book.add_worksheet(NETWORK_SHEET)
        sheet.set_column(0, 0, 22)
        sheet.set_column(1, 2, 16)
        sheet.set_column(3, 11, 9)
        step = xl_rowcol_to_cell(STEP_ROW, 1, row_abs=True, col_abs=True)
        check(sheet.write_string(0, 0, f"The table of the chart \"{PICTURE_TITLE}\"",
                                 styles["title"]))
        check(sheet.write_string(1, 0, f"Live formulas: edit the yellow cell {PICTURE_STEP_NAME} "
                                 "(or any other) and the weights, their labels and their colours "
                                 "follow.", styles["hint"]))
        check(sheet.write_string(STEP_ROW, 0, "step shown", styles["bold"]))
        check(sheet.write_formula(STEP_ROW, 1, step_formula(self.spec.steps), styles["0"],
                                  self.step))
        check(sheet.write_string(STEP_ROW, 2, f"{PICTURE_STEP_NAME}'s whole part, within 1 to "
                                 f"{self.spec.steps}", styles["hint"]))
        check(sheet.write_string(CAPTION_ROW, 0, "caption", styles["bold"]))
        check(sheet.write_formula(CAPTION_ROW, 1, f'="step "&{step}',
                                  styles["text"], self.caption()))
        check(sheet.write_number(CAPTION_ROW, X, sum(self.x_range) / 2))
        check(sheet.write_number(CAPTION_ROW, X + 1, self.caption_y))
        headers = ["weight", "value", "label", "x: from", "label", "to", "y if ≥ 0: from",
                   "label", "to", "y if < 0: from", "label", "to"]
        for column, header in enumerate(headers):
            check(sheet.write_string(TABLE_ROW, column, header, styles["header:parameters"]))
        for row, edge in enumerate(self.edges, start=TABLE_ROW + 1):
            self._write_label(sheet, styles, check, row, edge.label, step)
            value = xl_rowcol_to_cell(row, VALUE, col_abs=True)
            drawn_by = self._series_of(edge.label)
            for offset, (x, y) in enumerate(zip(edge.xs(), edge.ys())):
                check(sheet.write_number(row, X + offset, x))
                for column, test in ((Y_POSITIVE, ">=0"), (Y_NEGATIVE, "<0")):
                    cached = y if drawn_by == column else (
                        OVERFLOW if drawn_by is None else "#N/A")
                    check(sheet.write_formula(row, column + offset,
                                              f"=IF({value}{test},{y!r},NA())", None, cached))
        if self.biases:
            for column, header in enumerate(["bias", "value", "label", "x", "y"]):
                check(sheet.write_string(self.bias_row, column, header,
                                         styles["header:parameters"]))
            for row, label in enumerate(self.biases, start=self.bias_row + 1):
                self._write_label(sheet, styles, check, row, label, step)
                check(sheet.write_number(row, X, label.x))
                check(sheet.write_number(row, X + 1, label.y))
        for column, header in enumerate(["node", "", "", "x", "y"]):
            check(sheet.write_string(self.node_row, column, header, styles["header:parameters"]))
        for row, node in enumerate(self.every_node(), start=self.node_row + 1):
            check(sheet.write_string(row, 0, node.name))
            check(sheet.write_number(row, X, node.x))
            check(sheet.write_number(row, X + 1, node.y))

    def _write_label(self, sheet, styles, check, row: int, label: Label, step: str) -> None:
        check(sheet.write_string(row, 0, label.parameter, styles["bold"]))
        check(sheet.write_formula(row, VALUE, self.value_formula(label, step),
                                  styles[QUANTITY_FORMAT], self.value(label)))
        check(sheet.write_formula(
            row, LABEL, f'="{label.shown} = "&TEXT({xl_rowcol_to_cell(row, VALUE)},"0.000")',
            styles["text"], self.text(label)))

    def _series_of(self, label: Label) -> int | None:
        """Which y columns draw the edge at the step shown: Y_POSITIVE for a weight of 0 or
        more, Y_NEGATIVE for a negative one, None where it overflows (neither)."""
        value = self.value(label)
        if value == OVERFLOW:
            return None
        return Y_POSITIVE if value >= 0 else Y_NEGATIVE

    def every_node(self) -> list[Node]:
        return [node for layer in self.nodes for node in layer]

    # --- the chart ----------------------------------------------------------------------------

    def chart(self, book):
        """The picture: edges, biases' labels, nodes and the caption, on hidden axes."""
        chart = book.add_chart({"type": "scatter", "subtype": "straight"})
        for row, edge in enumerate(self.edges, start=TABLE_ROW + 1):
            drawn_by = self._series_of(edge.label)
            for column, colour in ((Y_POSITIVE, POSITIVE), (Y_NEGATIVE, NEGATIVE)):
                chart.add_series({
                    **self._labelled(row, edge.label, colour, points=3, shown=1),
                    "categories": [NETWORK_SHEET, row, X, row, X + 2],
                    "categories_data": edge.xs(),
                    "values": [NETWORK_SHEET, row, column, row, column + 2],
                    "values_data": edge.ys() if drawn_by == column else [None] * 3,
                    "line": {"color": colour, "width": 1.5}, "marker": {"type": "none"}})
        for row, label in enumerate(self.biases, start=self.bias_row + 1):
            chart.add_series({
                **self._labelled(row, label, GREY, points=1, shown=0),
                "categories": [NETWORK_SHEET, row, X, row, X], "categories_data": [label.x],
                "values": [NETWORK_SHEET, row, X + 1, row, X + 1], "values_data": [label.y],
                "line": {"none": True}, "marker": {"type": "none"}})
        every = self.every_node()
        for kind, colour in NODE_COLOURS.items():
            rows = [row for row, node in enumerate(every, start=self.node_row + 1)
                    if node.kind == kind]  # adjacent: the table lists the nodes layer by layer
            shown = [node for node in every if node.kind == kind]
            if not shown:
                continue
            chart.add_series({
                "name": f"{kind} nodes",
                "categories": [NETWORK_SHEET, rows[0], X, rows[-1], X],
                "categories_data": [node.x for node in shown],
                "values": [NETWORK_SHEET, rows[0], X + 1, rows[-1], X + 1],
                "values_data": [node.y for node in shown],
                "line": {"none": True},
                "marker": {"type": "circle", "size": NODE_SIZE, "fill": {"color": colour},
                           "border": {"color": GREY, "width": 1}},
                "data_labels": {"value": True, "position": "center", "font": {"size": 10},
                                "custom": [{"value": node.name} for node in shown]}})
        chart.add_series({  # the caption: the step shown, live as the labels are
            "name": [NETWORK_SHEET, CAPTION_ROW, 1], "name_data": [self.caption()],
            "categories": [NETWORK_SHEET, CAPTION_ROW, X, CAPTION_ROW, X],
            "categories_data": [sum(self.x_range) / 2],
            "values": [NETWORK_SHEET, CAPTION_ROW, X + 1, CAPTION_ROW, X + 1],
            "values_data": [self.caption_y],
            "line": {"none": True}, "marker": {"type": "none"},
            "data_labels": self._label_options(CAPTION_ROW, 1, self.caption(), GREY, 1, 0,
                                               {"size": 10, "bold": True})})
        chart.set_title({"name": PICTURE_TITLE, "name_font": {"size": 12}})
        for axis, (low, high) in ((chart.set_x_axis, self.x_range),
                                  (chart.set_y_axis, self.y_range)):
            axis({"min": low, "max": high, "visible": False,
                  "major_gridlines": {"visible": False}, "line": {"none": True}})
        chart.set_legend({"none": True})
        chart.set_size({"width": self.width, "height": self.height})
        return chart

    def _labelled(self, row: int, label: Label, colour: str, points: int, shown: int) -> dict:
        """A parameter's series, named by its label cell, that cell its label on point `shown`."""
        return {"name": [NETWORK_SHEET, row, LABEL], "name_data": [self.text(label)],
                "data_labels": self._label_options(row, LABEL, self.text(label), colour, points,
                                                   shown, LABEL_FONT)}

    @staticmethod
    def _label_options(row: int, column: int, text: str, colour: str, points: int, shown: int,
                       font: dict) -> dict:
        """Data labels on point `shown` of `points` alone: the cell's text, as the series' name
        (LibreOffice draws it) and as a custom label whose value is the cell (Excel draws it)."""
        look = {"font": {**font, "color": colour}, "fill": {"color": "white"}}
        custom = [{"value": _reference(row, column), "data": [text], **look} if point == shown
                  else {"delete": True} for point in range(points)]
        return {"series_name": True, "position": "center", "custom": custom, **look}


def _reference(row: int, column: int) -> str:
    return f"={quote_sheetname(NETWORK_SHEET)}!{xl_rowcol_to_cell(row, column, True, True)}"


def _span(limits: tuple[float, float]) -> float:
    return limits[1] - limits[0]


def _at(start: float, end: float, t: float) -> float:
    """The point a fraction t of the way from start to end, to 4 decimals: a short constant in
    the formulas that test an edge's sign, and the same number cached."""
    return round(start + t * (end - start), 4)
