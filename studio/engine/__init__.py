# pyright: standard
"""The engine: text-to-image latent diffusion on diffusers, with no Qt.

Importing this package is cheap: torch and diffusers load only when a model is loaded or
a job runs, so a window that imports the request types can appear before they do. The
errors it raises live in `studio.errors`.
"""

from studio.engine.request import GenerateRequest

__all__ = ["GenerateRequest"]
