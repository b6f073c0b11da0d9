"""An emulator of the part of Tator's REST API the product uses.

Built from /work/shared/reference/tator-api.md and tator-real-responses.md (no Tator code).
Start with :class:`.server.EmulatorServer` (tests) or ``fiftyone-sync emulate tator``; build
projects with :mod:`.fixtures` (our fixture format), :mod:`.demo` (standard test project,
plankton demo, ``DIR/<label>/<image>`` folders) and :mod:`.generator` (large projects).

Known gaps (not needed by the product today): media upload/creation and transcoding through
the API; versions, types and memberships are created only from Python or fixtures; States
are only listed and counted; no saved searches, playlists or advanced search
(``encoded_search``, ``related_*``, ``sort_by``, ``object_search``, ``float_array``);
GetFrame has no GIF/MP4 animation and ignores ``quality``; the anonymous and user request
rates are not enforced (use a ``throttle`` fault); fine-grain permissions are not modelled;
the Section JSON shape is not in the recorded reference.
"""
