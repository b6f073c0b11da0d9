"""Fast-VSS client, the embedding proxy and dataset embeddings."""
