"""ALFWorld: generated games, the real TextWorld engine, a fast native engine, an expert."""
