"""Studies built on the library: the experiments of the thesis and the seed papers, as functions that
return plain data (dataclasses with ``to_dict()``).  Plots live in :mod:`bbgen.plot`; the scripts in
``analysis/`` only parse arguments, call these and write files.

* :mod:`.roi_sources` — IoU histograms of pRoIs (thesis Fig. 4.5) and their TL corners (Fig. 4.6).
* :mod:`.zhang_setups` / :mod:`.zhang_regression` / :mod:`.zhang_claims` — Zhang et al.'s Alg. 1 simulations
  (Fig. 6–8) under the printed and the scale-consistent readings and two box parameterisations, and the
  paper's claims checked.
* :mod:`.peng_regression` — Peng & Yu's Fig. 4c/5 (Smooth-EIoU, SOT) and convergence iterations per learning rate.
* :mod:`.claims` — the :class:`~.claims.Claim` record both simulations report.
"""
