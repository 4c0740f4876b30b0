"""The engine: text-to-image latent diffusion on diffusers, with no Qt.

Importing this package is cheap: torch and diffusers load only when a model is loaded or
a job runs, so a window that imports the request types can appear before they do.
"""

from studio.engine.errors import ModelError, RequestError, StudioError, WriteError
from studio.engine.request import GenerateRequest

__all__ = ["GenerateRequest", "ModelError", "RequestError", "StudioError", "WriteError"]
