"""Recordings of the same cells over several sessions: synthetic ones with a known answer
(:mod:`driftlab.recordings.synthetic`), measured by :mod:`driftlab.metrics.sessions`."""
