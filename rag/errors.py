"""One exception hierarchy for the whole package, so callers can catch ours."""


class RagError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(RagError, ValueError):
    """A configuration value is invalid (names the key, the value and what is allowed)."""


class InputError(RagError, ValueError):
    """A caller passed something we cannot work with (empty question, missing folder, ...)."""


class IndexMismatchError(RagError):
    """An index was built with a different embedding model than the one asked for."""


class IndexNotFoundError(RagError):
    """An index path or collection that should exist does not."""


class NothingToIngestError(RagError):
    """A folder held no file that could be ingested."""


class IngestLockedError(RagError):
    """Another ingest is writing to the same index."""


class LoadError(RagError):
    """A single document could not be read; ingest records it and carries on."""


class ModelLoadError(RagError):
    """A model or adapter could not be loaded."""


def invalid_setting(key: str, value: object, allowed: str) -> ConfigError:
    """The error of one configuration value: its key, the value and what is allowed."""
    return ConfigError(f"{key} = {value!r} is invalid: expected {allowed}")
