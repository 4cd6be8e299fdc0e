"""`coreml-updatable predict MODEL --input X.npy -o Y.npy`: the model's first output for every row."""
from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an .mlmodel")
    parser.add_argument("--input", required=True,
                        help=".npy batch in the model's input layout, batch first: (N, C, H, W) or (N, C)")
    parser.add_argument("-o", "--output", required=True, help=".npy file for the first output")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")


def run(args) -> int:
    import io

    import numpy as np

    from ground.errors import BadInputError
    from ground.spec_io import check_output, write_atomic

    out = check_output(args.output, [args.model, args.input], force=args.force)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BadInputError(f"cannot read the input as .npy ({exc})", where=args.input,
                            fix="save the batch with numpy.save") from None
    import emulator
    from emulator.model import first_tensor_output

    from ._common import image_input

    model = emulator.load(args.model)
    name = first_tensor_output(model)
    y = model.predict({image_input(model).name: x})[name]
    buffer = io.BytesIO()
    np.save(buffer, y)
    write_atomic(out, buffer.getvalue())
    print(f"wrote {out}: output '{name}', shape {tuple(y.shape)}")
    return 0
