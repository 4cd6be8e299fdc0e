"""`coreml-updatable predict MODEL --input X.npy -o Y.npy`: the model's first output for every row."""
from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an .mlmodel")
    parser.add_argument("--input", required=True,
                        help=".npy batch in the model's input layout, batch first: (N, C, H, W) or (N, C)")
    parser.add_argument("-o", "--output", required=True, help=".npy file for the first output")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    from ._common import add_nonfinite

    add_nonfinite(parser)


def run(args) -> int:
    import io

    import numpy as np

    import data_loading as data
    from emulator.model import first_tensor_output
    from ground.spec_io import check_output, write_atomic

    from ._common import check_data, image_input, load_model

    out = check_output(args.output, [args.model, args.input], force=args.force)
    model = load_model(args.model)
    feature = image_input(model)
    x = data.load_array(args.input, "the input batch")
    check_data(x, "the input batch", args, feature, model)
    name = first_tensor_output(model)
    y = model.predict({feature.name: x})[name]
    buffer = io.BytesIO()
    np.save(buffer, y)
    write_atomic(out, buffer.getvalue())
    print(f"wrote {out}: output '{name}', shape {tuple(y.shape)}")
    return 0
