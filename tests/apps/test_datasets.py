"""Which datasets a project's App offers: the persistent ones of its database."""

from __future__ import annotations

import uuid

import pymongo

from fiftyone_sync.apps.datasets import dataset_names


def test_only_persistent_datasets_are_offered_not_fiftyones_scratch_ones(mongo_uri: str
                                                                          ) -> None:
    database = f"names_{uuid.uuid4().hex[:8]}"
    client: pymongo.MongoClient = pymongo.MongoClient(mongo_uri)
    try:
        client[database]["datasets"].insert_many([
            {"name": "tator-p1-v2", "persistent": True},
            {"name": "tator-p1-v1", "persistent": True},
            {"name": "2026.12.04.08.04.48.448064", "persistent": False},
        ])

        assert dataset_names(client, database) == ["tator-p1-v1", "tator-p1-v2"]
    finally:
        client.drop_database(database)
        client.close()
