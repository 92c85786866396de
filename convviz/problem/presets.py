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
    # issue 9: every configuration of Conv2d and ConvTranspose2d
    "depthwise": {
        "title": "Depthwise 3x3",
        "description": "3 channels, groups = 3: each kernel (w is 3x1x3x3) sees its own channel only, as in MobileNet.",
        "problem": {"x_shape": [1, 3, 5, 5], "w_shape": [3, 1, 3, 3], "groups": 3, "padding": 1, "values": "integers",
                    "seed": 6},
    },
    "same_even": {
        "title": "'same' with a 2x2 kernel",
        "description": "padding 'same' keeps out 5x5; an even kernel needs one row and one column of padding, which "
        "go at the bottom and right (as PyTorch puts them).",
        "problem": {"x_shape": [1, 1, 5, 5], "w_shape": [1, 1, 2, 2], "padding": "same", "values": "integers", "seed": 7},
    },
    "reflect": {
        "title": "Reflect padding",
        "description": "A border that mirrors x (without repeating the edge): grad_x comes in two stages, the gradient "
        "of every x_pad cell, then the fold that adds each mirrored copy back onto its cell.",
        "problem": {"x_shape": [1, 1, 4, 4], "w_shape": [1, 1, 3, 3], "padding": 1, "padding_mode": "reflect",
                    "values": "integers", "seed": 8},
    },
    "circular": {
        "title": "Circular padding",
        "description": "A border that wraps around: the top row is copied below the bottom one and so on, so the "
        "fold adds the gradient of the bottom border onto x's top row.",
        "problem": {"x_shape": [1, 1, 4, 4], "w_shape": [1, 1, 3, 3], "padding": 1, "padding_mode": "circular",
                    "values": "integers", "seed": 9},
    },
    "transposed_upsample": {
        "title": "Transposed: 2x upsampling",
        "description": "ConvTranspose2d with stride 2, a 3x3 kernel, padding 1 and output_padding 1: a 4x4 input "
        "becomes 8x8. It is the grad_x of the convolution that takes 8x8 down to 4x4.",
        "problem": {"x_shape": [1, 1, 4, 4], "w_shape": [1, 1, 3, 3], "transposed": True, "stride": 2, "padding": 1,
                    "output_padding": 1, "values": "integers", "seed": 10},
    },
    "transposed_odd": {
        "title": "Transposed: where the padding goes",
        "description": "3x3 back to 6x6 (stride 2, padding 1, output_padding 1), the transpose of a 6x6 -> 3x3 "
        "convolution whose stride leaves the last row and column of its padded input unread. x_pad gets 1 row of zeros on top and 2 at the bottom "
        "(likewise left and right): the extra one is output_padding's, and it goes at the bottom and right, the side "
        "an often-copied animation of this case had wrong.",
        "problem": {"x_shape": [1, 1, 3, 3], "w_shape": [1, 1, 3, 3], "transposed": True, "stride": 2, "padding": 1,
                    "output_padding": 1, "values": "integers", "seed": 11},
    },
}

DEFAULT_PRESET = "worked"
