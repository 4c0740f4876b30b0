"""The errors Studio raises for things a person can fix (engine, recipes, files, gallery); each message is one readable line."""


class StudioError(Exception):
    """Base of every error whose message is meant to be shown to a person as it is."""


class RequestError(StudioError, ValueError):
    """A request asks for something the engine cannot do (a wrong size, an unknown sampler)."""


class ModelError(StudioError):
    """A model cannot be found or loaded; the message names the path or id and what is wrong."""


class WriteError(StudioError, OSError):
    """An image could not be written (full disk, no permission); nothing half-written is left."""
