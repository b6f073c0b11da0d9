"""The dataset names of a project database, read with plain ``pymongo``.

The API process never imports or connects FiftyOne (FiftyOne binds one database per process
at its first connection, DESIGN.md section 2), so it reads FiftyOne's ``datasets``
collection directly to list what a project's App can show.
"""

from __future__ import annotations

import pymongo

DATASETS_COLLECTION = "datasets"


def dataset_names(client: pymongo.MongoClient, database: str) -> list[str]:
    """The names of the persistent FiftyOne datasets in ``database``, sorted.

    Non-persistent ones are FiftyOne's own scratch datasets (e.g. those behind a patches view
    the App generated), not something to offer a reviewer.

    Args:
        client: a client of the deployment's MongoDB.
        database: the project's database name.
    """
    cursor = client[database][DATASETS_COLLECTION].find({"persistent": True},
                                                        {"name": 1, "_id": 0})
    return sorted(document["name"] for document in cursor if "name" in document)
