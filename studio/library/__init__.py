"""The models library: the checkpoints, LoRAs, embeddings and VAEs a person has, where they live, their hashes."""
