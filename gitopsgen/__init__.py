"""gitopsgen: generate and validate Flux v2.9 GitOps repositories that run self-hosted Prefect on Kubernetes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gitopsgen")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
