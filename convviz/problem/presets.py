"""Named problems: the tutorial's worked example and layer, and the cases that show where zeros come from.

Each preset is a problem body for the REST API (shapes + value kind + seed), so the page, the
CLI and scripts can all load it by name.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "worked": {
        "title": "The tutorial's worked example",
        "description": "3x3 input, 2x2 kernel, stride 1, no padding, small integers: every number can be checked by hand.",
        "problem": {"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 2, 2], "values": "integers", "seed": 37},
    },
    "tutorial_layer": {
        "title": "The tutorial's layer",
        "description": "x 10x32x14x14 convolved with 16 kernels 3x3, padding 1: 31,360 outputs of 288 terms each.",
        "problem": {"x_shape": [10, 32, 14, 14], "w_shape": [16, 32, 3, 3], "padding": 1, "values": "normal", "seed": 0},
    },
    "stride2_leftover": {
        "title": "Stride 2 with a leftover row",
        "description": "6x6 input, 3x3 kernel, stride 2: the last row and column are never read and get zero gradient; "
        "grad_out is dilated with zeros before the backward correlation.",
        "problem": {"x_shape": [1, 1, 6, 6], "w_shape": [1, 1, 3, 3], "stride": 2, "values": "integers", "seed": 2},
    },
    "dilation2": {
        "title": "Dilation 2",
        "description": "7x7 input, 3x3 kernel with dilation 2: each window spans 5x5 cells of the input.",
        "problem": {"x_shape": [1, 1, 7, 7], "w_shape": [1, 1, 3, 3], "dilation": 2, "values": "integers", "seed": 3},
    },
    "rectangular": {
        "title": "Rectangular kernel",
        "description": "5x7 input, 2x3 kernel, padding 0 rows and 1 column.",
        "problem": {"x_shape": [1, 1, 5, 7], "w_shape": [1, 1, 2, 3], "padding": [0, 1], "values": "integers", "seed": 4},
    },
    "channels": {
        "title": "Batch and channels",
        "description": "2 samples of 2 channels, 3 kernels, padding 1: each output sums one partial sum per input channel.",
        "problem": {"x_shape": [2, 2, 4, 4], "w_shape": [3, 2, 2, 2], "padding": 1, "values": "integers", "seed": 5},
    },
}

DEFAULT_PRESET = "worked"
