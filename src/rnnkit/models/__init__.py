"""The models built from the layers, and what runs them forward.

``model`` (``Model``: token or vector input → recurrent layer → readout, with its backward),
``ffnn`` (the feed-forward baseline with the same interface), ``seq2seq`` (encoder–decoder),
``conditioned`` (a generator whose initial state comes from a condition), ``sampling``
(drawing text from a model) and ``streaming`` (one token at a time, the state carried).
"""
