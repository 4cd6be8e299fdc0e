"""`coreml-updatable predict MODEL --input X -o Y.npy`: the model's first output for every example.

``--input`` takes a ``.npy`` batch in the model's input layout, an image file (PNG, JPEG, ...), or a
folder of image files (read in name order). Image files go in as Core ML feeds a photo: 0-255 pixels
through an image input's own preprocessing (an array input gets them scaled to [0, 1]).
"""
from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an .mlmodel")
    parser.add_argument("--input", required=True,
                        help=".npy batch in the model's input layout, batch first ((N, C, H, W) or (N, C)); "
                             "or a PNG/JPEG image; or a folder of images (sorted by name)")
    parser.add_argument("-o", "--output", required=True, help=".npy file for the first output")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")
    from ._common import add_nonfinite

    add_nonfinite(parser)


def run(args) -> int:
    import io
    from pathlib import Path

    import numpy as np

    import data_loading as data
    from emulator.model import first_tensor_output
    from ground.errors import BadInputError
    from ground.spec_io import check_output, write_atomic

    from ._common import check_data, image_input, load_model

    out = check_output(args.output, [args.model, args.input], force=args.force)
    model = load_model(args.model)
    feature = image_input(model)
    source = Path(args.input)
    files: list[Path] = []
    if source.is_dir() or source.suffix.lower() in data.IMAGE_SUFFIXES:
        if not source.exists():
            raise BadInputError("no such image file", where=str(source), fix="check the path")
        files = data.image_files(source) if source.is_dir() else [source]
        if not files:
            raise BadInputError("the folder holds no image files", where=str(source),
                                fix=f"pass a folder of {', '.join(data.IMAGE_SUFFIXES)} files")
        x = data.for_coreml(data.read_images(files), feature.shape, image=feature.kind == "image")
    else:
        x = data.load_array(args.input, "the input batch")
    check_data(x, "the input batch", args, feature, model)
    name = first_tensor_output(model)
    y = model.predict({feature.name: x})[name]
    buffer = io.BytesIO()
    np.save(buffer, y)
    write_atomic(out, buffer.getvalue())
    if files and model.class_labels is not None:
        probs = y.reshape(len(y), -1)
        for path, row in zip(files, probs):
            print(f"{path.name}: {model.class_labels[int(row.argmax())]} ({float(row.max()):.3f})")
    print(f"wrote {out}: output '{name}', shape {tuple(y.shape)}")
    return 0
