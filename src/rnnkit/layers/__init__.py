"""Layers: the recurrent layer (stacked, bidirectional), embedding and dense readout."""
