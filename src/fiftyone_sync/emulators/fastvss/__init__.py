"""An emulator of Fast-VSS, the embedding service, for tests and the demo.

``EmulatorServer(EmulatorState(...), port).start()`` serves it; ``image_vector(bytes)`` is the
vector it answers for an image, so callers can compute expected vectors locally.
"""

from fiftyone_sync.emulators.fastvss.app import create_emulator_app
from fiftyone_sync.emulators.fastvss.features import DIMENSION, image_vector
from fiftyone_sync.emulators.fastvss.server import EmulatorServer
from fiftyone_sync.emulators.fastvss.state import EmulatorState, Knobs

__all__ = [
    "DIMENSION",
    "EmulatorServer",
    "EmulatorState",
    "Knobs",
    "create_emulator_app",
    "image_vector",
]
