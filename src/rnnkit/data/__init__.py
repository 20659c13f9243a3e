"""Data: character text (vocabulary, BPTT batches) and the corpora it is read from."""
