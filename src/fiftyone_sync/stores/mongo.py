"""What the API reports about its MongoDB at startup: server version and compatibility level.

Different FiftyOne versions touching one database is a known source of trouble (field case
F23), so ``serve`` logs both where an operator will see them. Plain ``pymongo`` only: FiftyOne
must not bind a database in the API process.
"""

from __future__ import annotations

import pymongo
import pymongo.errors


def server_summary(uri: str, timeout: float = 5.0) -> str:
    """``"MongoDB 6.0.5, feature compatibility 6.0"`` for the server at ``uri``.

    Args:
        uri: a MongoDB URI (not logged here; callers redact it).
        timeout: seconds to wait for the server.

    Raises:
        pymongo.errors.PyMongoError: the server did not answer or refused the commands.
    """
    client: pymongo.MongoClient = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=int(timeout * 1000))
    try:
        version = client.server_info()["version"]
        try:
            answer = client.admin.command(
                {"getParameter": 1, "featureCompatibilityVersion": 1})
            compatibility = answer["featureCompatibilityVersion"]["version"]
        except pymongo.errors.OperationFailure:
            compatibility = "unknown (not allowed to read it)"
    finally:
        client.close()
    return f"MongoDB {version}, feature compatibility {compatibility}"
