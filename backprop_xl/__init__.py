"""backprop_xl: watch gradient descent one step at a time, in formula-backed Excel workbooks."""

__version__ = "0.1.0"
