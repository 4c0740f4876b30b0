"""Options that several commands share: the prediction a model is run with and the VAE it decodes
with (each saved per model in the models library); and whether progress bars are drawn."""

from __future__ import annotations

import os
import sys


def bars_hidden() -> bool:
    """Progress bars are drawn only when stderr is a terminal (so pipes and logs stay clean), and
    not with $STUDIO_NO_PROGRESS set."""
    return not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) or bool(os.environ.get("STUDIO_NO_PROGRESS"))


def add_prediction_option(parser) -> None:
    parser.add_argument(
        "--prediction",
        choices=("v", "epsilon", "auto"),
        help="what the model predicts, when its file does not say rightly (SD 2.x); saved for this model "
        "in the models library (auto: what the file says)",
    )


def save_prediction(args, model: str) -> None:
    """Save --prediction for `model` in the library, so the window and later commands use it too."""
    choice = getattr(args, "prediction", None)
    if not choice:
        return
    from studio.library.catalog import Library
    from studio.paths import data_dir

    Library(data_dir(args.data_dir)).set_prediction(model, choice)


def add_vae_option(parser) -> None:
    parser.add_argument(
        "--vae",
        metavar="NAME|auto",
        help="decode with this VAE from the models library (studio models list --kind vae); saved for this "
        "model (auto: the model's own)",
    )


def save_vae(args, model: str) -> None:
    """Save --vae for `model` in the library, so the window and later commands use it too."""
    choice = getattr(args, "vae", None)
    if choice is None:
        return
    from studio.library.catalog import Library
    from studio.paths import data_dir

    Library(data_dir(args.data_dir)).set_vae(model, choice)
