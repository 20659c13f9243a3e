"""Input and output: the checkpoint directory format, saving and loading models, and exchange
with other frameworks."""
