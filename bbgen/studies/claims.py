"""A paper's statement checked against a simulation: the :class:`Claim` record shared by the studies of
Zhang et al. (:mod:`.zhang_claims`) and Peng & Yu (:mod:`.peng_regression`), and its text form."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

__all__ = ["Claim", "format_claims"]


@dataclass(frozen=True)
class Claim:
    """One statement of a paper, whether a run agrees with it, and the numbers that decide it.

    Attributes
    ----------
    figure : str
        Where the paper makes the statement (``"Fig. 7a"``).
    statement : str
        The statement, paraphrased.
    agrees : bool
        Whether the run's numbers support it.
    evidence : str
        The numbers (and the statistic) behind the verdict.
    """

    figure: str
    statement: str
    agrees: bool
    evidence: str

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def format_claims(claims: Iterable[Claim], indent: str = "  ") -> str:
    """One ``[AGREES]``/``[DISAGREES]`` line per claim with its evidence on the next line.

    Parameters
    ----------
    claims : iterable of Claim
        The checked statements.
    indent : str
        Prefix of every line.
    """
    return "\n".join(f"{indent}[{'AGREES' if c.agrees else 'DISAGREES'}] {c.figure}: {c.statement}\n"
                     f"{indent}    ours: {c.evidence}" for c in claims)
