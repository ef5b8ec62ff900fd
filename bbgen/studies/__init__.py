"""Studies built on the library: the experiments of the thesis and the seed papers, as functions that
return plain data (dataclasses with ``to_dict()``).  Plots live in :mod:`bbgen.plot`; the scripts in
``analysis/`` only parse arguments, call these and write files.

* :mod:`.roi_sources` — IoU histograms of pRoIs (thesis Fig. 4.5) and their TL corners (Fig. 4.6).
"""
